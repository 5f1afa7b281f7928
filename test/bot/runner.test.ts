// Contract test: AutomationStackRunner drives the real Automation API (LocalWorkspace, Stack, the
// event-log tailing, the SDK's CLI-error classification); only the `pulumi` binary is faked
// (test/bot/fakePulumi.ts).
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ConcurrentUpdateError, PulumiCommand } from "@pulumi/pulumi/automation";
import { AutomationStackRunner, redactOutputs, StackRunnerError } from "../../bot/runner";
import {
    APP_URLS,
    apiPortViolation,
    CLOUD_CONFLICT,
    DIY_LOCKED,
    FakePulumiCommand,
    FILE_EVENT_LOG_CLI_VERSION,
    KUBECONFIG,
    NO_SUCH_STACK,
    POLICY_PACK_DIR,
    PROJECT_DIR,
    sshWarning,
    summaryEvent,
    valueAfter,
} from "./fakePulumi";

async function rejection(promise: Promise<unknown>): Promise<StackRunnerError> {
    try {
        await promise;
    } catch (err) {
        assert.ok(err instanceof StackRunnerError, `expected a StackRunnerError, got ${String(err)}`);
        return err;
    }
    assert.fail("expected the call to fail");
}

describe("bot/runner: AutomationStackRunner against the real Automation API", () => {
    it("previews the selected stack on the project directory with the policy pack attached", async () => {
        const cli = new FakePulumiCommand();
        const lines: string[] = [];
        const summary = await new AutomationStackRunner({ pulumiCommand: cli }).preview("dev", { onOutput: (line) => lines.push(line) });

        assert.deepEqual(cli.verbs(), ["stack select", "preview"]);
        assert.ok(
            cli.calls.every((call) => call.cwd === PROJECT_DIR),
            "every CLI call runs in the project directory",
        );
        assert.deepEqual(cli.call("stack select").args, ["stack", "select", "--stack", "dev"]);

        const preview = cli.call("preview").args;
        assert.equal(valueAfter(preview, "--policy-pack"), POLICY_PACK_DIR);
        assert.ok(path.isAbsolute(POLICY_PACK_DIR));
        assert.equal(valueAfter(preview, "--stack"), "dev");
        assert.equal(valueAfter(preview, "--color"), "never");
        assert.equal(valueAfter(preview, "--exec-kind"), "auto.local", "runs the project's own program, not an inline one");
        assert.ok(valueAfter(preview, "--event-log"), "the summary comes from the engine's event log");
        assert.ok(!preview.includes("--yes") && !preview.includes("--skip-preview"));

        assert.deepEqual(summary, {
            stack: "dev",
            kind: "preview",
            changes: { create: 1, same: 40 },
            policyViolations: [
                {
                    policyPack: "hybrid-k3s",
                    policy: "ssh-open-to-internet",
                    enforcementLevel: "warning",
                    message: "SSH (22) is open to 0.0.0.0/0",
                    resourceUrn: "urn:pulumi:dev::hybrid-k3s::aws:ec2/securityGroup:SecurityGroup::k3s-sg",
                },
            ],
            durationMs: 12_500,
        });
        // Chunks split mid-line are rejoined; the unterminated last line is still delivered.
        assert.deepEqual(lines, [
            "Previewing update (dev)",
            "",
            "     Type    Name",
            " +   aws:ec2:Instance  aws-arm   create",
            "",
            "Resources:",
            "    + 1 to create",
            "    40 unchanged",
        ]);
    });

    it("updates without a prompt or a second preview, and reads the summary without secrets", async () => {
        const cli = new FakePulumiCommand();
        const summary = await new AutomationStackRunner({ pulumiCommand: cli }).up("acme/hybrid-k3s/prod");

        // After the update the SDK reads the outputs (masked, then plaintext) and the latest history entry.
        assert.deepEqual(cli.verbs(), ["stack select", "up", "stack output", "stack output", "stack history"]);
        assert.ok(cli.calls.every((call) => call.cwd === PROJECT_DIR));
        const up = cli.call("up").args;
        assert.deepEqual(up.slice(0, 3), ["up", "--yes", "--skip-preview"]);
        assert.equal(valueAfter(up, "--policy-pack"), POLICY_PACK_DIR);
        assert.equal(valueAfter(up, "--stack"), "acme/hybrid-k3s/prod");
        assert.equal(valueAfter(up, "--color"), "never");
        assert.ok(!cli.call("stack history").args.includes("--show-secrets"));

        assert.deepEqual(summary, {
            stack: "acme/hybrid-k3s/prod",
            kind: "update",
            changes: { create: 1, same: 40 },
            policyViolations: [],
            durationMs: 95_250,
        });
    });

    it("saves the preview's plan and applies only that plan, each run tagged with its message", async () => {
        const cli = new FakePulumiCommand();
        const runner = new AutomationStackRunner({ pulumiCommand: cli });
        const planDir = fs.mkdtempSync(path.join(os.tmpdir(), "plans-"));
        const planFile = path.join(planDir, "p1.json");
        try {
            await runner.preview("dev", { savePlanTo: planFile, message: "slack: <@U1> asked" });
            await runner.up("dev", { plan: planFile, message: "slack: <@U1> asked, <@U2> approved" });
        } finally {
            fs.rmSync(planDir, { recursive: true, force: true });
        }

        const preview = cli.call("preview").args;
        assert.equal(valueAfter(preview, "--save-plan"), planFile);
        assert.equal(valueAfter(preview, "--message"), "slack: <@U1> asked");
        const up = cli.call("up").args;
        assert.equal(valueAfter(up, "--plan"), planFile);
        assert.equal(valueAfter(up, "--message"), "slack: <@U1> asked, <@U2> approved");
    });

    it("reads the last update without secrets, and config values, a missing key as undefined", async () => {
        const cli = new FakePulumiCommand();
        cli.state.historyMessage = "slack: <@U1> asked";
        cli.state.config["hybrid-k3s:k3sVersion"] = "v1.36.1+k3s1";
        const runner = new AutomationStackRunner({ pulumiCommand: cli });

        assert.deepEqual(await runner.lastUpdate("dev"), {
            version: 7,
            kind: "update",
            result: "succeeded",
            startTime: new Date("2025-01-01T10:00:00.000Z"),
            endTime: new Date("2025-01-01T10:01:35.000Z"),
            message: "slack: <@U1> asked",
        });
        assert.deepEqual(cli.call("stack history").args, ["stack", "history", "--json", "--page-size", "1", "--page", "1", "--stack", "dev"]);
        assert.equal(await runner.getConfig("dev", "hybrid-k3s:k3sVersion"), "v1.36.1+k3s1");
        assert.equal(await runner.getConfig("dev", "hybrid-k3s:meshKind"), undefined);
    });

    it("sets a config value as plaintext, the value after --", async () => {
        const cli = new FakePulumiCommand();
        await new AutomationStackRunner({ pulumiCommand: cli }).setConfig("dev", "hybrid-k3s:k3sVersion", "v1.37.0+k3s1");
        assert.deepEqual(cli.call("config set").args, [
            "config",
            "set",
            "hybrid-k3s:k3sVersion",
            "--stack",
            "dev",
            "--plaintext",
            "--non-interactive",
            "--",
            "v1.37.0+k3s1",
        ]);
        assert.equal(cli.state.config["hybrid-k3s:k3sVersion"], "v1.37.0+k3s1");
    });

    for (const [backend, stderr] of [
        ["Pulumi Cloud", CLOUD_CONFLICT],
        ["a DIY backend", DIY_LOCKED],
    ]) {
        it(`reports "busy" when ${backend} says another update holds the stack`, async () => {
            const cli = new FakePulumiCommand({ up: { stderr, code: 255 } });
            const err = await rejection(new AutomationStackRunner({ pulumiCommand: cli }).up("dev"));

            assert.equal(err.reason, "busy");
            assert.equal(err.message, `Stack "dev" is busy: another update is running on it. Try again when it has finished.`);
            assert.ok(err.cause instanceof ConcurrentUpdateError, "the SDK itself classified the CLI error");
        });
    }

    it(`reports "not-found" for a missing stack and creates nothing`, async () => {
        const cli = new FakePulumiCommand({ "stack select": { stderr: NO_SUCH_STACK("prdo"), code: 255 } });
        const err = await rejection(new AutomationStackRunner({ pulumiCommand: cli }).preview("prdo"));

        assert.equal(err.reason, "not-found");
        assert.equal(err.message, `Stack "prdo" does not exist in this project.`);
        assert.deepEqual(cli.verbs(), ["stack select"]);
    });

    it("creates a missing stack only when asked to (createOrSelectStack: select, then init)", async () => {
        const cli = new FakePulumiCommand({ "stack select": { stderr: NO_SUCH_STACK("pr-42"), code: 255 } });
        await new AutomationStackRunner({ pulumiCommand: cli, createMissingStacks: true }).preview("pr-42");

        assert.deepEqual(cli.verbs(), ["stack select", "stack init", "preview"]);
        assert.deepEqual(cli.call("stack init").args, ["stack", "init", "pr-42"]);
    });

    it(`reports "policy-violation" with the violations when a mandatory policy fails the preview`, async () => {
        const cli = new FakePulumiCommand({
            preview: { events: [sshWarning, apiPortViolation, summaryEvent({ create: 1 }, 3)], stderr: "error: preview failed\n", code: 255 },
        });
        const err = await rejection(new AutomationStackRunner({ pulumiCommand: cli }).preview("dev"));

        assert.equal(err.reason, "policy-violation");
        assert.equal(err.message, `The preview of stack "dev" was blocked by policy: no-api-port-open-to-internet.`);
        assert.deepEqual(
            err.policyViolations.map((v) => [v.policy, v.enforcementLevel]),
            [
                ["ssh-open-to-internet", "warning"],
                ["no-api-port-open-to-internet", "mandatory"],
            ],
        );
    });

    it(`reports "failed" with a short message, keeping the CLI output only in the cause`, async () => {
        const stderr = "error: PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions\n";
        const cli = new FakePulumiCommand({ "stack select": { stderr, code: 255 } });
        const err = await rejection(new AutomationStackRunner({ pulumiCommand: cli }).outputs("dev"));

        assert.equal(err.reason, "failed");
        assert.equal(err.message, `Reading the outputs of stack "dev" failed; the Pulumi output is in the runner's log.`);
        assert.ok(String(err.cause).includes("PULUMI_ACCESS_TOKEN"));
    });

    it("reads outputs with their secret flags, and redactOutputs keeps every secret out", async () => {
        const cli = new FakePulumiCommand();
        const outputs = await new AutomationStackRunner({ pulumiCommand: cli }).outputs("dev");

        assert.deepEqual(cli.verbs(), ["stack select", "stack output", "stack output"]);
        assert.deepEqual(outputs, { kubeconfig: { value: KUBECONFIG, secret: true }, appUrls: { value: APP_URLS, secret: false } });

        const redacted = redactOutputs(outputs);
        assert.deepEqual(redacted, { kubeconfig: "[secret]", appUrls: APP_URLS });
        const shown = JSON.stringify(redacted);
        assert.ok(!shown.includes("TOP-SECRET-CLIENT-KEY") && !shown.includes("certificate-authority-data"));
    });

    for (const name of ["", "--yes", "-dev", "..", "../prod", "dev prod", "dev;rm", "acme/dev", "a/b/c/d", "acme//dev", "x".repeat(101)]) {
        it(`refuses the stack name ${JSON.stringify(name.length > 20 ? `${name.slice(0, 8)}…(${name.length})` : name)} before running anything`, async () => {
            const cli = new FakePulumiCommand();
            const runner = new AutomationStackRunner({ pulumiCommand: cli });
            for (const attempt of [runner.preview(name), runner.up(name), runner.outputs(name)]) {
                const err = await rejection(attempt);
                assert.equal(err.reason, "invalid-stack-name");
                assert.match(err.message, /is not a stack name/);
            }
            assert.deepEqual(cli.calls, []);
        });
    }

    it("accepts the stack names Pulumi does", async () => {
        for (const name of ["dev", "prod.eu-west_1", "acme/hybrid-k3s/prod", "x".repeat(100)]) {
            const cli = new FakePulumiCommand();
            await new AutomationStackRunner({ pulumiCommand: cli }).outputs(name);
            assert.equal(valueAfter(cli.call("stack select").args, "--stack"), name);
        }
    });

    // The fake above replaces PulumiCommand.run; this drives the SDK's real run (execa, the
    // --non-interactive flag, exit code and stderr classification) against a stand-in binary.
    it("through the SDK's real PulumiCommand.run: non-interactive, and a 409 from the CLI is busy", async () => {
        const binDir = fs.mkdtempSync(path.join(os.tmpdir(), "fake-pulumi-"));
        const argvLog = path.join(binDir, "argv.log");
        const fakeBinary = path.join(binDir, "pulumi");
        fs.writeFileSync(
            fakeBinary,
            [
                "#!/bin/sh",
                `printf '%s\\n' "$PULUMI_AUTOMATION_API" "$@" "--end--" >> '${argvLog}'`,
                `if [ "$1" = up ]; then printf '%s' '${CLOUD_CONFLICT.trim()}' >&2; exit 255; fi`,
            ].join("\n"),
            { mode: 0o755 },
        );
        const realCommand: PulumiCommand = Object.assign(Object.create(PulumiCommand.prototype) as PulumiCommand, {
            command: fakeBinary,
            version: FILE_EVENT_LOG_CLI_VERSION,
        });
        try {
            const err = await rejection(new AutomationStackRunner({ pulumiCommand: realCommand }).up("dev"));
            assert.equal(err.reason, "busy");

            const invocations = fs
                .readFileSync(argvLog, "utf8")
                .split("--end--\n")
                .filter(Boolean)
                .map((entry) => entry.trimEnd().split("\n"));
            assert.deepEqual(
                invocations.map((argv) => argv.slice(1, 3)),
                [
                    ["stack", "select"],
                    ["up", "--yes"],
                ],
            );
            for (const [automationApiEnv, ...argv] of invocations) {
                assert.equal(automationApiEnv, "true", "the CLI is told it runs under the Automation API");
                assert.ok(argv.includes("--non-interactive"), `pulumi ${argv.join(" ")} must not prompt`);
            }
        } finally {
            fs.rmSync(binDir, { recursive: true, force: true });
        }
    });
});
