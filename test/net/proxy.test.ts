// The shared VPS of examples/shared-vps on a real (namespaced) network, with the files the offline
// plan ships it: its nftables ruleset loaded, and the REAL HAProxy (then NGINX) running its rendered
// edge config unmodified. Around it: an internet client, the owner's own services on the VPS (mail on
// 25 and 587, DNS on 53/udp, its web server moved to the edgeFallback loopback ports, a k3s API and
// kubelet that must stay mesh only), and the ingress node at home, where a stand-in for the Istio
// gateway listens on the gateway NodePorts. The mesh link between VPS and home is a veth named like
// the mesh interface (a stand-in for WireGuard, which test/net/mesh.test.ts runs for real): the
// ruleset trusts that interface exactly as it trusts wg0.
//
// The stand-in gateway and fallback write one JSON line per connection: the PROXY protocol v2 header
// they parsed (binary signature \r\n\r\n\0\r\nQUIT\n, then version/command, family, length, addresses
// and ports), if any, and the first bytes after it (the TLS ClientHello with its SNI, or the HTTP
// request head with its Host).
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { firewallRulesetPath, haproxyConfigPath, nginxConfigPath } from "../../components/paths";
import { readStackConfig, runPlan } from "../../plan/plan";
import { Daemon, Namespace, NetLab, requireRoot, requireTools } from "./netns";
import { webClientScript } from "./clients";

const exampleDir = join(__dirname, "../../examples/shared-vps");
const vpsPublic = "192.0.2.10";
const clientAddress = "192.0.2.66";

interface SharedVps {
    ruleset: string;
    edgeConfig: string;
    meshInterface: string;
    vpsMesh: string;
    ingressName: string;
    ingressMesh: string;
    meshPrefix: number;
    httpNodePort: number;
    httpsNodePort: number;
    appHosts: string[];
    fallback: { http: string; https: string };
    publicTcpPorts: number[];
    publicUdpPorts: number[];
}

async function planSharedVps(edgeProxy: "haproxy" | "nginx"): Promise<SharedVps> {
    const { config, secretKeys } = readStackConfig("shared-vps", exampleDir);
    const plan = await runPlan("shared-vps", { ...config, "hybrid-k3s:edgeProxy": edgeProxy }, secretKeys, "examples");
    const vps = plan.spec.nodes.find((n) => n.roles.includes("hub") && n.roles.includes("edge"))!;
    const ingress = plan.spec.nodes.filter((n) => n.roles.includes("ingress"));
    assert.equal(ingress.length, 1, "the example has one ingress node");
    assert.ok(vps.edgeFallback, "the example's VPS has an edgeFallback");
    const files = plan.nodeFiles[vps.name];
    return {
        ruleset: files[firewallRulesetPath].content,
        edgeConfig: files[edgeProxy === "haproxy" ? haproxyConfigPath : nginxConfigPath].content,
        meshInterface: plan.spec.mesh.interfaceName,
        vpsMesh: vps.meshAddress,
        ingressName: ingress[0].name,
        ingressMesh: ingress[0].meshAddress,
        meshPrefix: plan.spec.mesh.prefix,
        httpNodePort: plan.spec.ingress.httpNodePort,
        httpsNodePort: plan.spec.ingress.httpsNodePort,
        appHosts: plan.spec.ingress.apps.map((a) => a.host),
        fallback: vps.edgeFallback!,
        publicTcpPorts: vps.publicTcpPorts,
        publicUdpPorts: vps.publicUdpPorts,
    };
}

/** One JSON line per connection: { label, port, proxy: { version, source, sourcePort, destination, destinationPort } | null, head }. */
const recorderScript = `
const net = require("net");
const [label, ...ports] = process.argv.slice(1);
const signature = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
function parse(data) {
  if (data.length < 16 || !data.subarray(0, 12).equals(signature)) return { proxy: null, rest: data };
  const length = data.readUInt16BE(14);
  const family = data[13] >> 4;
  const body = data.subarray(16, 16 + length);
  const proxy = { version: data[12] >> 4, command: data[12] & 15, family };
  if (family === 1) {
    proxy.source = [...body.subarray(0, 4)].join(".");
    proxy.destination = [...body.subarray(4, 8)].join(".");
    proxy.sourcePort = body.readUInt16BE(8);
    proxy.destinationPort = body.readUInt16BE(10);
  }
  return { proxy, rest: data.subarray(16 + length) };
}
for (const port of ports) {
  net.createServer((socket) => {
    let data = Buffer.alloc(0);
    let done = false;
    const report = () => {
      if (done) return;
      done = true;
      const { proxy, rest } = parse(data);
      process.stdout.write(JSON.stringify({ label, port: Number(port), proxy, head: rest.toString("latin1") }) + "\\n");
      socket.end(label + "\\n");
    };
    // The first bytes (PROXY header, ClientHello or request head) arrive together; 150 ms collects them.
    socket.once("data", () => setTimeout(report, 150));
    socket.on("data", (chunk) => (data = Buffer.concat([data, chunk])));
    socket.on("end", report);
    socket.on("error", () => {});
  }).listen(Number(port), "0.0.0.0");
}
`;

interface Arrival {
    label: string;
    port: number;
    proxy: { version: number; command: number; family: number; source?: string; sourcePort?: number; destination?: string } | null;
    head: string;
}

for (const kind of ["haproxy", "nginx"] as const) {
    describe(`[root] shared VPS on real packets, stand-in Istio gateway: its own services stay up, ${kind} routes by name${kind === "haproxy" ? " and passes client addresses" : ""}`, function () {
        this.timeout(120000);
        let lab: NetLab | undefined;
        let stack: SharedVps;
        let internet: Namespace;
        let vps: Namespace;
        let home: Namespace;
        let gateway: Daemon;
        let fallback: Daemon;

        before(async () => {
            requireRoot("the shared VPS network test");
            requireTools(["ip", "nft", "ss", "socat", kind]);
            stack = await planSharedVps(kind);
            lab = new NetLab(`proxy-${kind}`);
            [internet, vps, home] = [await lab.addNamespace("internet"), await lab.addNamespace("vps"), await lab.addNamespace("home")];
            await lab.connect(
                { namespace: internet, ifname: "eth0", addresses: [`${clientAddress}/24`] },
                { namespace: vps, ifname: "eth0", addresses: [`${vpsPublic}/24`] },
            );
            // The mesh link (stand-in for WireGuard): an interface named like the mesh's, with the mesh addresses.
            await lab.connect(
                { namespace: vps, ifname: stack.meshInterface, addresses: [`${stack.vpsMesh}/${stack.meshPrefix}`] },
                { namespace: home, ifname: stack.meshInterface, addresses: [`${stack.ingressMesh}/${stack.meshPrefix}`] },
            );
            const root = lab.writeHostFiles("vps", { [firewallRulesetPath]: stack.ruleset, "/edge.cfg": stack.edgeConfig });
            await lab.loadNftRuleset(vps, join(root, firewallRulesetPath));

            // The owner's services, on every address of the VPS.
            for (const port of stack.publicTcpPorts) await lab.listenTcp(vps, port, `vps-service-${port}`);
            for (const port of stack.publicUdpPorts) await lab.listenUdp(vps, port, `vps-dns-${port}`);
            for (const port of [6443, 10250]) await lab.listenTcp(vps, port, `k3s-${port}`);

            const fallbackPorts = [stack.fallback.http, stack.fallback.https].map((a) => a.replace(/^.*:/, ""));
            fallback = lab.startDaemon(vps, [process.execPath, "-e", recorderScript, "fallback", ...fallbackPorts], "fallback web server");
            gateway = lab.startDaemon(
                home,
                [process.execPath, "-e", recorderScript, "gateway", String(stack.httpNodePort), String(stack.httpsNodePort)],
                "stand-in Istio gateway",
            );
            for (const port of fallbackPorts) await lab.waitForListener(vps, Number(port), { daemon: fallback });
            for (const port of [stack.httpNodePort, stack.httpsNodePort]) await lab.waitForListener(home, port, { daemon: gateway });

            const config = join(root, "edge.cfg");
            if (kind === "haproxy") {
                // Its chroot and runtime socket directory: test-owned directories mounted over them in the
                // daemon's private mount namespace. -n lowers maxconn to what a test's file limit holds.
                const text = readFileSync(config, "utf8");
                const dirs = [/^\s*chroot\s+(\S+)/m.exec(text)![1], dirname(/^\s*stats socket\s+(\S+)/m.exec(text)![1])];
                const mounts = [...new Set(dirs)].map((dir) => {
                    const scratch = join(lab!.workDir, `private${dir}`);
                    mkdirSync(scratch, { recursive: true });
                    return `mount --bind '${scratch}' '${dir}'`;
                });
                const proxy = lab.startDaemon(vps, ["sh", "-c", `${mounts.join(" && ")} && exec haproxy -f '${config}' -db -n 1000`], "haproxy");
                for (const port of [80, 443]) await lab.waitForListener(vps, port, { daemon: proxy });
            } else {
                const pid = /^pid\s+(\S+);/m.exec(readFileSync(config, "utf8"))![1];
                const scratch = join(lab.workDir, "private-run");
                mkdirSync(scratch, { recursive: true });
                assert.ok(existsSync(dirname(pid)));
                const proxy = lab.startDaemon(
                    vps,
                    ["sh", "-c", `mount --bind '${scratch}' '${dirname(pid)}' && exec nginx -e stderr -c '${config}' -g 'daemon off;'`],
                    "nginx",
                );
                for (const port of [80, 443]) await lab.waitForListener(vps, port, { daemon: proxy });
            }
        });
        after(() => lab?.teardown());

        const arrivals = (daemon: Daemon): Arrival[] =>
            daemon
                .output()
                .split("\n")
                .filter((line) => line.startsWith("{"))
                .map((line) => JSON.parse(line) as Arrival);

        /** Connects from the internet client; returns the client's port and where the connection arrived. */
        async function request(mode: "http" | "tls", name: string): Promise<{ clientPort: number; arrival: Arrival }> {
            const before = { gateway: arrivals(gateway).length, fallback: arrivals(fallback).length };
            const out = await lab!.execChecked(internet, [process.execPath, "-e", webClientScript, mode, vpsPublic, mode === "tls" ? "443" : "80", name], {
                timeoutMs: 10000,
            });
            const clientPort = Number(/^port (\d+)$/m.exec(out)?.[1]);
            const fresh = [...arrivals(gateway).slice(before.gateway), ...arrivals(fallback).slice(before.fallback)].filter((a) => a.head.includes(name));
            assert.equal(fresh.length, 1, `${mode} ${name}: expected one arrival carrying the name, got ${JSON.stringify(fresh)}`);
            return { clientPort, arrival: fresh[0] };
        }

        it("keeps the VPS's mail and DNS reachable from the internet and the k3s ports refused (open over the mesh)", async () => {
            for (const port of stack.publicTcpPorts)
                assert.deepEqual(await lab!.probeTcp(internet, vpsPublic, port), { state: "open", detail: `vps-service-${port}` });
            for (const port of stack.publicUdpPorts)
                assert.deepEqual(await lab!.probeUdp(internet, vpsPublic, port), { state: "open", detail: `vps-dns-${port}` });
            for (const port of [6443, 10250]) {
                assert.equal((await lab!.probeTcp(internet, vpsPublic, port)).state, "refused", `tcp ${port} from the internet`);
                assert.deepEqual(await lab!.probeTcp(home, stack.vpsMesh, port), { state: "open", detail: `k3s-${port}` }, `tcp ${port} over the mesh`);
            }
        });

        for (const mode of ["tls", "http"] as const) {
            it(`${mode === "tls" ? "443 by SNI" : "80 by Host"}: an app host reaches the gateway${kind === "haproxy" ? " in a PROXY v2 header with the client's address and port" : " (no PROXY header: NGINX sends none)"}`, async () => {
                for (const host of stack.appHosts) {
                    const { clientPort, arrival } = await request(mode, host);
                    assert.equal(arrival.label, "gateway");
                    assert.equal(arrival.port, mode === "tls" ? stack.httpsNodePort : stack.httpNodePort);
                    if (kind === "haproxy") {
                        assert.deepEqual(
                            { ...arrival.proxy },
                            {
                                version: 2,
                                command: 1,
                                family: 1,
                                source: clientAddress,
                                sourcePort: clientPort,
                                destination: vpsPublic,
                                destinationPort: mode === "tls" ? 443 : 80,
                            },
                        );
                    } else {
                        assert.equal(arrival.proxy, null);
                    }
                }
            });

            it(`${mode === "tls" ? "443" : "80"}: any other name reaches the fallback web server, without a PROXY header`, async () => {
                const { arrival } = await request(mode, "blog.owner.example.net");
                assert.equal(arrival.label, "fallback");
                assert.equal(`127.0.0.1:${arrival.port}`, mode === "tls" ? stack.fallback.https : stack.fallback.http);
                assert.equal(arrival.proxy, null);
                if (mode === "tls") assert.equal(arrival.head.charCodeAt(0), 0x16, "the ClientHello arrives untouched (a TLS handshake record)");
            });
        }

        if (kind === "haproxy") {
            it("health checks keep the gateway UP: a PROXY v2 LOCAL header, which every receiver accepts, and nothing else", async () => {
                // LOCAL (command 0, family UNSPEC): "established on purpose by the proxy without being relayed",
                // e.g. health checks; the receiver must accept it and use the real addresses
                // (www.haproxy.org/download/2.8/doc/proxy-protocol.txt, section 2.2). Envoy's proxy_protocol filter does.
                const checks = arrivals(gateway).filter((a) => a.head === "");
                assert.ok(checks.length >= 2, `no health check reached the stand-in gateway: ${gateway.output()}`);
                for (const check of checks) assert.deepEqual({ ...check.proxy }, { version: 2, command: 0, family: 0 });
            });
        }
    });
}
