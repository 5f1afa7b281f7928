// The rendered WireGuard configs and nftables rulesets on a real (namespaced) network: a hub, cloud
// hosts on the "internet", home hosts behind a NAT router, and a stranger on the internet. Every
// claim is checked with real packets; the probe matrix is printed so a failure shows its context.
import assert from "node:assert/strict";
import { join } from "path";
import { nftTableName } from "../../components/render/nftables";
import { cidrContains, formatIpv4, parseCidr, parseIpv4 } from "../../components/net";
import { wireguardPublicKey } from "../../components/render/wireguard";
import { readStackConfig, runPlan } from "../../plan/plan";
import { Namespace, NetLab, ProbeOutcome, requireRoot, requireTools, WireGuardLink } from "./netns";

export type NodeRole = "hub" | "server" | "agent" | "edge" | "ingress";

export interface NetNode {
    name: string;
    roles: NodeRole[];
    /** Address on the internet; absent when behindNat. */
    publicAddress?: string;
    behindNat: boolean;
    meshAddress: string;
    /** Absolute path on the host → content; holds /etc/wireguard/<mesh interface>.conf and /etc/nftables.conf. */
    files: Record<string, string>;
}

/** The prod stack as the offline plan renders it: the files every host would receive, real keys included. */
async function planNodes(): Promise<NetNode[]> {
    const { config, secretKeys } = readStackConfig("prod");
    const plan = await runPlan("prod", config, secretKeys);
    const addresses = plan.outputs.nodes as Array<{ name: string; publicAddress?: string }>;
    return plan.spec.nodes.map((node) => ({
        name: node.name,
        roles: node.roles,
        publicAddress: addresses.find((a) => a.name === node.name)?.publicAddress,
        behindNat: node.existing?.behindNat ?? false,
        meshAddress: node.meshAddress,
        files: Object.fromEntries(Object.entries(plan.nodeFiles[node.name]).map(([file, { content }]) => [file, content])),
    }));
}

/** Ports a k3s host listens on in this test (bound to 0.0.0.0, the worst case the firewall must cover). */
const sshPort = 22;
const webPorts = [80, 443];
const serverTcpPorts = [6443, 10250, 2379];
const agentTcpPorts = [10250];
const vxlanPort = 8472;

/** The fake internet (TEST-NET / benchmark ranges only) and the home LAN behind NAT. */
const internetSubnets = [
    { gateway: "203.0.113.1", cidr: "203.0.113.0/24" },
    { gateway: "198.18.0.1", cidr: "198.18.0.0/16" },
    { gateway: "192.0.2.1", cidr: "192.0.2.0/24" },
];
const prefixOf = (cidr: string) => cidr.split("/")[1];
const homeRouterPublic = "192.0.2.20";
const homeLan = { gateway: "198.19.1.1", prefix: 24, firstHost: 10 };
/** The stranger's forged sources: a pod address (the plan's cluster CIDR is 10.42.0.0/16) and an unused mesh address. */
const stranger = { address: "192.0.2.66", forgedClusterSource: "10.42.0.99" };
/** flannel wireguard-native's port (mesh only): where the forged datagrams are aimed and recorded. */
const flannelWireguardPort = 51820;
const reconnectLimitSeconds = 30;

interface MeshHost {
    node: NetNode;
    namespace: Namespace;
    root: string;
    wireguard?: WireGuardLink;
}

interface Probe {
    /** Which test asserts this row. */
    check: "k3s" | "ssh" | "web" | "mesh" | "hub-forward";
    from: string;
    to: string;
    address: string;
    protocol: "tcp" | "udp" | "icmp";
    port?: number;
    expected: "open" | "closed";
    /** Banner an open TCP/UDP port must answer with, proving which host answered. */
    banner?: string;
    sourceAddress?: string;
    note?: string;
    got?: ProbeOutcome;
}

const passed = (probe: Probe) => probe.got !== undefined &&
    (probe.expected === "open" ? probe.got.state === "open" && (probe.banner === undefined || probe.got.detail === probe.banner) : probe.got.state !== "open");

function formatMatrix(title: string, probes: Probe[]): string {
    const rows = probes.map((p) => [
        p.from + (p.sourceAddress ? ` (as ${p.sourceAddress})` : ""),
        `${p.to} ${p.address}`,
        p.protocol === "icmp" ? "ping" : `${p.port}/${p.protocol}`,
        p.expected,
        p.got ? `${p.got.state}${p.got.detail && p.got.detail !== p.got.state ? ` (${p.got.detail})` : ""}` : "-",
        passed(p) ? "ok" : "FAIL",
        p.note ?? "",
    ]);
    const header = ["from", "to", "port", "expected", "got", "", "note"];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (cells: string[]) => "  " + cells.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
    return [`\n  ${title}`, line(header), ...rows.map(line)].join("\n");
}

function failures(probes: Probe[]): string {
    return formatMatrix("failed probes", probes.filter((p) => !passed(p)));
}

const hasRole = (node: NetNode, role: NodeRole) => node.roles.includes(role);

/** The highest address of the hub's mesh that no node uses (operators sit low in prod). */
function unusedMeshAddress(nodes: NetNode[], hubConfig: string): string {
    const [address, prefix] = /^Address = ([\d.]+)\/(\d+)$/m.exec(hubConfig)!.slice(1);
    const mask = (0xffffffff << (32 - Number(prefix))) >>> 0;
    const broadcast = ((parseIpv4(address)! & mask) | ~mask) >>> 0;
    const used = new Set(nodes.map((n) => n.meshAddress));
    for (let candidate = broadcast - 1; ; candidate--) {
        if (!used.has(formatIpv4(candidate))) return formatIpv4(candidate);
    }
}

describe("the mesh on a real network (namespaces, wireguard-go, nftables)", function () {
    this.timeout(120000);
    let lab: NetLab | undefined;
    const hosts: MeshHost[] = [];
    let hub: MeshHost;
    let internet: Namespace;
    let strangerNs: Namespace;
    const matrix: Probe[] = [];

    const spokes = () => hosts.filter((h) => h !== hub);
    const withRole = (role: NodeRole) => hosts.filter((h) => hasRole(h.node, role));
    const meshInterfaceOf = (host: MeshHost) => Object.keys(host.node.files).find((p) => /^\/etc\/wireguard\/[^/]+\.conf$/.test(p))!.replace(/^.*\/|\.conf$/g, "");

    async function runProbes(probes: Probe[]): Promise<void> {
        await Promise.all(probes.map(async (probe) => {
            const from = probe.from === "stranger" ? strangerNs : hosts.find((h) => h.node.name === probe.from)!.namespace;
            if (probe.protocol === "icmp") {
                const answered = await lab!.ping(from, probe.address, 2);
                probe.got = { state: answered ? "open" : "timeout", detail: answered ? "reply" : "no reply" };
            } else if (probe.protocol === "tcp") {
                probe.got = await lab!.probeTcp(from, probe.address, probe.port!, { sourceAddress: probe.sourceAddress });
            } else {
                probe.got = await lab!.probeUdp(from, probe.address, probe.port!, { sourceAddress: probe.sourceAddress });
            }
        }));
    }

    /** Pings until the first reply; seconds from start, or undefined after limitSeconds. */
    async function secondsUntilPing(from: Namespace, address: string, start: number, limitSeconds: number): Promise<number | undefined> {
        while ((Date.now() - start) / 1000 < limitSeconds) {
            if (await lab!.ping(from, address, 1)) return (Date.now() - start) / 1000;
        }
        return undefined;
    }

    before(async function () {
        requireRoot("the mesh network test");
        requireTools(["ip", "ss", "nft", "wg", "wg-quick", "wireguard-go", "socat", "ping"]);
        const nodes = await planNodes();
        const hubs = nodes.filter((n) => hasRole(n, "hub"));
        assert.equal(hubs.length, 1, "the plan must have exactly one hub");
        lab = new NetLab("mesh");

        // The internet: one bridge, with the router's gateway addresses on it.
        internet = await lab.addNamespace("internet");
        await lab.addBridge(internet, "br0", internetSubnets.map((s) => `${s.gateway}/${prefixOf(s.cidr)}`));
        await lab.sysctl(internet, "net.ipv4.ip_forward", "1");
        const subnetOf = (address: string) => internetSubnets.find((s) => cidrContains(parseCidr(s.cidr)!, parseIpv4(address)!));
        let port = 0;
        const attachToInternet = async (namespace: Namespace, address: string) => {
            const subnet = subnetOf(address);
            assert.ok(subnet, `${namespace.name}: public address ${address} is outside the test internet ${internetSubnets.map((s) => s.cidr).join(", ")}`);
            await lab!.connect({ namespace, ifname: "eth0", addresses: [`${address}/${prefixOf(subnet.cidr)}`] }, { namespace: internet, ifname: `port${port++}`, bridge: "br0" });
            await lab!.addRoute(namespace, "default", subnet.gateway);
        };

        // Home: a NAT router on the internet, and a LAN bridge for the hosts behind it.
        const home = await lab.addNamespace("home-router");
        await attachToInternet(home, homeRouterPublic);
        await lab.addBridge(home, "br0", [`${homeLan.gateway}/${homeLan.prefix}`]);
        await lab.masquerade(home, "eth0");

        strangerNs = await lab.addNamespace("stranger");
        await attachToInternet(strangerNs, stranger.address);
        // The stranger forges a pod source address; the internet routes replies back to it.
        await lab.ip(strangerNs, ["addr", "add", `${stranger.forgedClusterSource}/32`, "dev", "lo"]);
        await lab.addRoute(internet, `${stranger.forgedClusterSource}/32`, stranger.address);

        let lanHost = homeLan.firstHost;
        for (const node of nodes) {
            const namespace = await lab.addNamespace(node.name);
            const host: MeshHost = { node, namespace, root: lab.writeHostFiles(node.name, node.files) };
            hosts.push(host);
            if (node.behindNat) {
                const lanAddress = `${homeLan.gateway.split(".").slice(0, 3).join(".")}.${lanHost++}`;
                await lab.connect({ namespace, ifname: "eth0", addresses: [`${lanAddress}/${homeLan.prefix}`] }, { namespace: home, ifname: `lan${lanHost}`, bridge: "br0" });
                await lab.addRoute(namespace, "default", homeLan.gateway);
            } else {
                assert.ok(node.publicAddress, `${node.name}: neither publicAddress nor behindNat`);
                await attachToInternet(namespace, node.publicAddress);
                // A stranger next to the host can send it packets for its mesh address.
                await lab.addRoute(internet, `${node.meshAddress}/32`, node.publicAddress);
            }
        }
        hub = hosts.find((h) => hasRole(h.node, "hub"))!;

        // Boot order: the firewall first, then WireGuard, so every handshake crosses the rulesets.
        await Promise.all(hosts.map((h) => lab!.loadNftRuleset(h.namespace, join(h.root, "etc/nftables.conf"))));
        await Promise.all(hosts.map(async (h) => {
            await lab!.listenTcp(h.namespace, sshPort, `${h.node.name}/${sshPort}`);
            for (const p of webPorts) await lab!.listenTcp(h.namespace, p, `${h.node.name}/${p}`);
            const k3sPorts = hasRole(h.node, "server") ? serverTcpPorts : hasRole(h.node, "agent") ? agentTcpPorts : [];
            for (const p of k3sPorts) await lab!.listenTcp(h.namespace, p, `${h.node.name}/${p}`);
            if (k3sPorts.length > 0) await lab!.listenUdp(h.namespace, vxlanPort, `${h.node.name}/${vxlanPort}`);
        }));
        const wgConfig = (h: MeshHost) => join(h.root, "etc/wireguard", `${meshInterfaceOf(h)}.conf`);
        hub.wireguard = await lab.startWireGuard(hub.namespace, wgConfig(hub));
        await Promise.all(spokes().map(async (h) => (h.wireguard = await lab!.startWireGuard(h.namespace, wgConfig(h)))));
    });

    after(() => lab?.teardown());

    it("every spoke handshakes with the hub through the loaded rulesets (hub UDP port open to the internet)", async () => {
        const start = Date.now();
        const seconds = await Promise.all(spokes().map((h) => secondsUntilPing(h.namespace, hub.node.meshAddress, start, 15)));
        const handshakes = await lab!.latestHandshakes(hub.wireguard!);
        const report = spokes().map((h, i) => {
            const publicKey = wireguardPublicKey(/^PrivateKey = (.*)$/m.exec(h.node.files[`/etc/wireguard/${meshInterfaceOf(h)}.conf`])![1]);
            return { spoke: h.node.name, behindNat: h.node.behindNat, firstReplySeconds: seconds[i], hubSawHandshake: (handshakes.get(publicKey) ?? 0) > 0 };
        });
        console.log(`\n  handshakes with ${hub.node.name}:\n${report.map((r) => `    ${r.spoke.padEnd(14)} ${r.behindNat ? "behind NAT" : "public    "}  first reply after ${r.firstReplySeconds?.toFixed(1) ?? "never"} s  hub handshake: ${r.hubSawHandshake ? "yes" : "NO"}`).join("\n")}`);
        assert.deepEqual(report.filter((r) => r.firstReplySeconds === undefined || !r.hubSawHandshake), []);
    });

    it("probes the whole matrix in parallel (printed below)", async () => {
        const server = withRole("server");
        const agents = withRole("agent");
        const publicHosts = hosts.filter((h) => !h.node.behindNat);
        const banner = (h: MeshHost, port: number) => `${h.node.name}/${port}`;

        for (const from of spokes()) {
            for (const to of spokes().filter((t) => t !== from)) {
                matrix.push({ check: "mesh", from: from.node.name, to: to.node.name, address: to.node.meshAddress, protocol: "icmp", expected: "open", note: "via the hub" });
            }
        }
        for (const s of server) {
            for (const from of hosts.filter((h) => h !== s)) {
                for (const port of [6443, 10250]) {
                    matrix.push({ check: "k3s", from: from.node.name, to: s.node.name, address: s.node.meshAddress, protocol: "tcp", port, expected: "open", banner: banner(s, port) });
                }
            }
        }
        for (const agent of agents) {
            for (const s of server) {
                matrix.push({ check: "k3s", from: s.node.name, to: agent.node.name, address: agent.node.meshAddress, protocol: "tcp", port: 10250, expected: "open", banner: banner(agent, 10250), note: "API to kubelet" });
                matrix.push({ check: "k3s", from: agent.node.name, to: s.node.name, address: s.node.meshAddress, protocol: "udp", port: vxlanPort, expected: "open", banner: banner(s, vxlanPort), note: "flannel over the mesh" });
            }
        }
        for (const ingress of withRole("ingress")) {
            matrix.push({ check: "web", from: hub.node.name, to: ingress.node.name, address: ingress.node.meshAddress, protocol: "tcp", port: 80, expected: "open", banner: banner(ingress, 80), note: "edge proxy to ingress over the mesh" });
        }
        for (const to of publicHosts) {
            const k3sPorts = hasRole(to.node, "server") ? serverTcpPorts : hasRole(to.node, "agent") ? agentTcpPorts : [];
            for (const address of [to.node.publicAddress!, to.node.meshAddress]) {
                const note = address === to.node.meshAddress ? "mesh address, routed via its public one" : undefined;
                matrix.push({ check: "ssh", from: "stranger", to: to.node.name, address, protocol: "tcp", port: sshPort, expected: "open", banner: banner(to, sshPort), note });
                for (const port of k3sPorts) matrix.push({ check: "k3s", from: "stranger", to: to.node.name, address, protocol: "tcp", port, expected: "closed", note });
                if (k3sPorts.length > 0) matrix.push({ check: "k3s", from: "stranger", to: to.node.name, address, protocol: "udp", port: vxlanPort, expected: "closed", note });
            }
            for (const port of webPorts) {
                const edge = hasRole(to.node, "edge");
                matrix.push({ check: "web", from: "stranger", to: to.node.name, address: to.node.publicAddress!, protocol: "tcp", port, expected: edge ? "open" : "closed", banner: edge ? banner(to, port) : undefined });
            }
        }
        for (const s of server.filter((h) => !h.node.behindNat)) {
            for (const port of [sshPort, 6443, 10250]) {
                matrix.push({
                    check: port === sshPort ? "ssh" : "k3s", from: "stranger", to: s.node.name, address: s.node.publicAddress!, protocol: "tcp", port,
                    expected: port === sshPort ? "open" : "closed", banner: port === sshPort ? banner(s, port) : undefined,
                    sourceAddress: stranger.forgedClusterSource, note: "forged pod source",
                });
            }
        }

        const start = Date.now();
        await runProbes(matrix);
        console.log(formatMatrix(`probe matrix: ${matrix.length} probes in ${((Date.now() - start) / 1000).toFixed(1)} s`, matrix));
        assert.ok(matrix.every((p) => p.got !== undefined));
    });

    it("every spoke reaches every other spoke's mesh address through the hub", () => {
        const rows = matrix.filter((p) => p.check === "mesh");
        assert.ok(rows.length >= 2, "the matrix has mesh rows");
        assert.ok(rows.every(passed), failures(rows));
    });

    it("k3s ports answer mesh peers and are refused to the internet on every address, whatever source it claims", () => {
        const rows = matrix.filter((p) => p.check === "k3s");
        assert.ok(rows.some((p) => p.expected === "open") && rows.some((p) => p.expected === "closed"));
        assert.ok(rows.every(passed), failures(rows));
    });

    it("SSH stays reachable from the internet on every public host and address", () => {
        const rows = matrix.filter((p) => p.check === "ssh");
        assert.ok(rows.length > 0);
        assert.ok(rows.every(passed), failures(rows));
    });

    it("80/443 reach edge hosts only from the internet (and ingress nodes over the mesh)", () => {
        const rows = matrix.filter((p) => p.check === "web");
        assert.ok(rows.some((p) => p.expected === "open") && rows.some((p) => p.expected === "closed"));
        assert.ok(rows.every(passed), failures(rows));
    });

    it("the hub does not forward internet traffic into the mesh (and would without its ruleset)", async () => {
        // A stranger next to the hub routes a mesh address through it, forging a mesh source the
        // receiving spoke's WireGuard would accept (the hub's AllowedIPs there cover the whole mesh).
        // Replies go into the tunnel, so the target records what arrives instead of answering.
        const target = withRole("server")[0];
        assert.ok(hub.node.publicAddress, "the hub needs a public address");
        const sink = await lab!.udpSink(target.namespace, flannelWireguardPort);
        const forgedMeshSource = unusedMeshAddress(hosts.map((h) => h.node), hub.node.files[`/etc/wireguard/${meshInterfaceOf(hub)}.conf`]);
        await lab!.ip(strangerNs, ["addr", "add", `${forgedMeshSource}/32`, "dev", "lo"]);
        await lab!.addRoute(internet, `${target.node.meshAddress}/32`, hub.node.publicAddress);
        const attempt = async (expected: "open" | "closed", payload: string, note: string): Promise<Probe> => {
            await lab!.sendUdp(strangerNs, target.node.meshAddress, flannelWireguardPort, `${payload}\n`, { sourceAddress: forgedMeshSource });
            await new Promise((resolve) => setTimeout(resolve, 1000));
            const arrived = sink.received().includes(payload);
            return {
                check: "hub-forward", from: "stranger", to: target.node.name, address: target.node.meshAddress, protocol: "udp", port: flannelWireguardPort,
                expected, sourceAddress: forgedMeshSource, note, got: { state: arrived ? "open" : "timeout", detail: arrived ? "delivered" : "not delivered" },
            };
        };
        const rows = [await attempt("closed", "with-hub-ruleset", `routed via ${hub.node.name}`)];
        await lab!.execChecked(hub.namespace, ["nft", "delete", "table", "inet", nftTableName]);
        try {
            rows.push(await attempt("open", "without-hub-ruleset", `routed via ${hub.node.name}, hub ruleset removed (control)`));
        } finally {
            await lab!.loadNftRuleset(hub.namespace, join(hub.root, "etc/nftables.conf"));
            if (target.node.publicAddress) await lab!.addRoute(internet, `${target.node.meshAddress}/32`, target.node.publicAddress);
        }
        console.log(formatMatrix("hub forwarding (one-way datagrams, recorded at the target)", rows));
        assert.ok(rows.every(passed), failures(rows));
    });

    it(`spokes reconnect by themselves within ${reconnectLimitSeconds} s after the hub's WireGuard restarts`, async () => {
        await lab!.stopWireGuard(hub.wireguard!);
        hub.wireguard = await lab!.startWireGuard(hub.namespace, hub.wireguard!.configFile);
        const start = Date.now();
        // Each spoke keeps sending (k3s heartbeats would); its own timers notice the dead session and re-handshake.
        const seconds = await Promise.all(spokes().map((h) => secondsUntilPing(h.namespace, hub.node.meshAddress, start, reconnectLimitSeconds + 5)));
        console.log(`\n  reconnect after the hub restart:\n${spokes().map((h, i) => `    ${h.node.name.padEnd(14)} ${seconds[i] === undefined ? "never" : `${seconds[i]!.toFixed(1)} s`}`).join("\n")}`);
        const late = spokes().filter((_, i) => seconds[i] === undefined || seconds[i]! > reconnectLimitSeconds).map((h) => h.node.name);
        assert.deepEqual(late, [], `spokes not back within ${reconnectLimitSeconds} s`);

        // And spoke-to-spoke forwarding through the restarted hub works again.
        const ring: Probe[] = spokes().map((from, i, all) => {
            const to = all[(i + 1) % all.length];
            return { check: "mesh", from: from.node.name, to: to.node.name, address: to.node.meshAddress, protocol: "icmp", expected: "open", note: "after restart" };
        });
        await runProbes(ring);
        assert.ok(ring.every(passed), failures(ring));
    });
});
