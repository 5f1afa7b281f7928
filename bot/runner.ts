// The seam between callers that talk to people (the chat bot, the PR-preview job) and Pulumi: they
// call a StackRunner and get back plain summaries and StackRunnerErrors with a reason they can
// answer on. AutomationStackRunner is the real one: the Automation API's LocalWorkspace on this
// project's directory, with the CrossGuard pack in ./policy attached to every preview and update.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import {
    CommandError,
    ConcurrentUpdateError,
    EngineEvent,
    LocalWorkspace,
    OpMap,
    PolicyEvent,
    PulumiCommand,
    Stack,
    StackNotFoundError,
    SummaryEvent,
} from "@pulumi/pulumi/automation";

/** The repository root: Pulumi.yaml lives here. */
const PROJECT_DIR = path.resolve(__dirname, "..");
/** The CrossGuard pack every preview and update runs under (absolute: the CLI resolves it itself). */
const POLICY_PACK_DIR = path.join(PROJECT_DIR, "policy");

/** One output as `stack.outputs()` returns it: secret values in plaintext, flagged `secret`. */
export interface StackOutput {
    value: unknown;
    secret: boolean;
}
export type StackOutputs = Record<string, StackOutput>;

/** A policy the engine reported during a run (mandatory ones also fail the run). */
export interface ReportedPolicyViolation {
    policyPack: string;
    policy: string;
    enforcementLevel: "warning" | "mandatory";
    message: string;
    resourceUrn?: string;
}

export interface RunSummary {
    stack: string;
    kind: "preview" | "update";
    /** Resource counts by operation from the engine's summary, e.g. `{ create: 3, same: 40 }`. */
    changes: OpMap;
    /** Advisory (warning) violations; mandatory ones fail the run with reason "policy-violation". */
    policyViolations: ReportedPolicyViolation[];
    /** Absent when the engine's summary event could not be read. */
    durationMs?: number;
}

/** Options of a preview or an update; every field is optional. */
export interface RunOptions {
    /** Receives the CLI's progress output line by line (the CLI masks the secrets it knows). */
    onOutput?: (line: string) => void;
    /** Tags the update in the stack's history (`--message`): the bot puts the Slack user here. */
    message?: string;
    /** Aborting sends the CLI SIGINT, which stops the run gracefully (the SDK's cmd.ts `exec`). */
    signal?: AbortSignal;
}

export interface PreviewOptions extends RunOptions {
    /** Save the update plan here (`preview --save-plan`); an `up` with this plan does exactly these steps. */
    savePlanTo?: string;
}

export interface UpOptions extends RunOptions {
    /** Apply only this saved plan (`up --plan`); the engine fails the update if it would step outside it. */
    plan?: string;
}

/** The newest entry of `pulumi stack history`, read without secrets. */
export interface LastUpdate {
    version: number;
    kind: string;
    result: string;
    startTime: Date;
    endTime?: Date;
    /** The update's `--message`; the bot's runs say who asked and who approved. */
    message: string;
}

export interface StackRunner {
    preview(stack: string, options?: PreviewOptions): Promise<RunSummary>;
    up(stack: string, options?: UpOptions): Promise<RunSummary>;
    /** Secret values come back in plaintext: pass them through redactOutputs before showing or logging them. */
    outputs(stack: string): Promise<StackOutputs>;
    /** Undefined for a stack that was never updated. */
    lastUpdate(stack: string): Promise<LastUpdate | undefined>;
    /** A stack config value (`<project>:<key>`), undefined when the stack does not set it. */
    getConfig(stack: string, key: string): Promise<string | undefined>;
    /** Sets a plaintext config value in the stack's settings file. */
    setConfig(stack: string, key: string, value: string): Promise<void>;
    /**
     * Changes whenever the stack does: a new history entry (an update from anywhere) or an edit of
     * its settings file. A saved plan is only applied while this is what it was at the preview.
     */
    fingerprint(stack: string): Promise<string>;
}

export type StackRunnerFailure = "invalid-stack-name" | "not-found" | "busy" | "policy-violation" | "failed";

/** `message` is short and safe to post in chat; the CLI's own output, if any, is in `cause`. */
export class StackRunnerError extends Error {
    override readonly name = "StackRunnerError";

    constructor(
        readonly reason: StackRunnerFailure,
        message: string,
        readonly policyViolations: ReportedPolicyViolation[] = [],
        options?: ErrorOptions,
    ) {
        super(message, options);
    }
}

// Pulumi allows [A-Za-z0-9_.-]{1,100} per part. The first character must also be a letter or digit
// here, so a name from chat can never be read as a CLI flag (`--stack --yes`) or a path (`..`).
const STACK_NAME_PART = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

/** Throws a StackRunnerError unless `name` is `stack` or `org/project/stack`. */
export function validateStackName(name: string): void {
    const parts = name.split("/");
    if ((parts.length === 1 || parts.length === 3) && parts.every((part) => STACK_NAME_PART.test(part))) {
        return;
    }
    throw new StackRunnerError(
        "invalid-stack-name",
        `"${name}" is not a stack name: use letters, digits, "-", "_" and "." (starting with a letter or digit), optionally as org/project/stack.`,
    );
}

/** Where LocalWorkspace keeps a stack's config: Pulumi.<last part of the name>.yaml|yml|json. */
function stackSettingsFiles(stackName: string): string[] {
    const short = stackName.split("/").pop();
    return [".yaml", ".yml", ".json"].map((ext) => path.join(PROJECT_DIR, `Pulumi.${short}${ext}`));
}

/** A setting's default as Pulumi.yaml declares it (`config.<key>.default`), the one home of defaults. */
export function projectDefault(key: string): unknown {
    const project = YAML.parse(fs.readFileSync(path.join(PROJECT_DIR, "Pulumi.yaml"), "utf8")) as { config?: Record<string, { default?: unknown }> };
    return project.config?.[key]?.default;
}

/** The outputs with every secret value replaced by "[secret]": what may reach chat or logs. */
export function redactOutputs(outputs: StackOutputs): Record<string, unknown> {
    return Object.fromEntries(Object.entries(outputs).map(([name, { value, secret }]) => [name, secret ? "[secret]" : value]));
}

export interface AutomationStackRunnerOptions {
    /** The CLI to drive; absent: `pulumi` on PATH (the Automation API runs `pulumi version` to check it). */
    pulumiCommand?: PulumiCommand;
    /**
     * Create a stack that does not exist yet (createOrSelectStack), e.g. for per-PR preview stacks.
     * Off by default so a mistyped stack name in chat is refused instead of creating an empty stack.
     */
    createMissingStacks?: boolean;
}

/** What every preview and update runs with: the policy pack attached, output streamed, events collected. */
function engineOptions(events: EngineEventCollector, options: RunOptions, onOutput?: (chunk: string) => void) {
    return { policyPacks: [POLICY_PACK_DIR], onOutput, onEvent: events.record, color: "never" as const, message: options.message, signal: options.signal };
}

export class AutomationStackRunner implements StackRunner {
    constructor(private readonly options: AutomationStackRunnerOptions = {}) {}

    async preview(stackName: string, options: PreviewOptions = {}): Promise<RunSummary> {
        const { savePlanTo, ...run } = options;
        return this.run(stackName, "preview", run, async (stack, engine) => {
            const result = await stack.preview({ ...engine, plan: savePlanTo });
            return result.changeSummary;
        });
    }

    async up(stackName: string, options: UpOptions = {}): Promise<RunSummary> {
        const { plan, ...run } = options;
        return this.run(stackName, "update", run, async (stack, engine, events) => {
            const result = await stack.up({
                ...engine,
                plan,
                // Otherwise the summary is read with `stack history --show-secrets`: plaintext config we never use.
                showSecrets: false,
            });
            // The summary event is this run's own; the history entry is the fallback (info() may find none).
            return events.summary?.resourceChanges ?? result.summary?.resourceChanges ?? {};
        });
    }

    async outputs(stackName: string): Promise<StackOutputs> {
        return this.read(stackName, "Reading the outputs", (stack) => stack.outputs());
    }

    async lastUpdate(stackName: string): Promise<LastUpdate | undefined> {
        return this.read(stackName, "Reading the history", async (stack) => {
            // history() defaults to --show-secrets; the entry's config is never needed here.
            const [entry] = await stack.history(1, 1, false);
            return (
                entry && {
                    version: entry.version,
                    kind: entry.kind,
                    result: entry.result,
                    startTime: entry.startTime,
                    endTime: entry.endTime,
                    message: entry.message ?? "",
                }
            );
        });
    }

    async getConfig(stackName: string, key: string): Promise<string | undefined> {
        return this.read(stackName, `Reading ${key}`, async (stack) => {
            try {
                return (await stack.getConfig(key)).value;
            } catch (err) {
                // `pulumi config get` exits 1 with this text when the stack does not set the key.
                if (err instanceof CommandError && /configuration key .* not found/.test(err.message)) {
                    return undefined;
                }
                throw err;
            }
        });
    }

    async setConfig(stackName: string, key: string, value: string): Promise<void> {
        await this.read(stackName, `Setting ${key}`, (stack) => stack.setConfig(key, { value, secret: false }));
    }

    async fingerprint(stackName: string): Promise<string> {
        const last = await this.lastUpdate(stackName);
        const settings = stackSettingsFiles(stackName)
            .filter((file) => fs.existsSync(file))
            .map((file) => fs.readFileSync(file));
        const digest = createHash("sha256");
        settings.forEach((content) => digest.update(content));
        return `v${last?.version ?? 0}:${digest.digest("hex")}`;
    }

    /** An operation that is not a preview or an update: validated name, mapped errors. */
    private async read<T>(stackName: string, what: string, operation: (stack: Stack) => Promise<T>): Promise<T> {
        validateStackName(stackName);
        try {
            return await operation(await this.stack(stackName));
        } catch (err) {
            throw toStackRunnerError(err, stackName, what, []);
        }
    }

    private async run(
        stackName: string,
        kind: RunSummary["kind"],
        options: RunOptions,
        operation: (stack: Stack, engine: ReturnType<typeof engineOptions>, events: EngineEventCollector) => Promise<OpMap>,
    ): Promise<RunSummary> {
        validateStackName(stackName);
        const events = new EngineEventCollector();
        const lines = options.onOutput ? new LineSplitter(options.onOutput) : undefined;
        try {
            const stack = await this.stack(stackName);
            const changes = await operation(stack, engineOptions(events, options, lines?.write), events);
            const durationSeconds = events.summary?.durationSeconds;
            return {
                stack: stackName,
                kind,
                changes,
                policyViolations: events.policyViolations,
                durationMs: durationSeconds === undefined ? undefined : Math.round(durationSeconds * 1000),
            };
        } catch (err) {
            throw toStackRunnerError(err, stackName, kind === "preview" ? "The preview" : "The update", events.policyViolations);
        } finally {
            lines?.flush();
        }
    }

    private stack(stackName: string): Promise<Stack> {
        const args = { stackName, workDir: PROJECT_DIR };
        const workspaceOptions = { pulumiCommand: this.options.pulumiCommand };
        return this.options.createMissingStacks
            ? LocalWorkspace.createOrSelectStack(args, workspaceOptions)
            : LocalWorkspace.selectStack(args, workspaceOptions);
    }
}

/** Keeps what the summary needs from the engine's event stream. */
class EngineEventCollector {
    summary: SummaryEvent | undefined;
    readonly policyViolations: ReportedPolicyViolation[] = [];

    readonly record = (event: EngineEvent): void => {
        if (event.summaryEvent) {
            this.summary = event.summaryEvent;
        }
        if (event.policyEvent) {
            this.policyViolations.push(toPolicyViolation(event.policyEvent));
        }
    };
}

function toPolicyViolation(event: PolicyEvent): ReportedPolicyViolation {
    return {
        policyPack: event.policyPackName,
        policy: event.policyName,
        enforcementLevel: event.enforcementLevel,
        message: event.message.trim(),
        resourceUrn: event.resourceUrn,
    };
}

/** The CLI's stdout arrives in arbitrary chunks; callers want whole lines. */
class LineSplitter {
    private pending = "";

    constructor(private readonly onLine: (line: string) => void) {}

    readonly write = (chunk: string): void => {
        const lines = (this.pending + chunk).split(/\r?\n/);
        this.pending = lines.pop() ?? "";
        lines.forEach((line) => this.onLine(line));
    };

    flush(): void {
        if (this.pending !== "") {
            this.onLine(this.pending);
            this.pending = "";
        }
    }
}

function toStackRunnerError(err: unknown, stackName: string, what: string, policyViolations: ReportedPolicyViolation[]): StackRunnerError {
    if (err instanceof StackRunnerError) {
        return err;
    }
    if (err instanceof ConcurrentUpdateError) {
        return new StackRunnerError(
            "busy",
            `Stack "${stackName}" is busy: another update is running on it. Try again when it has finished.`,
            policyViolations,
            { cause: err },
        );
    }
    if (err instanceof StackNotFoundError) {
        return new StackRunnerError("not-found", `Stack "${stackName}" does not exist in this project.`, policyViolations, { cause: err });
    }
    const mandatory = policyViolations.filter((violation) => violation.enforcementLevel === "mandatory");
    if (mandatory.length > 0) {
        const policies = [...new Set(mandatory.map((violation) => violation.policy))].join(", ");
        return new StackRunnerError("policy-violation", `${what} of stack "${stackName}" was blocked by policy: ${policies}.`, policyViolations, {
            cause: err,
        });
    }
    return new StackRunnerError("failed", `${what} of stack "${stackName}" failed; the Pulumi output is in the runner's log.`, policyViolations, {
        cause: err,
    });
}
