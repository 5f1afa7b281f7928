// The stand-in `pulumi` CLI shared by the runner's contract test and the bot's end-to-end tests. The
// real Automation API (LocalWorkspace, Stack, event-log tailing, the SDK's CLI-error classification)
// drives it through PulumiCommand's `run`; it records each argument list and answers as the CLI does.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { EngineEvent } from "@pulumi/pulumi/automation";
import { SemVer } from "semver";

// @internal in the SDK (absent from its .d.ts), so typed here by hand. They are the real ones, so
// which stderr becomes ConcurrentUpdateError or StackNotFoundError is decided by the SDK's own code.
const { CommandResult } = require("@pulumi/pulumi/automation/cmd") as {
    CommandResult: new (stdout: string, stderr: string, code: number) => object;
};
const { createCommandError } = require("@pulumi/pulumi/automation/errors") as {
    createCommandError: (result: object) => Error;
};

export const PROJECT_DIR = path.resolve(__dirname, "../..");
export const POLICY_PACK_DIR = path.join(PROJECT_DIR, "policy");

// Below 3.205 the SDK tails an event-log file instead of starting a gRPC event server.
export const FILE_EVENT_LOG_CLI_VERSION = new SemVer("3.204.0");

// What the CLI prints (stderr) in the cases the runner must tell apart.
export const CLOUD_CONFLICT = "error: [409] Conflict: Another update is currently in progress.\n";
export const DIY_LOCKED =
    "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.\n";
export const NO_SUCH_STACK = (stack: string) => `error: no stack named '${stack}' found\n`;
// pkg/cmd/pulumi/config/config.go: what `pulumi config get` says for a key the stack does not set.
export const NO_SUCH_KEY = (key: string, stack: string) => `error: configuration key '${key}' not found for stack '${stack}'\n`;

export const KUBECONFIG =
    "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: LS0tQ0EtREFUQS0tLQ==\n    server: https://10.0.0.2:6443\nusers:\n- user:\n    client-key-data: TOP-SECRET-CLIENT-KEY\n";
export const APP_URLS = ["https://app.example.org"];

export interface CliCall {
    args: string[];
    cwd: string;
}

export interface CliReply {
    stdout?: string;
    stderr?: string;
    code?: number;
    /** Streamed to onOutput in these chunks, as stdout arrives from a real process. */
    outputChunks?: string[];
    /** Pause between chunks, so a run lasts as long as a test needs (progress throttling). */
    chunkDelayMs?: number;
    /** The run does not finish before this settles (a long update that a test holds open). */
    holdUntil?: Promise<void>;
    /** Written to the `--event-log` file, one JSON line each, as the engine does. */
    events?: EngineEvent[];
}

/** "preview", "up", "stack select", "stack output", ...: what a canned reply is keyed by. */
export type CliVerb = string;
export const verbOf = (args: string[]): CliVerb => (args[0] === "stack" || args[0] === "config" ? `${args[0]} ${args[1]}` : args[0]);

export const valueAfter = (args: string[], flag: string): string | undefined => {
    const at = args.indexOf(flag);
    return at < 0 ? undefined : args[at + 1];
};

let sequence = 0;
export const event = (body: Omit<EngineEvent, "sequence" | "timestamp">): EngineEvent => ({ sequence: sequence++, timestamp: 1_700_000_000, ...body });

export const summaryEvent = (resourceChanges: Record<string, number>, durationSeconds: number): EngineEvent =>
    event({ summaryEvent: { maybeCorrupt: false, durationSeconds, resourceChanges, policyPacks: { "hybrid-k3s": "0.1.0" } } });

const policyEvent = (policyName: string, message: string, enforcementLevel: "warning" | "mandatory"): EngineEvent =>
    event({
        policyEvent: {
            resourceUrn: "urn:pulumi:dev::hybrid-k3s::aws:ec2/securityGroup:SecurityGroup::k3s-sg",
            message,
            color: "never",
            policyName,
            policyPackName: "hybrid-k3s",
            policyPackVersion: "0.1.0",
            policyPackVersionTag: "0.1.0",
            enforcementLevel,
        },
    });

export const sshWarning = policyEvent("ssh-open-to-internet", "SSH (22) is open to 0.0.0.0/0\n", "warning");
export const apiPortViolation = policyEvent("no-api-port-open-to-internet", "port 6443 (API port) is open to 0.0.0.0/0", "mandatory");

/** What `stack history --json` prints for one update. */
export const historyEntry = (version: number, message = "") => ({
    version,
    kind: "update",
    startTime: "2025-01-01T10:00:00.000Z",
    message,
    environment: { "exec.kind": "auto.local" },
    config: {},
    result: "succeeded",
    endTime: "2025-01-01T10:01:35.000Z",
    resourceChanges: { create: 1, same: 40 },
});

/** The stack as the fake backend holds it; the bot tests change it between calls. */
export interface FakeStackState {
    /** Outputs in plaintext; names listed in `secretOutputs` are masked unless --show-secrets. */
    outputs: Record<string, unknown>;
    secretOutputs: string[];
    historyVersion: number;
    historyMessage: string;
    /** Plain config values by full key; `config set` writes here. */
    config: Record<string, string>;
}

const defaultState = (): FakeStackState => ({
    outputs: { kubeconfig: KUBECONFIG, appUrls: APP_URLS },
    secretOutputs: ["kubeconfig"],
    historyVersion: 7,
    historyMessage: "",
    config: {},
});

/** The saved plan a `preview --save-plan` writes: its bytes are what an approval is bound to. */
export const PLAN_FILE_CONTENT = (stack: string) => JSON.stringify({ manifest: { version: "3.204.0" }, stack, resourcePlans: {} });

export type CliOverride = CliReply | ((args: string[]) => CliReply);

/** Stands in for PulumiCommand, whose `run` the SDK calls for every CLI invocation. */
export class FakePulumiCommand {
    readonly command = "pulumi";
    readonly version = FILE_EVENT_LOG_CLI_VERSION;
    readonly calls: CliCall[] = [];
    readonly state: FakeStackState = defaultState();

    constructor(readonly overrides: Record<CliVerb, CliOverride> = {}) {}

    async run(
        args: string[],
        cwd: string,
        _env: Record<string, string>,
        onOutput?: (chunk: string) => void,
        _onError?: (chunk: string) => void,
        signal?: AbortSignal,
    ): Promise<object> {
        this.calls.push({ args: [...args], cwd });
        const override = this.overrides[verbOf(args)];
        const reply = (typeof override === "function" ? override(args) : override) ?? this.defaultReply(args);
        const eventLog = valueAfter(args, "--event-log");
        if (eventLog !== undefined && reply.events) {
            fs.writeFileSync(eventLog, reply.events.map((e) => JSON.stringify(e) + "\n").join(""));
        }
        const savePlan = valueAfter(args, "--save-plan");
        if (savePlan !== undefined && (reply.code ?? 0) === 0) {
            fs.writeFileSync(savePlan, PLAN_FILE_CONTENT(valueAfter(args, "--stack") ?? ""));
        }
        for (const chunk of reply.outputChunks ?? []) {
            onOutput?.(chunk);
            if (reply.chunkDelayMs) {
                await new Promise((resolve) => setTimeout(resolve, reply.chunkDelayMs));
            }
        }
        // SIGINT from an aborted run: the CLI stops and exits non-zero, as a cancelled update does.
        const aborted = new Promise<"aborted">((resolve) =>
            signal?.aborted ? resolve("aborted") : signal?.addEventListener("abort", () => resolve("aborted")),
        );
        if ((await Promise.race([reply.holdUntil ?? Promise.resolve(), aborted])) === "aborted" || signal?.aborted) {
            throw createCommandError(new CommandResult("", "error: update canceled\n", 255));
        }
        const result = new CommandResult(reply.stdout ?? "", reply.stderr ?? "", reply.code ?? 0);
        if ((reply.code ?? 0) !== 0) {
            throw createCommandError(result);
        }
        return result;
    }

    /** Realistic answers for every command the runner's paths run; a test overrides the verbs it is about. */
    defaultReply(args: string[]): CliReply {
        const { state } = this;
        switch (verbOf(args)) {
            case "stack select":
            case "stack init":
                return {};
            case "preview":
                return {
                    outputChunks: [
                        "Previewing update (dev)\n\n     Type    Name\n",
                        " +   aws:ec2:Instance  aws-arm   create\n\nResources:\n    + 1 to cre",
                        "ate\n    40 unchanged",
                    ],
                    events: [event({ preludeEvent: { config: {} } }), sshWarning, summaryEvent({ create: 1, same: 40 }, 12.5)],
                };
            case "up":
                // A finished update is a new history entry: the stack's version moves on.
                state.historyVersion += 1;
                return {
                    outputChunks: ["Updating (dev)\n", "Resources:\n    + 1 created\n"],
                    events: [summaryEvent({ create: 1, same: 40 }, 95.25)],
                };
            case "stack output": {
                // The CLI masks secrets unless --show-secrets; the SDK compares both to find them.
                const shown = args.includes("--show-secrets");
                const outputs = Object.fromEntries(
                    Object.entries(state.outputs).map(([k, v]) => [k, !shown && state.secretOutputs.includes(k) ? "[secret]" : v]),
                );
                return { stdout: JSON.stringify(outputs) };
            }
            case "stack history":
                return { stdout: JSON.stringify([historyEntry(state.historyVersion, state.historyMessage)]) };
            case "config get": {
                const key = args[2];
                const value = state.config[key];
                return value === undefined
                    ? { stderr: NO_SUCH_KEY(key, valueAfter(args, "--stack") ?? ""), code: 255 }
                    : { stdout: JSON.stringify({ value, secret: false }) };
            }
            case "config set": {
                state.config[args[2]] = args[args.length - 1];
                return {};
            }
            default:
                throw new Error(`the fake CLI was not told how to answer: pulumi ${args.join(" ")}`);
        }
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
