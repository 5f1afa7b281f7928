// The host firewall as the program plans it, once per mesh kind: the prod stack (WireGuard, hub and
// spokes) and the zerotier example (no hub, every member reachable on ZeroTier's own port). Each
// host's ruleset must trust exactly its kind's interface and open exactly its kind's public port.
import assert from "node:assert/strict";
import * as path from "path";
import { firewallRulesetPath, zerotierInterfaceName } from "../../components/paths";
import { zerotierPort } from "../../components/ports";
import { readStackConfig, runPlan, PlanResult } from "../../plan/plan";

const kinds = [
    { kind: "wireguard", stack: "prod", dir: undefined },
    { kind: "zerotier", stack: "zerotier", dir: path.join(__dirname, "../../examples/zerotier") },
] as const;

/** The input chain's rules, comments stripped. */
function inputRules(ruleset: string): string[] {
    const start = ruleset.indexOf("\tchain input {");
    return ruleset
        .slice(start, ruleset.indexOf("\n\t}", start))
        .split("\n")
        .slice(1)
        .map((line) => line.trim().replace(/ comment ".*"$/, ""))
        .filter((line) => line !== "" && !line.startsWith("#"));
}

describe("host firewall per mesh kind (planned)", function () {
    this.timeout(120000);
    for (const { kind, stack, dir } of kinds) {
        describe(kind, () => {
            let plan: PlanResult;
            before(async () => {
                const { config, secretKeys } = readStackConfig(stack, dir);
                plan = await runPlan(stack, config, secretKeys, "meshkinds");
                assert.equal(plan.spec.mesh.kind, kind);
            });

            it("trusts the kind's own interface on every host, and never names the other kind's", () => {
                const iface = plan.spec.mesh.interfaceName;
                assert.equal(iface, kind === "zerotier" ? zerotierInterfaceName : "wg0");
                const other = kind === "zerotier" ? "wg0" : zerotierInterfaceName;
                for (const node of plan.spec.nodes) {
                    const ruleset = plan.nodeFiles[node.name][firewallRulesetPath].content;
                    const rules = inputRules(ruleset);
                    assert.ok(rules.includes(`iifname "${iface}" accept`), `${node.name}: trusts ${iface}`);
                    assert.ok(rules.includes(`iifname != "${iface}" ip saddr ${plan.spec.mesh.cidr} counter drop`), `${node.name}: forged mesh sources`);
                    assert.doesNotMatch(ruleset, new RegExp(`"${other}"`), `${node.name}: names ${other}`);
                }
            });

            it("accepts the mesh's public UDP port from anywhere exactly where peers connect, before any reject", () => {
                const expected = (roles: string[]) =>
                    kind === "zerotier" ? [`udp dport ${zerotierPort} accept`] : roles.includes("hub") ? [`udp dport ${plan.spec.mesh.listenPort} accept`] : [];
                for (const node of plan.spec.nodes) {
                    const rules = inputRules(plan.nodeFiles[node.name][firewallRulesetPath].content);
                    const accepts = rules.filter((r) => /^udp dport \d+ accept$/.test(r));
                    assert.deepEqual(accepts, expected(node.roles), node.name);
                    for (const accept of accepts) {
                        assert.ok(rules.indexOf(accept) < rules.findIndex((r) => /reject/.test(r)), `${node.name}: ${accept} before the rejects`);
                    }
                }
            });
        });
    }
});
