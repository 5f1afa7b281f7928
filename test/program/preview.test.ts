// The program as a first `pulumi preview` of a new stack runs it: every provider-computed output
// unknown (ids, addresses, keys, tokens, command output), a provider whose config is unknown not
// configured. It must construct the same resources and throw nothing.
import { strict as assert } from "assert";
import * as path from "path";
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { readStackConfig, runPlan, unwrapSecrets } from "../../plan/plan";

describe("the program in preview mode (unknown provider outputs)", function () {
    this.timeout(120000);

    for (const [stack, dir] of [["homelab", path.join(__dirname, "../../examples/homelab")]]) {
        it(`${stack}: registers exactly the resources a full plan does`, async () => {
            const { config, secretKeys } = readStackConfig(stack, dir);
            const ids = (p: Awaited<ReturnType<typeof runPlan>>) => p.resources.map((r) => `${r.type}::${r.name}`).sort();
            assert.deepEqual(ids(await runPlan(stack, config, secretKeys, undefined, true)), ids(await runPlan(stack, config, secretKeys)));
        });
    }

    {
        it("prod: registers exactly the resources a full plan does, with unknowns where outputs feed inputs", async () => {
            const stack = "prod";
            const { config, secretKeys } = readStackConfig(stack);
            const full = await runPlan(stack, config, secretKeys);
            const preview = await runPlan(stack, config, secretKeys, undefined, true);
            const ids = (p: typeof full) => p.resources.map((r) => `${r.type}::${r.name}`).sort();
            assert.deepEqual(ids(preview), ids(full));
            // The inputs built from provider outputs are unknown, not made up: a host's files depend on its VM id and keys.
            const inputsOf = (type: string, name: string) =>
                unwrapSecrets(preview.resources.find((r) => r.type === type && r.name === name)!.inputs) as Record<string, unknown>;
            const vmMesh = inputsOf("command:remote:Command", "k3s-soh-re-mesh");
            assert.equal(vmMesh.stdin, unknownValue, "a VM's bundle carries its id and keys, unknown before it exists");
            assert.equal(vmMesh.connection, unknownValue, "and so is how to reach it");
            assert.equal(inputsOf("aws:ec2/eip:Eip", "k3s-soh-re").instance, unknownValue, "a new instance has no id yet");
            assert.equal(inputsOf("command:remote:Command", "phy01-firewall").create, "sh -s", "what needs no provider output stays known");
            assert.deepEqual(
                preview.violations.filter((v) => v.enforcement === "mandatory"),
                [],
                "unknowns are never a mandatory violation",
            );
        });
    }
});
