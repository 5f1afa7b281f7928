import assert from "node:assert/strict";
import { randomBytes } from "crypto";
import { join } from "path";
import { renderHubConfig, renderSpokeConfig, wireguardPublicKey, WgPeerFacts } from "../../components/render/wireguard";
import { NetLab, requireRoot, requireTools, run } from "../net/netns";

function newPrivateKey(): string {
    return randomBytes(32).toString("base64");
}

function keyPair(): { privateKey: string; publicKey: string } {
    const privateKey = newPrivateKey();
    return { privateKey, publicKey: wireguardPublicKey(privateKey) };
}

const hubKeys = keyPair();
const spokeKeys = keyPair();
const peers: WgPeerFacts[] = [
    { name: "white-amd", publicKey: keyPair().publicKey, meshAddress: "10.0.0.2" },
    { name: "k3s-soh-re", publicKey: spokeKeys.publicKey, meshAddress: "10.0.0.4" },
    { name: "fedora-laptop", publicKey: keyPair().publicKey, meshAddress: "10.0.0.100" },
    { name: "aws-arm", publicKey: keyPair().publicKey, meshAddress: "10.0.0.8" },
];

const hubFacts = {
    name: "phy01",
    privateKey: hubKeys.privateKey,
    meshAddress: "10.0.0.1",
    meshPrefix: 24,
    listenPort: 51820,
    mtu: 1420,
    interfaceName: "wg0",
    peers,
};

const spokeFacts = {
    name: "k3s-soh-re",
    privateKey: spokeKeys.privateKey,
    meshAddress: "10.0.0.4",
    meshPrefix: 24,
    mtu: 1420,
    meshCidr: "10.0.0.0/24",
    hub: { name: "phy01", publicKey: hubKeys.publicKey, endpoint: "203.0.113.10:51820" },
};

/** [Peer] sections as key → value maps (comment lines kept under "#"). */
function peerSections(config: string): Array<Record<string, string>> {
    return config
        .split("[Peer]")
        .slice(1)
        .map((section) => {
            const entries: Record<string, string> = {};
            for (const line of section.trim().split("\n")) {
                if (line.startsWith("#")) entries["#"] = line.slice(1).trim();
                else if (line.includes("=")) entries[line.slice(0, line.indexOf("=")).trim()] = line.slice(line.indexOf("=") + 1).trim();
            }
            return entries;
        });
}

describe("WireGuard keys", () => {
    it("derives the public key `wg pubkey` derives, for any 32 random bytes", async () => {
        requireTools(["wg"]);
        for (let i = 0; i < 5; i++) {
            const privateKey = newPrivateKey();
            const fromWg = await run(["wg", "pubkey"], { input: `${privateKey}\n` });
            assert.equal(fromWg.code, 0, fromWg.stderr);
            assert.equal(wireguardPublicKey(privateKey), fromWg.stdout.trim());
        }
    });

    it("refuses something that is not a 32-byte base64 key", () => {
        assert.throws(() => wireguardPublicKey("not-a-key"), /not a WireGuard key/);
        assert.throws(() => wireguardPublicKey(randomBytes(31).toString("base64")), /not a WireGuard key/);
    });
});

describe("renderHubConfig", () => {
    const config = renderHubConfig(hubFacts);

    it("lists every peer once, as its /32, sorted by name with a name comment", () => {
        const sections = peerSections(config);
        assert.deepEqual(
            sections.map((s) => s["#"]),
            ["aws-arm", "fedora-laptop", "k3s-soh-re", "white-amd"],
        );
        for (const peer of peers) {
            const section = sections.find((s) => s["#"] === peer.name)!;
            assert.equal(section.PublicKey, peer.publicKey);
            assert.equal(section.AllowedIPs, `${peer.meshAddress}/32`);
            assert.equal(section.Endpoint, undefined, "the hub learns spokes' endpoints from their handshakes");
        }
    });

    it("listens, forwards between spokes and leaves filtering and NAT to nftables", () => {
        const iface = config.slice(config.indexOf("[Interface]"), config.indexOf("[Peer]"));
        assert.match(iface, /^Address = 10\.0\.0\.1\/24$/m);
        assert.match(iface, /^ListenPort = 51820$/m);
        assert.match(iface, new RegExp(`^PrivateKey = ${hubKeys.privateKey.replace(/[+/]/g, "\\$&")}$`, "m"));
        assert.match(iface, /^MTU = 1420$/m);
        assert.match(iface, /^PostUp = sysctl -w net\.ipv4\.ip_forward=1$/m);
        assert.doesNotMatch(config, /iptables|MASQUERADE|PostDown/, "spoke-to-spoke traffic must keep its source address");
    });

    it("renders the same text whatever order the peers come in", () => {
        assert.equal(renderHubConfig({ ...hubFacts, peers: [...peers].reverse() }), config);
    });

    it("refuses peers that would break routing or inject config lines", () => {
        const withPeer = (peer: Partial<WgPeerFacts>) => renderHubConfig({ ...hubFacts, peers: [...peers, { ...peers[0], name: "extra", ...peer }] });
        assert.throws(() => withPeer({}), /10\.0\.0\.2 is used by both white-amd and extra/);
        assert.throws(() => withPeer({ meshAddress: "10.0.0.1" }), /10\.0\.0\.1 is used by both phy01 and extra/);
        assert.throws(() => withPeer({ meshAddress: "10.0.1.5" }), /not inside the hub's mesh 10\.0\.0\.0\/24/);
        assert.throws(() => withPeer({ meshAddress: "10.0.0.50", name: "evil\nPostUp = reboot" }), /name/);
        assert.throws(() => withPeer({ meshAddress: "10.0.0.50", publicKey: "short" }), /not a WireGuard key/);
        assert.throws(() => renderHubConfig({ ...hubFacts, interfaceName: "a-very-long-interface" }), /interface name/);
    });
});

describe("renderSpokeConfig", () => {
    const config = renderSpokeConfig(spokeFacts);

    it("has the hub as its only peer, for the whole mesh, kept alive through NAT", () => {
        const sections = peerSections(config);
        assert.equal(sections.length, 1);
        assert.deepEqual(sections[0], {
            "#": "phy01 (hub)",
            PublicKey: hubKeys.publicKey,
            Endpoint: "203.0.113.10:51820",
            AllowedIPs: "10.0.0.0/24",
            PersistentKeepalive: "25",
        });
    });

    it("carries its own address, key and MTU, and no listen port or hooks", () => {
        assert.match(config, /^Address = 10\.0\.0\.4\/24$/m);
        assert.match(config, /^MTU = 1420$/m);
        assert.ok(config.includes(`PrivateKey = ${spokeKeys.privateKey}\n`));
        assert.doesNotMatch(config, /ListenPort|PostUp|PreUp/);
    });

    it("refuses a mesh CIDR that does not hold its address, and a malformed endpoint", () => {
        assert.throws(() => renderSpokeConfig({ ...spokeFacts, meshCidr: "10.1.0.0/24" }), /does not match/);
        assert.throws(() => renderSpokeConfig({ ...spokeFacts, hub: { ...spokeFacts.hub, endpoint: "203.0.113.10" } }), /host:port/);
    });
});

describe("routes to LANs behind nodes", () => {
    it("the hub sends a gateway's LAN to it; a spoke sends other nodes' LANs to the hub and forwards its own", () => {
        const hub = renderHubConfig({ ...hubFacts, peers: peers.map((p) => (p.name === "white-amd" ? { ...p, routes: ["192.168.1.0/24"] } : p)) });
        const sections = peerSections(hub);
        const gatewayPeer = sections.find((p) => p["#"].startsWith("white-amd"))!;
        assert.equal(gatewayPeer.AllowedIPs, "10.0.0.2/32, 192.168.1.0/24");
        assert.equal(gatewayPeer["#"], "white-amd, gateway to 192.168.1.0/24");
        assert.deepEqual(
            sections.filter((p) => p !== gatewayPeer).map((p) => p.AllowedIPs.split(", ").length),
            [1, 1, 1],
        );

        const client = renderSpokeConfig({ ...spokeFacts, routes: ["192.168.1.0/24", "172.20.0.0/16"] });
        assert.equal(peerSections(client)[0].AllowedIPs, "10.0.0.0/24, 192.168.1.0/24, 172.20.0.0/16");
        assert.doesNotMatch(client, /PostUp/, "a spoke that routes no LAN does not forward");
        const gateway = renderSpokeConfig({ ...spokeFacts, routes: ["172.20.0.0/16"], ownRoutes: ["192.168.1.0/24"] });
        assert.equal(peerSections(gateway)[0].AllowedIPs, "10.0.0.0/24, 172.20.0.0/16");
        assert.match(gateway, /^PostUp = sysctl -w net\.ipv4\.ip_forward=1$/m);
    });

    it("refuses a route inside the mesh, or one a spoke would both keep and send away", () => {
        assert.throws(() => renderSpokeConfig({ ...spokeFacts, routes: ["10.0.0.128/25"] }), /route 10\.0\.0\.128\/25 overlaps the mesh 10\.0\.0\.0\/24/);
        assert.throws(
            () => renderSpokeConfig({ ...spokeFacts, routes: ["192.168.1.0/24"], ownRoutes: ["192.168.1.0/24"] }),
            /192\.168\.1\.0\/24 is behind this spoke; it cannot also be sent to the hub/,
        );
        assert.throws(
            () => renderHubConfig({ ...hubFacts, peers: [{ ...peers[0], routes: ["192.168.1.7/24"] }] }),
            /route "192\.168\.1\.7\/24" is not an IPv4 CIDR/,
        );
    });
});

describe("[root] wg-quick configs on a real WireGuard interface", function () {
    this.timeout(30000);
    let lab: NetLab | undefined;

    before(() => {
        requireRoot("the WireGuard config check");
        requireTools(["ip", "wg", "wg-quick", "wireguard-go"]);
        lab = new NetLab("wgrender");
    });
    after(() => lab?.teardown());

    const variants: Record<string, { interfaceName: string; render: () => string }> = {
        hub: { interfaceName: "wg0", render: () => renderHubConfig(hubFacts) },
        "hub with custom port, MTU and interface": {
            interfaceName: "mesh0",
            render: () => renderHubConfig({ ...hubFacts, listenPort: 41641, mtu: 1380, interfaceName: "mesh0" }),
        },
        "hub with no peers yet": { interfaceName: "wg0", render: () => renderHubConfig({ ...hubFacts, peers: [] }) },
        "node spoke": { interfaceName: "wg0", render: () => renderSpokeConfig(spokeFacts) },
        "operator spoke (hub by DNS name)": {
            interfaceName: "wg0",
            render: () =>
                renderSpokeConfig({ ...spokeFacts, name: "fedora-laptop", meshAddress: "10.0.0.100", hub: { ...spokeFacts.hub, endpoint: "localhost:51820" } }),
        },
    };

    for (const [variant, { interfaceName, render }] of Object.entries(variants)) {
        it(`${variant}: wg setconf accepts it and the interface ends up as rendered`, async () => {
            const config = render();
            const host = variant
                .replace(/[^a-z]+/g, "-")
                .replace(/-$/, "")
                .slice(0, 30);
            const root = lab!.writeHostFiles(host, { [`/etc/wireguard/${interfaceName}.conf`]: config });
            const namespace = await lab!.addNamespace(host);
            const link = await lab!.startWireGuard(namespace, join(root, "etc/wireguard", `${interfaceName}.conf`));

            const privateKey = /^PrivateKey = (.*)$/m.exec(config)![1];
            assert.equal((await lab!.wg(link, ["public-key"])).trim(), wireguardPublicKey(privateKey));
            const listenPort = /^ListenPort = (\d+)$/m.exec(config)?.[1];
            if (listenPort) assert.equal((await lab!.wg(link, ["listen-port"])).trim(), listenPort);

            // `wg show dump`: one line per peer: key, psk, endpoint, allowed-ips, handshake, rx, tx, keepalive.
            const dumpPeers = (await lab!.wg(link, ["dump"]))
                .trim()
                .split("\n")
                .slice(1)
                .filter(Boolean)
                .map((line) => line.split("\t"));
            const rendered = peerSections(config);
            assert.equal(dumpPeers.length, rendered.length);
            for (const section of rendered) {
                const peer = dumpPeers.find((fields) => fields[0] === section.PublicKey);
                assert.ok(peer, `peer ${section["#"]} missing from the interface`);
                assert.equal(peer[3], section.AllowedIPs);
                assert.equal(peer[7], section.PersistentKeepalive ?? "off");
                if (section.Endpoint) assert.match(peer[2], /^(127\.0\.0\.1|\[::1\]|203\.0\.113\.10):51820$/);
            }

            const address = /^Address = (.*)$/m.exec(config)![1];
            const linkInfo = await lab!.ip(namespace, ["-o", "addr", "show", "dev", interfaceName]);
            assert.ok(linkInfo.includes(`inet ${address} `), linkInfo);
            const mtu = /^MTU = (\d+)$/m.exec(config)![1];
            assert.match(await lab!.ip(namespace, ["link", "show", "dev", interfaceName]), new RegExp(`mtu ${mtu} `));
            if (config.includes("PostUp = sysctl -w net.ipv4.ip_forward=1")) {
                assert.equal((await lab!.execChecked(namespace, ["sysctl", "-n", "net.ipv4.ip_forward"])).trim(), "1", "the hub's PostUp enables forwarding");
            }
            await lab!.stopWireGuard(link);
        });
    }
});
