// The rendered WireGuard configs and nftables rulesets on a real (namespaced) network: a hub, cloud
// hosts on the "internet", home hosts behind a NAT router, and a stranger on the internet. Every
// claim is checked with real packets; the probe matrix is printed so a failure shows its context.
import assert from "node:assert/strict";
import { nftTableName } from "../../components/render/nftables";
import { formatIpv4, parseIpv4 } from "../../components/net";
import { wireguardPublicKey } from "../../components/render/wireguard";
import { Namespace, NetLab, requireRoot, requireTools, sleep } from "./netns";
import {
    buildInternet,
    hasRole,
    loadRulesets,
    meshConfigPath,
    NetHost,
    NetNode,
    NodeRole,
    placeNodes,
    planProd,
    probePassed,
    ProbeRow,
    probeTable,
    rulesetFile,
    startMesh,
    strangerAddress,
} from "./topology";

/** Ports a k3s host listens on in this test (bound to 0.0.0.0, the worst case the firewall must cover). */
const sshPort = 22;
const webPorts = [80, 443];
const serverTcpPorts = [6443, 10250, 2379];
const agentTcpPorts = [10250];
const vxlanPort = 8472;

/** The stranger's forged pod source (the plan's cluster CIDR is 10.42.0.0/16); its forged mesh source is unusedMeshAddress(). */
const forgedClusterSource = "10.42.0.99";
/** flannel wireguard-native's port (mesh only): where the forged datagrams are aimed and recorded. */
const flannelWireguardPort = 51820;
const reconnectLimitSeconds = 30;

interface Probe extends ProbeRow {
    /** Which test asserts this row. */
    check: "k3s" | "ssh" | "web" | "mesh" | "hub-forward";
}

function failures(probes: Probe[]): string {
    return probeTable(
        "failed probes",
        probes.filter((p) => !probePassed(p)),
    );
}

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

describe("[root] the mesh on a real network (namespaces, wireguard-go, nftables)", function () {
    this.timeout(120000);
    let lab: NetLab | undefined;
    const hosts: NetHost[] = [];
    let hub: NetHost;
    let internet: Namespace;
    let strangerNs: Namespace;
    const matrix: Probe[] = [];

    const spokes = () => hosts.filter((h) => h !== hub);
    const withRole = (role: NodeRole) => hosts.filter((h) => hasRole(h.node, role));

    async function runProbes(probes: Probe[]): Promise<void> {
        await Promise.all(
            probes.map(async (probe) => {
                const from = probe.from === "stranger" ? strangerNs : hosts.find((h) => h.node.name === probe.from)!.namespace;
                if (probe.protocol === "icmp") {
                    const answered = await lab!.ping(from, probe.address, 2);
                    probe.got = { state: answered ? "open" : "timeout", detail: answered ? "reply" : "no reply" };
                } else if (probe.protocol === "tcp") {
                    probe.got = await lab!.probeTcp(from, probe.address, probe.port!, { sourceAddress: probe.sourceAddress });
                } else {
                    probe.got = await lab!.probeUdp(from, probe.address, probe.port!, { sourceAddress: probe.sourceAddress });
                }
            }),
        );
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
        const { nodes } = await planProd();
        const hubs = nodes.filter((n) => hasRole(n, "hub"));
        assert.equal(hubs.length, 1, "the plan must have exactly one hub");
        lab = new NetLab("mesh");

        const net = await buildInternet(lab);
        internet = net.internet;
        strangerNs = net.stranger;
        // The stranger forges a pod source address; the internet routes replies back to it.
        await lab.ip(strangerNs, ["addr", "add", `${forgedClusterSource}/32`, "dev", "lo"]);
        await lab.addRoute(internet, `${forgedClusterSource}/32`, strangerAddress);
        hosts.push(...(await placeNodes(lab, net, nodes)));
        hub = hosts.find((h) => hasRole(h.node, "hub"))!;

        // Boot order: the firewall first, then WireGuard, so every handshake crosses the rulesets.
        await loadRulesets(lab, hosts);
        await Promise.all(
            hosts.map(async (h) => {
                await lab!.listenTcp(h.namespace, sshPort, `${h.node.name}/${sshPort}`);
                for (const p of webPorts) await lab!.listenTcp(h.namespace, p, `${h.node.name}/${p}`);
                const k3sPorts = hasRole(h.node, "server") ? serverTcpPorts : hasRole(h.node, "agent") ? agentTcpPorts : [];
                for (const p of k3sPorts) await lab!.listenTcp(h.namespace, p, `${h.node.name}/${p}`);
                if (k3sPorts.length > 0) await lab!.listenUdp(h.namespace, vxlanPort, `${h.node.name}/${vxlanPort}`);
            }),
        );
        await startMesh(lab, hosts);
    });

    after(() => lab?.teardown());

    it("every spoke handshakes with the hub through the loaded rulesets (hub UDP port open to the internet)", async () => {
        const start = Date.now();
        const seconds = await Promise.all(spokes().map((h) => secondsUntilPing(h.namespace, hub.node.meshAddress, start, 15)));
        const handshakes = await lab!.latestHandshakes(hub.wireguard!);
        const report = spokes().map((h, i) => {
            const publicKey = wireguardPublicKey(/^PrivateKey = (.*)$/m.exec(h.node.files[meshConfigPath(h.node)])![1]);
            return { spoke: h.node.name, behindNat: h.node.behindNat, firstReplySeconds: seconds[i], hubSawHandshake: (handshakes.get(publicKey) ?? 0) > 0 };
        });
        console.log(
            `\n  handshakes with ${hub.node.name}:\n${report.map((r) => `    ${r.spoke.padEnd(14)} ${r.behindNat ? "behind NAT" : "public    "}  first reply after ${r.firstReplySeconds?.toFixed(1) ?? "never"} s  hub handshake: ${r.hubSawHandshake ? "yes" : "NO"}`).join("\n")}`,
        );
        assert.deepEqual(
            report.filter((r) => r.firstReplySeconds === undefined || !r.hubSawHandshake),
            [],
        );
    });

    it("probes the whole matrix in parallel (printed below)", async () => {
        const server = withRole("server");
        const agents = withRole("agent");
        const publicHosts = hosts.filter((h) => !h.node.behindNat);
        const banner = (h: NetHost, port: number) => `${h.node.name}/${port}`;

        for (const from of spokes()) {
            for (const to of spokes().filter((t) => t !== from)) {
                matrix.push({
                    check: "mesh",
                    from: from.node.name,
                    to: to.node.name,
                    address: to.node.meshAddress,
                    protocol: "icmp",
                    expected: "open",
                    note: "via the hub",
                });
            }
        }
        for (const s of server) {
            for (const from of hosts.filter((h) => h !== s)) {
                for (const port of [6443, 10250]) {
                    matrix.push({
                        check: "k3s",
                        from: from.node.name,
                        to: s.node.name,
                        address: s.node.meshAddress,
                        protocol: "tcp",
                        port,
                        expected: "open",
                        banner: banner(s, port),
                    });
                }
            }
        }
        for (const agent of agents) {
            for (const s of server) {
                matrix.push({
                    check: "k3s",
                    from: s.node.name,
                    to: agent.node.name,
                    address: agent.node.meshAddress,
                    protocol: "tcp",
                    port: 10250,
                    expected: "open",
                    banner: banner(agent, 10250),
                    note: "API to kubelet",
                });
                matrix.push({
                    check: "k3s",
                    from: agent.node.name,
                    to: s.node.name,
                    address: s.node.meshAddress,
                    protocol: "udp",
                    port: vxlanPort,
                    expected: "open",
                    banner: banner(s, vxlanPort),
                    note: "flannel over the mesh",
                });
            }
        }
        for (const ingress of withRole("ingress")) {
            matrix.push({
                check: "web",
                from: hub.node.name,
                to: ingress.node.name,
                address: ingress.node.meshAddress,
                protocol: "tcp",
                port: 80,
                expected: "open",
                banner: banner(ingress, 80),
                note: "edge proxy to ingress over the mesh",
            });
        }
        for (const to of publicHosts) {
            const k3sPorts = hasRole(to.node, "server") ? serverTcpPorts : hasRole(to.node, "agent") ? agentTcpPorts : [];
            for (const address of [to.node.publicAddress!, to.node.meshAddress]) {
                const note = address === to.node.meshAddress ? "mesh address, routed via its public one" : undefined;
                matrix.push({
                    check: "ssh",
                    from: "stranger",
                    to: to.node.name,
                    address,
                    protocol: "tcp",
                    port: sshPort,
                    expected: "open",
                    banner: banner(to, sshPort),
                    note,
                });
                for (const port of k3sPorts)
                    matrix.push({ check: "k3s", from: "stranger", to: to.node.name, address, protocol: "tcp", port, expected: "closed", note });
                if (k3sPorts.length > 0)
                    matrix.push({ check: "k3s", from: "stranger", to: to.node.name, address, protocol: "udp", port: vxlanPort, expected: "closed", note });
            }
            for (const port of webPorts) {
                const edge = hasRole(to.node, "edge");
                matrix.push({
                    check: "web",
                    from: "stranger",
                    to: to.node.name,
                    address: to.node.publicAddress!,
                    protocol: "tcp",
                    port,
                    expected: edge ? "open" : "closed",
                    banner: edge ? banner(to, port) : undefined,
                });
            }
        }
        for (const s of server.filter((h) => !h.node.behindNat)) {
            for (const port of [sshPort, 6443, 10250]) {
                matrix.push({
                    check: port === sshPort ? "ssh" : "k3s",
                    from: "stranger",
                    to: s.node.name,
                    address: s.node.publicAddress!,
                    protocol: "tcp",
                    port,
                    expected: port === sshPort ? "open" : "closed",
                    banner: port === sshPort ? banner(s, port) : undefined,
                    sourceAddress: forgedClusterSource,
                    note: "forged pod source",
                });
            }
        }

        const start = Date.now();
        await runProbes(matrix);
        console.log(probeTable(`probe matrix: ${matrix.length} probes in ${((Date.now() - start) / 1000).toFixed(1)} s`, matrix));
        assert.ok(matrix.every((p) => p.got !== undefined));
    });

    it("every spoke reaches every other spoke's mesh address through the hub", () => {
        const rows = matrix.filter((p) => p.check === "mesh");
        assert.ok(rows.length >= 2, "the matrix has mesh rows");
        assert.ok(rows.every(probePassed), failures(rows));
    });

    it("k3s ports answer mesh peers and are refused to the internet on every address, whatever source it claims", () => {
        const rows = matrix.filter((p) => p.check === "k3s");
        assert.ok(rows.some((p) => p.expected === "open") && rows.some((p) => p.expected === "closed"));
        assert.ok(rows.every(probePassed), failures(rows));
    });

    it("SSH stays reachable from the internet on every public host and address", () => {
        const rows = matrix.filter((p) => p.check === "ssh");
        assert.ok(rows.length > 0);
        assert.ok(rows.every(probePassed), failures(rows));
    });

    it("80/443 reach edge hosts only from the internet (and ingress nodes over the mesh)", () => {
        const rows = matrix.filter((p) => p.check === "web");
        assert.ok(rows.some((p) => p.expected === "open") && rows.some((p) => p.expected === "closed"));
        assert.ok(rows.every(probePassed), failures(rows));
    });

    it("the hub does not forward internet traffic into the mesh (and would without its ruleset)", async () => {
        // A stranger next to the hub routes a mesh address through it, forging a mesh source the
        // receiving spoke's WireGuard would accept (the hub's AllowedIPs there cover the whole mesh).
        // Replies go into the tunnel, so the target records what arrives instead of answering.
        const target = withRole("server")[0];
        assert.ok(hub.node.publicAddress, "the hub needs a public address");
        const sink = await lab!.udpSink(target.namespace, flannelWireguardPort);
        const forgedMeshSource = unusedMeshAddress(
            hosts.map((h) => h.node),
            hub.node.files[meshConfigPath(hub.node)],
        );
        await lab!.ip(strangerNs, ["addr", "add", `${forgedMeshSource}/32`, "dev", "lo"]);
        await lab!.addRoute(internet, `${target.node.meshAddress}/32`, hub.node.publicAddress);
        const attempt = async (expected: "open" | "closed", payload: string, note: string): Promise<Probe> => {
            await lab!.sendUdp(strangerNs, target.node.meshAddress, flannelWireguardPort, `${payload}\n`, { sourceAddress: forgedMeshSource });
            await sleep(1000);
            const arrived = sink.received().includes(payload);
            return {
                check: "hub-forward",
                from: "stranger",
                to: target.node.name,
                address: target.node.meshAddress,
                protocol: "udp",
                port: flannelWireguardPort,
                expected,
                sourceAddress: forgedMeshSource,
                note,
                got: { state: arrived ? "open" : "timeout", detail: arrived ? "delivered" : "not delivered" },
            };
        };
        const rows = [await attempt("closed", "with-hub-ruleset", `routed via ${hub.node.name}`)];
        await lab!.execChecked(hub.namespace, ["nft", "delete", "table", "inet", nftTableName]);
        try {
            rows.push(await attempt("open", "without-hub-ruleset", `routed via ${hub.node.name}, hub ruleset removed (control)`));
        } finally {
            await lab!.loadNftRuleset(hub.namespace, rulesetFile(hub));
            if (target.node.publicAddress) await lab!.addRoute(internet, `${target.node.meshAddress}/32`, target.node.publicAddress);
        }
        console.log(probeTable("hub forwarding (one-way datagrams, recorded at the target)", rows));
        assert.ok(rows.every(probePassed), failures(rows));
    });

    it(`spokes reconnect by themselves within ${reconnectLimitSeconds} s after the hub's WireGuard restarts`, async () => {
        await lab!.stopWireGuard(hub.wireguard!);
        hub.wireguard = await lab!.startWireGuard(hub.namespace, hub.wireguard!.configFile);
        const start = Date.now();
        // Each spoke keeps sending (k3s heartbeats would); its own timers notice the dead session and re-handshake.
        const seconds = await Promise.all(spokes().map((h) => secondsUntilPing(h.namespace, hub.node.meshAddress, start, reconnectLimitSeconds + 5)));
        console.log(
            `\n  reconnect after the hub restart:\n${spokes()
                .map((h, i) => `    ${h.node.name.padEnd(14)} ${seconds[i] === undefined ? "never" : `${seconds[i]!.toFixed(1)} s`}`)
                .join("\n")}`,
        );
        const late = spokes()
            .filter((_, i) => seconds[i] === undefined || seconds[i]! > reconnectLimitSeconds)
            .map((h) => h.node.name);
        assert.deepEqual(late, [], `spokes not back within ${reconnectLimitSeconds} s`);

        // And spoke-to-spoke forwarding through the restarted hub works again.
        const ring: Probe[] = spokes().map((from, i, all) => {
            const to = all[(i + 1) % all.length];
            return {
                check: "mesh",
                from: from.node.name,
                to: to.node.name,
                address: to.node.meshAddress,
                protocol: "icmp",
                expected: "open",
                note: "after restart",
            };
        });
        await runProbes(ring);
        assert.ok(ring.every(probePassed), failures(ring));
    });
});
