// The host firewall check: the reader on rulesets the program renders, and on hand-edited bad ones.
import { strict as assert } from "node:assert";
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { NftRulesetFacts, renderNftRuleset } from "../../components/render/nftables";
import { meshLeaks, parseRule } from "../../policy/nftables";
import { defaultPolicyConfig, evaluate, PlannedResource } from "../../policy/policies";
import { HOST_FIREWALL, summary, UNVERIFIED } from "./helpers";

const spoke: NftRulesetFacts = {
    hostName: "aws-arm",
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

const leaks = (ruleset: string) => meshLeaks(ruleset, "wg0", "10.0.0.0/24", defaultPolicyConfig.apiPorts);

/** The spoke's ruleset with `rule` inserted just before the k3s-port rejects. */
function withRuleBeforeRejects(rule: string, facts = spoke): string {
    const ruleset = renderNftRuleset(facts);
    const rejects = ruleset.indexOf("\t\ttcp dport { 2379-2380");
    assert.ok(rejects > 0);
    return `${ruleset.slice(0, rejects)}\t\t${rule}\n${ruleset.slice(rejects)}`;
}

describe("nftables reader", () => {
    it("reads the rule shapes of the rendered input chain", () => {
        const rule = parseRule('iifname != "wg0" meta l4proto tcp counter reject with tcp reset');
        assert.deepEqual(rule, {
            text: 'iifname != "wg0" meta l4proto tcp counter reject with tcp reset',
            matches: [
                { key: "iifname", negated: true, values: ["wg0"] },
                { key: "meta l4proto", negated: false, values: ["tcp"] },
            ],
            verdict: "reject",
        });
        assert.deepEqual(parseRule('iifname { "cni0", "flannel*" } ip saddr @cluster_ranges accept').matches, [
            { key: "iifname", negated: false, values: ["cni0", "flannel*"] },
            { key: "ip saddr", negated: false, values: ["@cluster_ranges"] },
        ]);
        assert.deepEqual(parseRule("jump allow_api"), { text: "jump allow_api", matches: [], unreadable: '"jump"' });
    });

    const rendered: Array<[string, NftRulesetFacts]> = [
        ["a spoke", spoke],
        ["an edge with extra public ports", { ...spoke, isEdge: true, extraTcpPorts: [8080, 25] }],
        ["a WireGuard hub on 51830", { ...spoke, isHub: true }],
        ["a ZeroTier member (9993)", { ...spoke, meshInterface: "zt0", isHub: true, meshListenPort: 9993 }],
        ["a host on another SSH port and mesh", { ...spoke, sshPort: 2222, meshCidr: "10.9.0.0/16", meshInterface: "mesh0" }],
    ];
    for (const [what, facts] of rendered) {
        it(`passes the rendered ruleset of ${what}`, () => {
            assert.deepEqual(meshLeaks(renderNftRuleset(facts), facts.meshInterface, facts.meshCidr, defaultPolicyConfig.apiPorts), []);
        });
    }

    it("refuses a WireGuard hub listening on 51820, flannel's wireguard-native port (the config refuses it too)", () => {
        assert.deepEqual(leaks(renderNftRuleset({ ...spoke, isHub: true, acceptMeshPort: true, meshListenPort: 51820 })), [
            'accepts from outside the mesh with "udp dport 51820 accept": 51820/udp',
        ]);
    });

    const bad: Array<[string, string, string]> = [
        ["a plain accept of the API port", "tcp dport 6443 accept", 'accepts from outside the mesh with "tcp dport 6443 accept": 6443/tcp'],
        ["a port range", "tcp dport { 80, 6000-7000 } accept", 'accepts from outside the mesh with "tcp dport { 80, 6000-7000 } accept": 6443/tcp'],
        ["every UDP packet", "meta l4proto udp accept", 'accepts from outside the mesh with "meta l4proto udp accept": 8472/udp, 51820/udp, 51821/udp'],
        ["th dport (either transport)", "th dport 8472 accept", 'accepts from outside the mesh with "th dport 8472 accept": 8472/udp'],
        ["a negated port", "tcp dport != 22 accept", 'accepts from outside the mesh with "tcp dport != 22 accept": 6443/tcp, 10250/tcp, 2379/tcp, 2380/tcp'],
        ["another interface", 'iifname "eth0" tcp dport 10250 accept', 'accepts from outside the mesh with "iifname "eth0" tcp dport 10250 accept": 10250/tcp'],
        [
            "outside the mesh interface",
            'iifname != "wg0" tcp dport 6443 accept',
            'accepts from outside the mesh with "iifname != "wg0" tcp dport 6443 accept": 6443/tcp',
        ],
        [
            "a LAN source outside the mesh",
            "ip saddr 192.168.1.0/24 tcp dport 6443 accept",
            'accepts from outside the mesh with "ip saddr 192.168.1.0/24 tcp dport 6443 accept": 6443/tcp',
        ],
        [
            "a jump the reader cannot follow",
            "jump allow_api",
            'cannot read the rule "jump allow_api" ("jump"), which may accept: 6443/tcp, 10250/tcp, 2379/tcp, 2380/tcp, 8472/udp, 51820/udp, 51821/udp',
        ],
        [
            "a port by service name",
            "tcp dport { https, kubernetes } accept",
            'cannot read the rule "tcp dport { https, kubernetes } accept" (a port it names), which may accept: 6443/tcp, 10250/tcp, 2379/tcp, 2380/tcp',
        ],
    ];
    for (const [what, rule, leak] of bad) {
        it(`refuses ${what} before the rejects`, () => {
            assert.deepEqual(leaks(withRuleBeforeRejects(rule)), [leak]);
        });
    }

    const inside = [
        'iifname "wg0" tcp dport 6443 accept',
        "ip saddr 10.0.0.0/24 tcp dport 6443 accept",
        "ct state established,related tcp dport 6443 accept",
        'iif "lo" tcp dport 6443 accept',
        "tcp dport 6443 counter",
    ];
    for (const rule of inside) {
        it(`passes "${rule}" (mesh, replies, loopback, or no verdict)`, () => {
            assert.deepEqual(leaks(withRuleBeforeRejects(rule)), []);
        });
    }

    it("passes an accept placed after the rejects", () => {
        const ruleset = renderNftRuleset(spoke).replace("\t}\n\n\tchain forward", "\t\ttcp dport 6443 accept\n\t}\n\n\tchain forward");
        assert.ok(ruleset.includes("tcp dport 6443 accept"));
        assert.deepEqual(leaks(ruleset), []);
    });

    it("refuses a ruleset whose rejects are gone under policy accept, and passes one whose policy drops", () => {
        const rejectsGone = renderNftRuleset(spoke)
            .split("\n")
            .filter((line) => !line.includes("reject"))
            .join("\n");
        assert.deepEqual(leaks(rejectsGone), [
            "has no reject for it before the chain's policy accept: 6443/tcp, 10250/tcp, 2379/tcp, 2380/tcp, 8472/udp, 51820/udp, 51821/udp",
        ]);
        assert.deepEqual(leaks(rejectsGone.replace("hook input priority filter + 10; policy accept;", "hook input priority filter + 10; policy drop;")), []);
    });

    it("refuses a ruleset with no input chain", () => {
        assert.deepEqual(leaks("table inet hybrid_k3s {\n}\n"), [
            "has no input chain (type filter hook input), so nothing keeps the watched ports on the mesh",
        ]);
    });
});

describe(HOST_FIREWALL, () => {
    const hostRuleset = (ruleset: unknown, name = "aws-arm-ruleset"): PlannedResource => ({
        type: "hybrid-k3s:firewall:HostRuleset",
        name,
        props: { host: "aws-arm", meshInterface: "wg0", meshCidr: "10.0.0.0/24", ruleset },
    });

    it("passes the program's ruleset", () => {
        assert.deepEqual(evaluate([hostRuleset(renderNftRuleset(spoke))]), []);
    });

    it("is a mandatory violation naming the host, the rule and the ports", () => {
        const found = evaluate([hostRuleset(withRuleBeforeRejects("tcp dport 6443 accept"))]);
        assert.deepEqual(summary(found), [
            [
                HOST_FIREWALL,
                "aws-arm-ruleset",
                'HostRuleset "aws-arm-ruleset" (host aws-arm) accepts from outside the mesh with "tcp dport 6443 accept": 6443/tcp',
            ],
        ]);
        assert.equal(found[0].enforcement, "mandatory");
    });

    it("honours the configured ports", () => {
        const ruleset = withRuleBeforeRejects("tcp dport 8443 accept");
        const config = { apiPorts: [{ protocol: "tcp" as const, from: 8443 }] };
        assert.deepEqual(summary(evaluate([hostRuleset(ruleset)], config)), [
            [
                HOST_FIREWALL,
                "aws-arm-ruleset",
                'HostRuleset "aws-arm-ruleset" (host aws-arm) accepts from outside the mesh with "tcp dport 8443 accept": 8443/tcp',
            ],
        ]);
    });

    it("names a ruleset unknown during preview as an advisory", () => {
        assert.deepEqual(summary(evaluate([hostRuleset(unknownValue)])), [
            [UNVERIFIED, "aws-arm-ruleset", 'HostRuleset "aws-arm-ruleset" cannot be checked: ruleset unknown during preview'],
        ]);
    });
});
