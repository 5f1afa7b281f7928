import assert from "node:assert/strict";
import { join } from "path";
import { NftRulesetFacts, renderNftRuleset } from "../../components/render/nftables";
import { NetLab, requireRoot, requireTools } from "../net/netns";
import { firewallRulesetPath } from "../../components/paths";

const base: NftRulesetFacts = {
    hostName: "k3s-soh-re",
    meshInterface: "wg0",
    meshCidr: "10.0.0.0/24",
    clusterCidr: "10.42.0.0/16",
    serviceCidr: "10.43.0.0/16",
    sshPort: 22,
    isHub: false,
    meshListenPort: 51830,
    acceptMeshPort: false,
    isEdge: false,
};

const variants: Record<string, NftRulesetFacts> = {
    "hub + edge (phy01)": { ...base, hostName: "phy01", isHub: true, acceptMeshPort: true, isEdge: true },
    "hub only": { ...base, hostName: "hub", isHub: true, acceptMeshPort: true },
    "zerotier member": { ...base, hostName: "onprem1", meshInterface: "zt0", meshListenPort: 9993, acceptMeshPort: true },
    server: base,
    "edge agent (aws-arm)": { ...base, hostName: "aws-arm", isEdge: true },
    "agent behind NAT": { ...base, hostName: "white-amd" },
    "custom ssh port, interface, ranges and extra ports": {
        ...base,
        hostName: "odd",
        meshInterface: "mesh0",
        meshCidr: "172.31.250.0/24",
        clusterCidr: "10.244.0.0/16",
        serviceCidr: "10.96.0.0/12",
        sshPort: 2222,
        meshListenPort: 41641,
        isHub: true,
        acceptMeshPort: true,
        extraTcpPorts: [8443, 25, 8443],
        extraUdpPorts: [53, 443],
    },
};

/** Rule lines of one chain, comments stripped. */
function chain(ruleset: string, name: string): string[] {
    const start = ruleset.indexOf(`\tchain ${name} {`);
    assert.ok(start >= 0, `chain ${name} missing`);
    const body = ruleset.slice(start, ruleset.indexOf("\n\t}", start)).split("\n").slice(1);
    return body
        .map((line) => line.trim())
        .filter((line) => line !== "" && !line.startsWith("#"))
        .map((line) => line.replace(/ comment ".*"$/, ""));
}

function indexOfRule(rules: string[], pattern: RegExp): number {
    return rules.findIndex((rule) => pattern.test(rule));
}

describe("renderNftRuleset", () => {
    it("replaces only its own table, idempotently, and never flushes the whole ruleset", () => {
        const ruleset = renderNftRuleset(base);
        assert.ok(ruleset.startsWith("#!/usr/sbin/nft -f\n"));
        assert.doesNotMatch(ruleset, /^\s*flush ruleset/m);
        const statements = ruleset.split("\n").filter((line) => /^(table|delete)/.test(line));
        assert.deepEqual(statements, ["table inet hybrid_k3s {}", "delete table inet hybrid_k3s", "table inet hybrid_k3s {"]);
    });

    it("accepts SSH, the mesh and established traffic before any reject, on every variant", () => {
        for (const [variant, facts] of Object.entries(variants)) {
            const input = chain(renderNftRuleset(facts), "input");
            const firstReject = indexOfRule(input, /reject/);
            for (const needed of [
                /^ct state established,related accept$/,
                new RegExp(`^tcp dport ${facts.sshPort} accept$`),
                new RegExp(`^iifname "${facts.meshInterface}" accept$`),
            ]) {
                const at = indexOfRule(input, needed);
                assert.ok(at >= 0 && at < firstReject, `${variant}: ${needed} must come before the first reject`);
            }
            assert.match(input[0], /policy accept;$/, `${variant}: policy stays accept`);
        }
    });

    it("opens the mesh's own port on the WireGuard hub and on every ZeroTier member, before the mesh-only UDP reject", () => {
        for (const [variant, port] of [
            ["hub + edge (phy01)", 51830],
            ["zerotier member", 9993],
        ] as const) {
            const input = chain(renderNftRuleset(variants[variant]), "input");
            const accept = indexOfRule(input, new RegExp(`^udp dport ${port} accept$`));
            assert.ok(accept >= 0 && accept < indexOfRule(input, /^udp dport .* reject/), variant);
        }
        const spoke = chain(renderNftRuleset(base), "input");
        assert.equal(indexOfRule(spoke, /^udp dport \d+ accept$/), -1, "a WireGuard spoke has no public UDP port");
    });

    it("opens 80 and 443 on edge hosts only", () => {
        assert.ok(chain(renderNftRuleset(variants["edge agent (aws-arm)"]), "input").includes("tcp dport { 80, 443 } accept"));
        // Public traffic is never forwarded into the pod network: the edge proxy on the host takes it.
        assert.ok(!chain(renderNftRuleset(variants["edge agent (aws-arm)"]), "forward").some((rule) => /80, 443/.test(rule)));
        for (const facts of [base, variants["hub only"]]) {
            const ruleset = renderNftRuleset(facts);
            assert.doesNotMatch(ruleset, /dport \{ 80, 443 \}|proto-dst/);
        }
    });

    it("rejects k3s ports and everything else from outside the mesh", () => {
        for (const [variant, facts] of Object.entries(variants)) {
            const input = chain(renderNftRuleset(facts), "input");
            assert.ok(input.includes("tcp dport { 2379-2380, 6443, 10250 } counter reject with tcp reset"), variant);
            assert.ok(input.includes("udp dport { 8472, 51820-51821 } counter reject with icmpx admin-prohibited"), variant);
            assert.deepEqual(
                input.slice(-2),
                [
                    `iifname != "${facts.meshInterface}" meta l4proto tcp counter reject with tcp reset`,
                    `iifname != "${facts.meshInterface}" counter reject with icmpx admin-prohibited`,
                ],
                variant,
            );
        }
    });

    it("trusts cluster source addresses only on pod interfaces, and drops forged mesh sources", () => {
        const input = chain(renderNftRuleset(base), "input");
        const clusterRules = input.filter((rule) => rule.includes("@cluster_ranges"));
        assert.deepEqual(clusterRules, ['iifname { "cni0", "flannel*" } ip saddr @cluster_ranges accept']);
        const forged = indexOfRule(input, /^iifname != "wg0" ip saddr 10\.0\.0\.0\/24 counter drop$/);
        assert.ok(forged >= 0 && forged < indexOfRule(input, /^tcp dport 22 accept$/));
    });

    it("forwards spoke to spoke on the hub only, and never from outside into the mesh or pods", () => {
        const hub = chain(renderNftRuleset(variants["hub only"]), "forward");
        assert.ok(hub.includes('iifname "wg0" oifname "wg0" accept'));
        const spoke = chain(renderNftRuleset(base), "forward");
        assert.ok(!spoke.includes('iifname "wg0" oifname "wg0" accept'));
        for (const rules of [hub, spoke]) {
            assert.ok(rules.includes('iifname { "cni0", "flannel*" } accept'), "pod traffic keeps flowing");
            assert.deepEqual(rules.slice(-3, -1), [
                'oifname "wg0" counter reject with icmpx admin-prohibited',
                'oifname { "cni0", "flannel*" } counter reject with icmpx admin-prohibited',
            ]);
        }
    });

    it("routes for nobody: the last forward rule drops what crosses two interfaces that are neither pods nor the host's containers", () => {
        for (const [variant, facts] of Object.entries(variants)) {
            const rules = chain(renderNftRuleset(facts), "forward");
            const last = rules[rules.length - 1];
            const match = /^iifname != \{ (.*) \} oifname != \{ (.*) \} counter drop$/.exec(last);
            assert.ok(match && match[1] === match[2], `${variant}: ${last}`);
            const names = match![1].split(", ");
            assert.ok(!names.includes(`"${facts.meshInterface}"`), `${variant}: the mesh to the internet is routing too`);
            for (const local of ['"cni0"', '"flannel*"', '"docker0"', '"br-*"', '"virbr*"']) assert.ok(names.includes(local), `${variant}: ${local}`);
        }
    });

    it("opens publicUdpPorts, in port order, before the mesh-only UDP reject; refuses a flannel port", () => {
        const input = chain(renderNftRuleset(variants["custom ssh port, interface, ranges and extra ports"]), "input");
        const accept = input.indexOf("udp dport { 53, 443 } accept");
        assert.ok(accept >= 0 && accept < indexOfRule(input, /^udp dport .* reject/));
        assert.equal(indexOfRule(chain(renderNftRuleset(base), "input"), /^udp dport \{ .* \} accept$/), -1);
        assert.throws(() => renderNftRuleset({ ...base, extraUdpPorts: [8472] }), /udp 8472 is a flannel port/);
        assert.throws(() => renderNftRuleset({ ...base, extraUdpPorts: [70000] }), /extraUdpPorts 70000 is not a port/);
    });

    it("is deterministic: extra ports in any order, repeated, give one text", () => {
        const a = renderNftRuleset({ ...base, extraTcpPorts: [8443, 25, 8443] });
        assert.equal(renderNftRuleset({ ...base, extraTcpPorts: [25, 8443] }), a);
        assert.ok(chain(a, "input").includes("tcp dport { 25, 8443 } accept"));
    });

    it("refuses input that would expose k3s or render a broken ruleset", () => {
        assert.throws(() => renderNftRuleset({ ...base, extraTcpPorts: [6443] }), /6443 is a k3s port/);
        assert.throws(() => renderNftRuleset({ ...base, extraTcpPorts: [2380] }), /2380 is a k3s port/);
        assert.throws(() => renderNftRuleset({ ...base, sshPort: 10250 }), /10250 is a k3s port/);
        assert.throws(() => renderNftRuleset({ ...base, meshCidr: "10.0.0.0/8" }), /overlap/);
        assert.throws(() => renderNftRuleset({ ...base, meshInterface: 'wg0" accept' }), /interface/);
        assert.throws(() => renderNftRuleset({ ...base, hostName: "a\nflush ruleset" }), /host name/);
        assert.throws(() => renderNftRuleset({ ...base, sshPort: 0 }), /not a port/);
    });
});

describe("[root] nftables rulesets in the real nft", function () {
    this.timeout(30000);
    let lab: NetLab | undefined;

    before(() => {
        requireRoot("the nftables ruleset check");
        requireTools(["ip", "nft"]);
        lab = new NetLab("nftrender");
    });
    after(() => lab?.teardown());

    for (const [variant, facts] of Object.entries(variants)) {
        it(`${variant}: passes nft -c, and loading it twice leaves one table`, async () => {
            const host = variant
                .replace(/[^a-z0-9]+/g, "-")
                .replace(/^-|-$/g, "")
                .slice(0, 30);
            const root = lab!.writeHostFiles(host, { [firewallRulesetPath]: renderNftRuleset(facts) });
            const namespace = await lab!.addNamespace(host);
            const file = join(root, firewallRulesetPath);
            await lab!.checkNftRuleset(namespace, file);
            await lab!.loadNftRuleset(namespace, file);
            await lab!.loadNftRuleset(namespace, file);
            const tables = await lab!.execChecked(namespace, ["nft", "list", "tables"]);
            assert.equal(tables.trim(), "table inet hybrid_k3s");
            const loaded = await lab!.execChecked(namespace, ["nft", "list", "table", "inet", "hybrid_k3s"]);
            assert.equal(loaded.match(/chain input \{/g)?.length, 1);
            assert.equal(loaded.match(/chain forward \{/g)?.length, 1);
        });
    }

    it("reloading keeps the tables k3s, kube-proxy and flannel put there (no flush ruleset)", async () => {
        const root = lab!.writeHostFiles("reload", { [firewallRulesetPath]: renderNftRuleset(base) });
        const namespace = await lab!.addNamespace("reload");
        // What iptables-nft leaves behind for k3s: its own ip tables with chains and rules.
        await lab!.execChecked(namespace, ["nft", "-f", "-"], {
            input: [
                "table ip filter {",
                "\tchain KUBE-FIREWALL {\n\t\tip saddr != 127.0.0.0/8 ip daddr 127.0.0.0/8 drop\n\t}",
                "\tchain INPUT {\n\t\ttype filter hook input priority filter; policy accept;\n\t\tjump KUBE-FIREWALL\n\t}",
                "}",
                "table ip nat {",
                "\tchain POSTROUTING {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\tip saddr 10.42.0.0/16 ip daddr != 10.42.0.0/16 masquerade\n\t}",
                "}",
                "",
            ].join("\n"),
        });
        const before = await lab!.execChecked(namespace, ["nft", "list", "table", "ip", "filter"]);
        await lab!.loadNftRuleset(namespace, join(root, firewallRulesetPath));
        await lab!.loadNftRuleset(namespace, join(root, firewallRulesetPath));
        assert.equal(await lab!.execChecked(namespace, ["nft", "list", "table", "ip", "filter"]), before);
        const tables = (await lab!.execChecked(namespace, ["nft", "list", "tables"])).trim().split("\n").sort();
        assert.deepEqual(tables, ["table inet hybrid_k3s", "table ip filter", "table ip nat"]);
    });
});
