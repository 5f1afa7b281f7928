// Routes to LANs behind nodes, as the config reads them and the plan ships them: refused when they
// would shadow the mesh, pods, services or each other; on ZeroTier a managed route via the gateway;
// on the gateway a ruleset that forwards them from the mesh only and masquerades onto the LAN.
import assert from "node:assert/strict";
import * as path from "path";
import { ConfigError, parseClusterConfig, rawConfigFromPulumi } from "../../components/config";
import { firewallRulesetPath, gatewaySysctlPath } from "../../components/paths";
import { readStackConfig, runPlan, unwrapSecrets } from "../../plan/plan";

const zerotierDir = path.join(__dirname, "../../examples/zerotier");

function rawWithRoutes(routes: Record<string, string[]>): Record<string, unknown> {
    const raw = rawConfigFromPulumi(readStackConfig("prod").config);
    raw.nodes = (raw.nodes as Array<Record<string, unknown>>).map((n) => (routes[n.name as string] ? { ...n, routes: routes[n.name as string] } : n));
    return raw;
}

function problemsOf(raw: Record<string, unknown>): string[] {
    try {
        parseClusterConfig(raw);
        return [];
    } catch (err) {
        assert.ok(err instanceof ConfigError, String(err));
        return err.problems;
    }
}

describe("node routes (LANs behind nodes)", function () {
    this.timeout(120000);

    it("reads them onto the node", () => {
        const spec = parseClusterConfig(rawWithRoutes({ "white-amd": ["192.168.1.0/24"] }));
        assert.deepEqual(spec.nodes.find((n) => n.name === "white-amd")?.routes, ["192.168.1.0/24"]);
    });

    it("refuses a route that is not a network, or shadows the mesh, pods, services or another node's LAN, naming the field", () => {
        assert.deepEqual(
            problemsOf(
                rawWithRoutes({
                    "white-amd": ["192.168.1.7/24", "10.0.0.128/25", "10.42.3.0/24"],
                    "lenovo-laptop": ["10.43.0.0/16", "192.168.0.0/16"],
                    "black-intel": ["192.168.1.0/24"],
                }),
            ),
            [
                'nodes[4].routes: "192.168.1.7/24" is not an IPv4 CIDR with its network address (e.g. 192.168.1.0/24)',
                "nodes[4].routes[0]: 10.0.0.128/25 overlaps meshCidr 10.0.0.0/24; a LAN behind a node must be outside it",
                "nodes[4].routes[1]: 10.42.3.0/24 overlaps clusterCidr 10.42.0.0/16; a LAN behind a node must be outside it",
                "nodes[5].routes[0]: 10.43.0.0/16 overlaps serviceCidr 10.43.0.0/16; a LAN behind a node must be outside it",
                "nodes[6].routes[0]: 192.168.1.0/24 overlaps 192.168.0.0/16 routed by lenovo-laptop; each LAN is routed by one node",
            ],
        );
    });

    it("zerotier: Central must push the mesh and each LAN via its gateway; the gateway forwards and guards them", async () => {
        const { config, secretKeys } = readStackConfig("zerotier", zerotierDir);
        const plan = await runPlan("zerotier", config, secretKeys, "routes");
        const gateway = plan.spec.nodes.find((n) => (n.routes ?? []).length > 0)!;
        assert.equal(gateway.name, "rack-1");
        for (const node of plan.spec.nodes) {
            // A public host's step is built from its join step's (secret) output, so its command is secret too.
            const create = String(
                (unwrapSecrets(plan.resources.find((r) => r.name === `${node.name}-mesh-authorize`)!.inputs) as Record<string, unknown>).create,
            );
            const wanted = [...create.matchAll(/^if ! zt_has_route '([^']*)' '([^']*)'/gm)].map((m) => [m[1], m[2]]);
            assert.deepEqual(wanted, [
                [plan.spec.mesh.cidr, ""],
                ["192.168.10.0/24", `"via":"${gateway.meshAddress}"`],
            ]);
            const files = plan.nodeFiles[node.name];
            assert.equal(files[gatewaySysctlPath]?.content, node === gateway ? "net.ipv4.ip_forward = 1\n" : undefined, node.name);
            const ruleset = files[firewallRulesetPath].content;
            assert.equal(/set lan_routes/.test(ruleset), node === gateway, node.name);
        }
        const ruleset = plan.nodeFiles[gateway.name][firewallRulesetPath].content;
        assert.match(ruleset, /elements = \{ 192\.168\.10\.0\/24 \}/);
        assert.match(ruleset, /iifname "zt0" ip daddr @lan_routes accept/);
        assert.match(ruleset, /ip daddr @lan_routes counter reject with icmpx admin-prohibited/);
        assert.match(ruleset, /ip saddr 10\.147\.17\.0\/24 ip daddr @lan_routes oifname != "zt0" masquerade/);
    });
});
