// Runs the steps of one `pulumi up` the way @pulumi/command would: each `command:remote:Command`
// over SSH with its stdin, `create` on create and replace, `update` (else `create`) on update, the
// stored `delete` on delete; other resources (cloud VMs, secrets, charts) count as done. Waves run
// one after another, the steps of a wave in parallel; a failed step stops the up after its wave.
import { formatTable } from "../test/net/topology";
import { PlannedResource } from "../plan/plan";
import { SshClient, SshConnection } from "./ssh";
import { Step } from "../plan/steps";

export interface StepRun {
    step: Step;
    wave: number;
    /** Milliseconds since the up started. */
    start: number;
    end: number;
    result: "ok" | "failed" | "nothing to run" | "provider (not run)";
    stdout: string;
    stderr: string;
}

interface CommandInputs {
    connection: SshConnection;
    create?: string;
    update?: string;
    delete?: string;
    stdin?: string;
}

export interface UpResult {
    runs: StepRun[];
    ok: boolean;
}

export class Executor {
    constructor(
        private readonly ssh: SshClient,
        private readonly log: (line: string) => void,
    ) {}

    /**
     * `afterWave` sees each wave's runs and may hand back the plan's resources anew (re-planned with
     * the outputs just printed): later steps then run with the inputs a real engine would give them.
     */
    async up(
        title: string,
        waves: Step[][],
        before: PlannedResource[] | undefined,
        after: PlannedResource[],
        afterWave?: (runs: StepRun[]) => Promise<PlannedResource[] | undefined>,
    ): Promise<UpResult> {
        const old = new Map((before ?? []).map((r) => [r.urn, r]));
        let next = new Map(after.map((r) => [r.urn, r]));
        const started = Date.now();
        const runs: StepRun[] = [];
        const count = waves.reduce((n, w) => n + w.length, 0);
        this.log(`${title}: ${count} step(s) in ${waves.length} wave(s)`);
        for (const [index, wave] of waves.entries()) {
            const results = await Promise.all(
                wave.map(async (step) => {
                    const resource = step.op === "delete" ? old.get(step.urn) : next.get(step.urn);
                    const start = Date.now() - started;
                    const outcome = await this.runStep(step, resource, old.get(step.urn));
                    const run: StepRun = { step, wave: index + 1, start, end: Date.now() - started, ...outcome };
                    this.log(
                        `  [wave ${run.wave}] ${(step.host ?? "-").padEnd(14)} ${step.name.padEnd(30)} ${step.op.padEnd(7)} ` +
                            `${((run.end - run.start) / 1000).toFixed(1).padStart(5)} s  ${run.result}`,
                    );
                    if (run.result === "failed") this.log(indent(`${run.stderr || run.stdout}`.trim().split("\n").slice(-12).join("\n")));
                    return run;
                }),
            );
            runs.push(...results);
            if (results.some((r) => r.result === "failed")) return { runs, ok: false };
            const replanned = await afterWave?.(results);
            if (replanned) next = new Map(replanned.map((r) => [r.urn, r]));
        }
        return { runs, ok: true };
    }

    /**
     * Runs the script the step model chose (step.runs), with the inputs the provider would hold: the old
     * state's on delete, the new ones on create, and on update the new ones with ignoreChanges keys
     * kept at their old values (step_generator.go processIgnoreChanges).
     */
    private async runStep(
        step: Step,
        resource: PlannedResource | undefined,
        old: PlannedResource | undefined,
    ): Promise<Pick<StepRun, "result" | "stdout" | "stderr">> {
        if (step.type !== "command:remote:Command" || !resource) return { result: "provider (not run)", stdout: "", stderr: "" };
        if (step.runs !== "create" && step.runs !== "update" && step.runs !== "delete") return { result: "nothing to run", stdout: "", stderr: "" };
        const inputs = { ...(resource.inputs as CommandInputs) };
        if (step.op === "update" && old)
            for (const key of resource.ignoreChanges) inputs[key as keyof CommandInputs] = (old.inputs as CommandInputs)[key as keyof CommandInputs] as never;
        const script = inputs[step.runs];
        if (!script) return { result: "nothing to run", stdout: "", stderr: "" };
        const result = await this.ssh.run(inputs.connection, script, inputs.stdin);
        return { result: result.code === 0 ? "ok" : "failed", stdout: result.stdout, stderr: result.stderr || `exit ${result.code}` };
    }
}

const indent = (text: string) =>
    text
        .split("\n")
        .map((line) => `      | ${line}`)
        .join("\n");

/** The table printed after each up: one row per step that ran. */
export function summaryTable(title: string, runs: StepRun[]): string {
    return formatTable(
        title,
        ["wave", "host", "step", "op", "seconds", "result"],
        runs.map((r) => [String(r.wave), r.step.host ?? "-", r.step.name, r.step.op, ((r.end - r.start) / 1000).toFixed(1), r.result]),
    );
}
