// A ZeroTier stack's planned rulesets on a real (namespaced) network. ZeroTier cannot run here, so a
// stand-in plays its virtual network: a full mesh of WireGuard tunnels (wireguard-go), one per pair
// of members, on the interface name and mesh addresses the plan gives (zt0), carried on UDP 9993,
// ZeroTier's own port. Like ZeroTier, every member talks to every other directly: the public ones
// at their public address, the ones behind NAT punch out (keepalives) and reach each other on their
// LAN. So the plan's rulesets must let 9993 through from anywhere, or the stand-in dies with them.
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "fs";
import * as path from "path";
import { zerotierInterfaceName } from "../../components/paths";
import { k3sApiPort, zerotierPort } from "../../components/ports";
import { Daemon, Namespace, NetLab, requireRoot, requireTools, run } from "./netns";
import { buildInternet, loadRulesets, NetHost, placeNodes, planStack, probePassed, ProbeRow, probeTable } from "./topology";

const kubeletPort = 10250;
const standInMtu = 1420;

async function keyPair(): Promise<{ privateKey: string; publicKey: string }> {
    const privateKey = (await run(["wg", "genkey"])).stdout.trim();
    const publicKey = (await run(["wg", "pubkey"], { input: privateKey + "\n" })).stdout.trim();
    return { privateKey, publicKey };
}

/**
 * The stand-in's wg-quick config for one member: every other member is a peer, reached at its
 * public address, or at its LAN address when both sit behind the same NAT; members behind NAT keep
 * their mappings open, as ZeroTier does.
 */
function standInConfig(
    self: NetHost,
    others: NetHost[],
    keys: Map<NetHost, { privateKey: string; publicKey: string }>,
    prefix: number,
    lanOf: (h: NetHost) => string,
): string {
    const lines = [
        "[Interface]",
        `PrivateKey = ${keys.get(self)!.privateKey}`,
        `Address = ${self.node.meshAddress}/${prefix}`,
        `ListenPort = ${zerotierPort}`,
        `MTU = ${standInMtu}`,
    ];
    for (const peer of others) {
        lines.push("", "[Peer]", `PublicKey = ${keys.get(peer)!.publicKey}`, `AllowedIPs = ${peer.node.meshAddress}/32`);
        const endpoint = !peer.node.behindNat ? peer.node.publicAddress : self.node.behindNat ? lanOf(peer) : undefined;
        if (endpoint) lines.push(`Endpoint = ${endpoint}:${zerotierPort}`);
        if (self.node.behindNat) lines.push("PersistentKeepalive = 5");
    }
    return lines.join("\n") + "\n";
}

describe("[root] a ZeroTier stack's rulesets on a real network (stand-in: a full WireGuard mesh on zt0 over UDP 9993)", function () {
    this.timeout(180000);
    let lab: NetLab | undefined;
    const hosts: NetHost[] = [];
    let stranger: Namespace;
    const fromInternet: ProbeRow[] = [];

    const nsOf = (name: string) => (name === "stranger" ? stranger : hosts.find((h) => h.node.name === name)!.namespace);
    async function probe(p: ProbeRow): Promise<void> {
        const from = nsOf(p.from);
        if (p.protocol === "icmp") {
            const answered = await lab!.ping(from, p.address, 2);
            p.got = { state: answered ? "open" : "timeout", detail: answered ? "reply" : "no reply" };
        } else {
            p.got = await (p.protocol === "tcp" ? lab!.probeTcp(from, p.address, p.port!) : lab!.probeUdp(from, p.address, p.port!));
        }
    }

    before(async function () {
        requireRoot("the ZeroTier stand-in network test");
        requireTools(["ip", "ss", "nft", "wg", "wg-quick", "wireguard-go", "socat", "ping"]);
        const { nodes, meshPrefix } = await planStack("zerotier", {}, path.join(__dirname, "../../examples/zerotier"));
        assert.ok(nodes.some((n) => n.behindNat) && nodes.some((n) => !n.behindNat), "the example has members behind NAT and public ones");
        lab = new NetLab("zerotier");
        const net = await buildInternet(lab);
        stranger = net.stranger;
        hosts.push(...(await placeNodes(lab, net, nodes)));
        // The firewall first, as at boot: everything below crosses the plan's rulesets.
        await loadRulesets(lab, hosts);
        await Promise.all(
            hosts.map(async (h) => {
                // k3s binds some ports to 0.0.0.0 whatever it is told: listen there, the worst case.
                for (const port of [k3sApiPort, kubeletPort]) await lab!.listenTcp(h.namespace, port, `${h.node.name}/${port}`);
            }),
        );

        // ZeroTier's port from the internet, answered by an echo before the stand-in takes the port.
        const publicHosts = hosts.filter((h) => !h.node.behindNat);
        const echo =
            "const [port, banner] = process.argv.slice(1); const socket = require('dgram').createSocket('udp4');" +
            " socket.on('message', (_, peer) => socket.send(banner + '\\n', peer.port, peer.address)); socket.bind(Number(port));";
        const echoes: Daemon[] = publicHosts.map((h) =>
            lab!.startDaemon(h.namespace, [process.execPath, "-e", echo, String(zerotierPort), `${h.node.name}/${zerotierPort}`], `${h.node.name} udp echo`),
        );
        for (const h of publicHosts) await lab.waitForListener(h.namespace, zerotierPort, { protocol: "udp" });
        const udpProbes = publicHosts.map((h): ProbeRow => ({
            from: "stranger",
            to: h.node.name,
            address: h.node.publicAddress!,
            protocol: "udp",
            port: zerotierPort,
            expected: "open",
            banner: `${h.node.name}/${zerotierPort}`,
        }));
        await Promise.all(udpProbes.map(probe));
        fromInternet.push(...udpProbes);
        await Promise.all(echoes.map((e) => e.stop()));
        for (const h of publicHosts) await lab.waitForListener(h.namespace, zerotierPort, { protocol: "udp", gone: true });

        // The stand-in network: one WireGuard device per member, named and addressed as the plan says.
        const keys = new Map(await Promise.all(hosts.map(async (h) => [h, await keyPair()] as const)));
        const lanOf = (h: NetHost) => lab!.ip(h.namespace, ["-4", "-o", "addr", "show", "dev", "eth0"]);
        const lan = new Map(await Promise.all(hosts.map(async (h) => [h, /inet ([\d.]+)\//.exec(await lanOf(h))![1]] as const)));
        await Promise.all(
            hosts.map(async (h) => {
                const dir = path.join(lab!.workDir, `${h.node.name}-standin`);
                mkdirSync(dir, { recursive: true });
                const file = path.join(dir, `${zerotierInterfaceName}.conf`);
                writeFileSync(
                    file,
                    standInConfig(
                        h,
                        hosts.filter((o) => o !== h),
                        keys,
                        meshPrefix,
                        (p) => lan.get(p)!,
                    ),
                    { mode: 0o600 },
                );
                h.wireguard = await lab!.startWireGuard(h.namespace, file);
            }),
        );
    });

    after(() => lab?.teardown());

    it("stand-in: from the internet, UDP 9993 is open on every public member and the API ports are closed", async () => {
        // The internet routes each public member's mesh address to it, so a stranger can aim at that too.
        const tcpProbes = hosts
            .filter((h) => !h.node.behindNat)
            .flatMap((h) =>
                [h.node.publicAddress!, h.node.meshAddress].flatMap((address) =>
                    [k3sApiPort, kubeletPort].map((port): ProbeRow => ({
                        from: "stranger",
                        to: h.node.name,
                        address,
                        protocol: "tcp",
                        port,
                        expected: "closed",
                    })),
                ),
            );
        await Promise.all(tcpProbes.map(probe));
        fromInternet.push(...tcpProbes);
        console.log(probeTable("from the internet", fromInternet));
        assert.ok(fromInternet.length > 0);
        assert.deepEqual(
            fromInternet.filter((p) => !probePassed(p)).map((p) => `${p.to} ${p.address} ${p.port}/${p.protocol}: ${p.got?.state}`),
            [],
        );
    });

    it("stand-in: every member reaches every other on its mesh address (ping, 6443, 10250), over zt0", async () => {
        // Members behind NAT speak first (as ZeroTier's do): their keepalives open the NAT for the public ones.
        for (const h of hosts.filter((x) => x.node.behindNat)) {
            await Promise.all(hosts.filter((o) => o !== h).map((o) => lab!.ping(h.namespace, o.node.meshAddress, 3)));
        }
        const probes: ProbeRow[] = hosts.flatMap((from) =>
            hosts
                .filter((to) => to !== from)
                .flatMap((to): ProbeRow[] => [
                    { from: from.node.name, to: to.node.name, address: to.node.meshAddress, protocol: "icmp", expected: "open" },
                    ...[k3sApiPort, kubeletPort].map((port): ProbeRow => ({
                        from: from.node.name,
                        to: to.node.name,
                        address: to.node.meshAddress,
                        protocol: "tcp",
                        port,
                        expected: "open",
                        banner: `${to.node.name}/${port}`,
                    })),
                ]),
        );
        await Promise.all(probes.map(probe));
        const failed = probes.filter((p) => !probePassed(p));
        assert.deepEqual(failed.length, 0, probeTable("failed mesh probes", failed));
        assert.equal(probes.length, hosts.length * (hosts.length - 1) * 3);
        // Each member's route to every peer is the stand-in's zt0, the interface the rulesets trust.
        for (const h of hosts) {
            for (const o of hosts.filter((x) => x !== h)) {
                const route = await lab!.ip(h.namespace, ["-4", "route", "get", o.node.meshAddress]);
                assert.match(route, new RegExp(`dev ${zerotierInterfaceName} `), `${h.node.name} → ${o.node.name}`);
            }
        }
        console.log(`\n  stand-in mesh: ${probes.length} probes between ${hosts.length} members, all answered`);
    });
});
