// Contract test: AutomationStackRunner drives the real Automation API (LocalWorkspace, Stack, the
// event-log tailing, the SDK's CLI-error classification); only the `pulumi` binary is faked. The
// fake records each argument list the SDK would run and answers as the CLI does.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ConcurrentUpdateError, EngineEvent, PulumiCommand } from "@pulumi/pulumi/automation";
import { SemVer } from "semver";
import { AutomationStackRunner, redactOutputs, StackRunnerError } from "../../bot/runner";

// @internal in the SDK (absent from its .d.ts), so typed here by hand. They are the real ones, so
// which stderr becomes ConcurrentUpdateError or StackNotFoundError is decided by the SDK's own code.
const { CommandResult } = require("@pulumi/pulumi/automation/cmd") as {
    CommandResult: new (stdout: string, stderr: string, code: number) => object;
};
const { createCommandError } = require("@pulumi/pulumi/automation/errors") as {
    createCommandError: (result: object) => Error;
};

const PROJECT_DIR = path.resolve(__dirname, "../..");
const POLICY_PACK_DIR = path.join(PROJECT_DIR, "policy");

// Below 3.205 the SDK tails an event-log file instead of starting a gRPC event server.
const FILE_EVENT_LOG_CLI_VERSION = new SemVer("3.204.0");

// What the CLI prints (stderr) in the cases the runner must tell apart.
const CLOUD_CONFLICT = "error: [409] Conflict: Another update is currently in progress.\n";
const DIY_LOCKED = "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.\n";
const NO_SUCH_STACK = (stack: string) => `error: no stack named '${stack}' found\n`;

const KUBECONFIG = "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: LS0tQ0EtREFUQS0tLQ==\n    server: https://10.0.0.2:6443\nusers:\n- user:\n    client-key-data: TOP-SECRET-CLIENT-KEY\n";
const APP_URLS = ["https://app.example.org"];

interface CliCall {
    args: string[];
    cwd: string;
}

interface CliReply {
    stdout?: string;
    stderr?: string;
    code?: number;
    /** Streamed to onOutput in these chunks, as stdout arrives from a real process. */
    outputChunks?: string[];
    /** Written to the `--event-log` file, one JSON line each, as the engine does. */
    events?: EngineEvent[];
}

/** "preview", "up", "stack select", "stack output", ...: what a canned reply is keyed by. */
type CliVerb = string;
const verbOf = (args: string[]): CliVerb => (args[0] === "stack" ? `stack ${args[1]}` : args[0]);

const valueAfter = (args: string[], flag: string): string | undefined => {
    const at = args.indexOf(flag);
    return at < 0 ? undefined : args[at + 1];
};

let sequence = 0;
const event = (body: Omit<EngineEvent, "sequence" | "timestamp">): EngineEvent => ({ sequence: sequence++, timestamp: 1_700_000_000, ...body });

const summaryEvent = (resourceChanges: Record<string, number>, durationSeconds: number): EngineEvent =>
    event({ summaryEvent: { maybeCorrupt: false, durationSeconds, resourceChanges, policyPacks: { "hybrid-k3s": "0.1.0" } } });

const sshWarning = event({
    policyEvent: {
        resourceUrn: "urn:pulumi:dev::hybrid-k3s::aws:ec2/securityGroup:SecurityGroup::k3s-sg",
        message: "SSH (22) is open to 0.0.0.0/0\n",
        color: "never",
        policyName: "ssh-open-to-internet",
        policyPackName: "hybrid-k3s",
        policyPackVersion: "0.1.0",
        policyPackVersionTag: "0.1.0",
        enforcementLevel: "warning",
    },
});

const apiPortViolation = event({
    policyEvent: {
        resourceUrn: "urn:pulumi:dev::hybrid-k3s::aws:ec2/securityGroup:SecurityGroup::k3s-sg",
        message: "port 6443 (API port) is open to 0.0.0.0/0",
        color: "never",
        policyName: "no-api-port-open-to-internet",
        policyPackName: "hybrid-k3s",
        policyPackVersion: "0.1.0",
        policyPackVersionTag: "0.1.0",
        enforcementLevel: "mandatory",
    },
});

/** Realistic answers for every command the runner's paths run; a test overrides the verbs it is about. */
function defaultReply(args: string[]): CliReply {
    switch (verbOf(args)) {
        case "stack select":
        case "stack init":
            return {};
        case "preview":
            return {
                outputChunks: ["Previewing update (dev)\n\n     Type    Name\n", " +   aws:ec2:Instance  aws-arm   create\n\nResources:\n    + 1 to cre", "ate\n    40 unchanged"],
                events: [event({ preludeEvent: { config: {} } }), sshWarning, summaryEvent({ create: 1, same: 40 }, 12.5)],
            };
        case "up":
            return {
                outputChunks: ["Updating (dev)\n", "Resources:\n    + 1 created\n"],
                events: [summaryEvent({ create: 1, same: 40 }, 95.25)],
            };
        case "stack output":
            // The CLI masks secrets unless --show-secrets; the SDK compares both to find them.
            return args.includes("--show-secrets")
                ? { stdout: JSON.stringify({ kubeconfig: KUBECONFIG, appUrls: APP_URLS }) }
                : { stdout: JSON.stringify({ kubeconfig: "[secret]", appUrls: APP_URLS }) };
        case "stack history":
            return {
                stdout: JSON.stringify([
                    {
                        version: 7,
                        kind: "update",
                        startTime: "2025-01-01T10:00:00.000Z",
                        message: "",
                        environment: { "exec.kind": "auto.local" },
                        config: {},
                        result: "succeeded",
                        endTime: "2025-01-01T10:01:35.000Z",
                        resourceChanges: { create: 1, same: 40 },
                    },
                ]),
            };
        default:
            throw new Error(`the fake CLI was not told how to answer: pulumi ${args.join(" ")}`);
    }
}

/** Stands in for PulumiCommand, whose `run` the SDK calls for every CLI invocation. */
class FakePulumiCommand {
    readonly command = "pulumi";
    readonly version = FILE_EVENT_LOG_CLI_VERSION;
    readonly calls: CliCall[] = [];

    constructor(private readonly overrides: Record<CliVerb, CliReply> = {}) {}

    async run(args: string[], cwd: string, _env: Record<string, string>, onOutput?: (chunk: string) => void): Promise<object> {
        this.calls.push({ args: [...args], cwd });
        const reply = this.overrides[verbOf(args)] ?? defaultReply(args);
        const eventLog = valueAfter(args, "--event-log");
        if (eventLog !== undefined && reply.events) {
            fs.writeFileSync(eventLog, reply.events.map((e) => JSON.stringify(e) + "\n").join(""));
        }
        reply.outputChunks?.forEach((chunk) => onOutput?.(chunk));
        const result = new CommandResult(reply.stdout ?? "", reply.stderr ?? "", reply.code ?? 0);
        if ((reply.code ?? 0) !== 0) {
            throw createCommandError(result);
        }
        return result;
    }

    verbs(): CliVerb[] {
        return this.calls.map((call) => verbOf(call.args));
    }

    call(verb: CliVerb): CliCall {
        const found = this.calls.find((call) => verbOf(call.args) === verb);
        assert.ok(found, `expected a "pulumi ${verb}" call, got: ${this.verbs().join(", ")}`);
        return found;
    }
}

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
        const summary = await new AutomationStackRunner({ pulumiCommand: cli }).preview("dev", (line) => lines.push(line));

        assert.deepEqual(cli.verbs(), ["stack select", "preview"]);
        assert.ok(cli.calls.every((call) => call.cwd === PROJECT_DIR), "every CLI call runs in the project directory");
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

    for (const [backend, stderr] of [["Pulumi Cloud", CLOUD_CONFLICT], ["a DIY backend", DIY_LOCKED]]) {
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
        assert.deepEqual(err.policyViolations.map((v) => [v.policy, v.enforcementLevel]), [
            ["ssh-open-to-internet", "warning"],
            ["no-api-port-open-to-internet", "mandatory"],
        ]);
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

            const invocations = fs.readFileSync(argvLog, "utf8").split("--end--\n").filter(Boolean).map((entry) => entry.trimEnd().split("\n"));
            assert.deepEqual(invocations.map((argv) => argv.slice(1, 3)), [["stack", "select"], ["up", "--yes"]]);
            for (const [automationApiEnv, ...argv] of invocations) {
                assert.equal(automationApiEnv, "true", "the CLI is told it runs under the Automation API");
                assert.ok(argv.includes("--non-interactive"), `pulumi ${argv.join(" ")} must not prompt`);
            }
        } finally {
            fs.rmSync(binDir, { recursive: true, force: true });
        }
    });
});
