// Every example stack under examples/ plans: valid config, every host's files, the policy passes,
// nothing held back (they describe running clusters).
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { firewallRulesetPath, haproxyConfigPath, k3sConfigPath, k3sVersionPath } from "../../components/paths";
import { otherFirewallsScriptPath } from "../../components/render/preflight";
import { readStackConfig, runPlan } from "../../plan/plan";

const examplesDir = path.join(__dirname, "../../examples");
const examples = fs.readdirSync(examplesDir).flatMap((dir) =>
    fs.readdirSync(path.join(examplesDir, dir)).flatMap((file) => {
        const stack = /^Pulumi\.(.+)\.yaml$/.exec(file)?.[1];
        return stack ? [{ stack, dir: path.join(examplesDir, dir) }] : [];
    }),
);

describe("example stacks", function () {
    this.timeout(120000);

    it("are the ones the README describes", () => {
        assert.deepEqual(
            examples
                .map((e) => e.stack)
                .filter((s) => ["homelab", "large", "shared-vps"].includes(s))
                .sort(),
            ["homelab", "large", "shared-vps"],
        );
    });

    for (const { stack, dir } of examples) {
        it(`${stack}: plans every host's files and passes the policy pack`, async () => {
            const { config, secretKeys } = readStackConfig(stack, dir);
            const plan = await runPlan(stack, config, secretKeys, "examples");
            assert.deepEqual(Object.keys(plan.nodeFiles).sort(), plan.spec.nodes.map((n) => n.name).sort(), "every host receives files");
            for (const node of plan.spec.nodes) {
                const files = plan.nodeFiles[node.name];
                assert.ok(files[firewallRulesetPath], `${node.name} gets its firewall`);
                const runsK3s = node.roles.includes("server") || node.roles.includes("agent");
                assert.equal(Boolean(files[k3sConfigPath]), runsK3s, `${node.name}: config.yaml exactly on k3s nodes`);
                if (runsK3s) assert.equal(files[k3sVersionPath].content, `${plan.spec.k3s.version}\n`);
            }
            assert.deepEqual(
                plan.violations.filter((v) => v.enforcement === "mandatory"),
                [],
            );
            assert.deepEqual(plan.outputs.heldBack, []);
        });
    }

    it("shared-vps: the VPS keeps mail and DNS open, sends the app hosts to Istio and every other name to its own web server", async () => {
        const { config, secretKeys } = readStackConfig("shared-vps", path.join(examplesDir, "shared-vps"));
        const plan = await runPlan("shared-vps", config, secretKeys, "examples");
        const files = plan.nodeFiles.vps;
        const input = files[firewallRulesetPath].content;
        assert.match(input, /^\t\ttcp dport \{ 25, 587 \} accept/m);
        assert.match(input, /^\t\tudp dport \{ 53 \} accept/m);
        const haproxy = files[haproxyConfigPath].content;
        assert.match(haproxy, /use_backend ingress_https if \{ req\.ssl_sni -i shop\.shared\.example\.org wiki\.shared\.example\.org \}/);
        assert.match(haproxy, /backend fallback_https\n {4}server fallback 127\.0\.0\.1:8443\n/);
        assert.match(haproxy, /backend fallback_http\n {4}server fallback 127\.0\.0\.1:8080\n/);
        assert.ok(files[otherFirewallsScriptPath], "an existing host gets the Docker/firewalld script");
    });
});
