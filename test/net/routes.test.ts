// Routes to a LAN behind a node, on packets: the prod stack with white-amd (a spoke behind NAT) as the
// gateway to 192.168.1.0/24, where a database listens. Every other spoke reaches it through the hub
// (its AllowedIPs), white-amd forwards it from the mesh (its ruleset) and masquerades onto the LAN;
// from the internet it stays out of reach, even aimed straight at the hub.
import assert from "node:assert/strict";
import { readStackConfig } from "../../plan/plan";
import { Namespace, NetLab, ProbeOutcome, requireRoot, requireTools } from "./netns";
import { buildInternet, formatTable, hasRole, loadRulesets, NetHost, placeNodes, planProd, startMesh } from "./topology";

const lan = { cidr: "192.168.1.0/24", gateway: "192.168.1.1", database: "192.168.1.10", port: 5432 };
const gatewayName = "white-amd";

describe("[root] a routed LAN behind a WireGuard spoke (namespaces, wireguard-go, nftables)", function () {
    this.timeout(120000);
    let lab: NetLab | undefined;
    const hosts: NetHost[] = [];
    let stranger: Namespace;
    let database: Namespace;

    before(async () => {
        requireRoot("the routed LAN test");
        requireTools(["ip", "ss", "nft", "wg", "wg-quick", "wireguard-go", "socat", "ping"]);
        const prodNodes = JSON.parse(readStackConfig("prod").config["hybrid-k3s:nodes"]) as Array<Record<string, unknown>>;
        const nodesWithLan = prodNodes.map((n) => (n.name === gatewayName ? { ...n, routes: [lan.cidr] } : n));
        const { nodes } = await planProd({ "hybrid-k3s:nodes": JSON.stringify(nodesWithLan) });
        lab = new NetLab("routes");
        const net = await buildInternet(lab);
        stranger = net.stranger;
        hosts.push(...(await placeNodes(lab, net, nodes)));
        const gateway = hosts.find((h) => h.node.name === gatewayName)!;
        // The LAN behind the gateway: one database host whose only route is its LAN: it knows nothing of the
        // mesh, so it can answer only because the gateway masquerades.
        database = await lab.addNamespace("lan-db");
        await lab.connect(
            { namespace: gateway.namespace, ifname: "eth1", addresses: [`${lan.gateway}/24`] },
            { namespace: database, ifname: "eth0", addresses: [`${lan.database}/24`] },
        );
        await lab.listenTcp(database, lan.port, `lan-db/${lan.port}`);
        // The internet is told the LAN sits behind the hub: a stranger's best shot at it.
        const hub = hosts.find((h) => hasRole(h.node, "hub"))!;
        await lab.addRoute(net.internet, lan.cidr, hub.node.publicAddress!);
        await loadRulesets(lab, hosts);
        await startMesh(lab, hosts);
        for (const h of hosts.filter((x) => x !== hub)) {
            for (let i = 0; i < 10 && !(await lab.ping(h.namespace, hub.node.meshAddress, 1)); i++);
        }
    });

    after(() => lab?.teardown());

    it("plans the gateway: the hub sends the LAN to it, every other spoke sends it to the hub", () => {
        const conf = (name: string) => hosts.find((h) => h.node.name === name)!.node.files["/etc/wireguard/wg0.conf"];
        assert.match(
            conf("phy01"),
            new RegExp(`# ${gatewayName}, gateway to ${lan.cidr}\\nPublicKey = .*\\nAllowedIPs = 10\\.0\\.0\\.2/32, ${lan.cidr.replace(/\./g, "\\.")}\\n`),
        );
        for (const h of hosts.filter((x) => !hasRole(x.node, "hub"))) {
            const allowed = /^AllowedIPs = (.*)$/m.exec(conf(h.node.name))![1];
            assert.equal(allowed, h.node.name === gatewayName ? "10.0.0.0/24" : `10.0.0.0/24, ${lan.cidr}`, h.node.name);
        }
        assert.match(conf(gatewayName), /^PostUp = sysctl -w net\.ipv4\.ip_forward=1$/m);
    });

    it("a LAN host behind one spoke answers clients on the other spokes and the hub, and no one on the internet", async () => {
        const probes: Array<{ from: string; ns: Namespace; expected: "open" | "closed"; got?: ProbeOutcome }> = [
            ...hosts.filter((h) => h.node.name !== gatewayName).map((h) => ({ from: h.node.name, ns: h.namespace, expected: "open" as const })),
            { from: "stranger", ns: stranger, expected: "closed" },
        ];
        await Promise.all(probes.map(async (p) => (p.got = await lab!.probeTcp(p.ns, lan.database, lan.port))));
        const ok = (p: (typeof probes)[number]) =>
            p.expected === "open" ? p.got?.state === "open" && p.got.detail === `lan-db/${lan.port}` : p.got?.state !== "open";
        const table = formatTable(
            `to lan-db ${lan.database}:${lan.port}`,
            ["from", "expected", "got", ""],
            probes.map((p) => [p.from, p.expected, `${p.got?.state} (${p.got?.detail})`, ok(p) ? "ok" : "FAIL"]),
        );
        console.log(table);
        assert.deepEqual(
            probes.filter((p) => !ok(p)).map((p) => p.from),
            [],
            table,
        );
        assert.equal(probes.filter((p) => p.expected === "open").length, hosts.length - 1);
    });
});
