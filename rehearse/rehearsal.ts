// One rehearsal: the stack's plan (seeded, so a re-plan keeps every key and token), the machines,
// SSH from the pulumi runner, and the current state ("what the last up applied"). Scenarios call
// plan() with a derived config, up() to run the steps, and the checks.
import { basename, join } from "node:path";
import { existsSync } from "node:fs";
import { NodeSummary } from "../components/cluster";
import { PlanResult, projectDir, readStackConfig, runPlan, unwrapSecrets } from "../plan/plan";
import { Step, stepsBetween, waves } from "../plan/steps";
import { Executor, StepRun, summaryTable, UpResult } from "./executor";
import { RehearsalLab, runnerAddress } from "./lab";
import { buildMirror } from "./mirror";
import { generateHostKey, haproxyMaxconnForHost, HostKeyPair, MachineDisk, realHostOpenFiles } from "./provision";
import { SshClient, SshConnection } from "./ssh";
import { CheckLog } from "./checks";

export const topologiesDir = join(__dirname, "topologies");

/** Where the runner serves the k3s releases the stand-in machines install. */
export const releaseMirrorUrl = `http://${runnerAddress}/k3s-io/k3s/releases/download`;

/** A host as the plan describes it. */
export interface PlannedHost extends NodeSummary {
    behindNat: boolean;
    sshUser: string;
}

export type StackConfig = Record<string, string>;

export class Rehearsal {
    /** What the last successful up applied (undefined: an empty stack). */
    applied?: PlanResult;
    readonly executor: Executor;
    readonly ssh: SshClient;
    /** What each command printed when it last ran, by resource name: the state's `stdout` outputs. */
    private readonly observedStdout: Record<string, string> = {};
    /** Existing hosts' own host keys, made before their first plan and pinned by the derived config's hostKey. */
    readonly hostKeys = new Map<string, HostKeyPair>();
    private readonly mirrorRoot: string;
    private mirrorVersions = new Set<string>();
    private readonly configOf = new WeakMap<PlanResult, StackConfig>();
    /** Set by the CLI from the scenarios it runs. */
    beforeFirstUp: Array<(r: Rehearsal) => Promise<string>> = [];
    /** The stack config (as the user keeps it) the applied state was planned from. */
    currentConfig: StackConfig;

    private constructor(
        readonly stack: string,
        readonly baseConfig: StackConfig,
        private readonly secretKeys: string[],
        readonly lab: RehearsalLab,
        readonly checks: CheckLog,
        readonly log: (line: string) => void,
        private readonly k3sBinary?: string,
    ) {
        this.ssh = new SshClient(lab.net.workDir, lab.runner.netns);
        this.executor = new Executor(this.ssh, log);
        this.mirrorRoot = join(lab.net.workDir, "mirror");
        this.currentConfig = baseConfig;
    }

    static async start(stack: string, lab: RehearsalLab, checks: CheckLog, log: (line: string) => void, k3sBinary?: string): Promise<Rehearsal> {
        const dir = existsSync(join(projectDir, `Pulumi.${stack}.yaml`)) ? projectDir : topologiesDir;
        const { config, secretKeys } = readStackConfig(stack, dir);
        const rehearsal = new Rehearsal(stack, config, secretKeys, lab, checks, log, k3sBinary);
        await rehearsal.startMirror();
        const { limit, maxconn } = haproxyMaxconnForHost();
        if (maxconn) {
            log(
                `NOTE rehearsal adaptation: this host's hard open-files limit is ${limit} (a real host's systemd gives ${realHostOpenFiles}); ` +
                    `HAProxy on the machines runs with -n ${maxconn}, overriding the shipped config's maxconn`,
            );
        }
        return rehearsal;
    }

    /** The plan of a derived config, with the rehearsal's own settings (release mirror, host keys) filled in. */
    async plan(config: StackConfig = this.currentConfig): Promise<PlanResult> {
        await this.makeHostKeys(config);
        const derived = this.withRehearsalSettings(config);
        const plan = await runPlan(this.stack, derived, this.secretKeys, `rehearsal-${this.stack}`, false, this.observedStdout);
        // Inputs as the provider sees them: secrets unwrapped.
        plan.resources = plan.resources.map((r) => ({ ...r, inputs: unwrapSecrets(r.inputs) }));
        await this.addMirrorVersion(plan.spec.k3s.version);
        this.configOf.set(plan, config);
        return plan;
    }

    hostsOf(plan: PlanResult): PlannedHost[] {
        const addresses = plan.outputs.nodes as Array<{ name: string; publicAddress?: string }>;
        return plan.spec.nodes.map((n) => ({
            name: n.name,
            provider: n.provider,
            arch: n.arch,
            roles: n.roles,
            meshAddress: n.meshAddress,
            sshUser: n.sshUser,
            behindNat: n.existing?.behindNat ?? false,
            publicAddress: n.existing?.behindNat ? undefined : addresses.find((a) => a.name === n.name)?.publicAddress,
        }));
    }

    /** Creates and boots a machine for a planned host, its disk as the real one would be before any up. */
    async boot(host: PlannedHost, plan: PlanResult): Promise<void> {
        const disk: MachineDisk = {
            node: host.name,
            arm64: host.arch === "arm64",
            cloud: cloudSeed(host, plan),
            hostKey: host.provider === "existing" ? this.hostKeys.get(host.name) : undefined,
            haproxyMaxconn: haproxyMaxconnForHost().maxconn,
        };
        const placed = await this.lab.addHost(host.name, host.publicAddress, host.meshAddress, disk);
        await placed.machine.boot();
    }

    /** Steps from the applied state to `next`, run in waves; `next` becomes the applied state when all succeed. */
    async up(title: string, next: PlanResult): Promise<{ steps: Step[]; result: UpResult }> {
        // The engine's steps and order (plan/steps.ts, the model the PR diff and the bot use too).
        const steps = stepsBetween(this.applied?.resources ?? [], next.resources);
        // Cloud VMs, keys and charts count as done: only the remote commands run here.
        const commandWaves = waves(steps)
            .map((wave) => wave.filter((s) => s.type === "command:remote:Command"))
            .filter((wave) => wave.length > 0);
        // As the engine does, a step's inputs come from the outputs of steps before it: when a step printed
        // something a later input is made of (a server's CA hash in the agents' token), plan again with it.
        let current = next;
        const afterWave = async (runs: StepRun[]) => {
            const fresh = runs.filter((run) => run.result === "ok" && run.step.op !== "delete" && this.observedStdout[run.step.name] !== run.stdout);
            for (const run of runs.filter((run) => run.step.op === "delete")) delete this.observedStdout[run.step.name];
            for (const run of fresh) this.observedStdout[run.step.name] = run.stdout;
            const consumed = fresh.filter((run) =>
                current.resources.some((r) => Object.values(r.propertyDependencies).some((urns) => urns.includes(run.step.urn))),
            );
            if (consumed.length === 0) return undefined;
            this.log(
                `  re-planned with the output of ${consumed.map((run) => run.step.name).join(", ")} (a later resource takes it as input, as the state would hold it)`,
            );
            current = await this.plan(this.configOf.get(next) ?? this.currentConfig);
            return current.resources;
        };
        const result = await this.executor.up(title, commandWaves, this.applied?.resources, next.resources, afterWave);
        this.log(summaryTable(`${title}: steps run`, result.runs));
        for (const failed of result.runs.filter((run) => run.result === "failed" && run.step.host)) {
            const journal = await this.lab.host(failed.step.host!).machine.exec(["journalctl", "-n", "25", "--no-pager", "-o", "short-monotonic"]);
            this.log(`  journal of ${failed.step.host} after ${failed.step.name} failed:\n${journal.stdout.replace(/^/gm, "    ")}`);
        }
        if (result.ok) {
            this.applied = current;
            this.currentConfig = this.configOf.get(next) ?? this.currentConfig;
        }
        return { steps, result };
    }

    connectionOf(plan: PlanResult, host: string): SshConnection {
        const mesh = plan.resources.find((r) => r.type === "command:remote:Command" && r.name === `${host}-mesh`);
        if (!mesh) throw new Error(`the plan has no mesh step for ${host}`);
        return (mesh.inputs as { connection: SshConnection }).connection;
    }

    private async startMirror(): Promise<void> {
        const argv = [process.execPath, join(__dirname, "mirror-server.mjs"), this.mirrorRoot, runnerAddress];
        const daemon = this.lab.net.startDaemon(this.lab.runner, argv, "k3s mirror");
        await this.lab.net.waitForListener(this.lab.runner, 80, { daemon });
        this.log(`k3s mirror: ${this.k3sBinary ? `real binary ${basename(this.k3sBinary)}` : "STAND-IN k3s (not k3s)"} at http://${runnerAddress}/`);
    }

    private async addMirrorVersion(version: string): Promise<void> {
        if (this.mirrorVersions.has(version)) return;
        await buildMirror(this.mirrorRoot, [version], this.k3sBinary);
        this.mirrorVersions.add(version);
    }

    private async makeHostKeys(config: StackConfig): Promise<void> {
        const nodes = JSON.parse(config["hybrid-k3s:nodes"]) as Array<{ name: string; provider: string }>;
        for (const node of nodes.filter((n) => n.provider === "existing" && !this.hostKeys.has(n.name))) {
            this.hostKeys.set(node.name, await generateHostKey(join(this.lab.net.workDir, "host-keys"), node.name));
        }
    }

    private withRehearsalSettings(config: StackConfig): StackConfig {
        const out = { ...config };
        // The air-gapped mirror feature, pointed at the runner (docs/rehearsal.md).
        out["hybrid-k3s:k3sReleaseBaseUrl"] = releaseMirrorUrl;
        // Existing hosts' own host keys, as their owners read them over a trusted path (README).
        const nodes = JSON.parse(out["hybrid-k3s:nodes"]) as Array<Record<string, unknown>>;
        out["hybrid-k3s:nodes"] = JSON.stringify(
            nodes.map((n) => (this.hostKeys.has(String(n.name)) ? { ...n, hostKey: this.hostKeys.get(String(n.name))!.publicKey } : n)),
        );
        return out;
    }
}

/** What cloud-init would get for a cloud VM: its user data, default user and the cluster's key. */
function cloudSeed(host: PlannedHost, plan: PlanResult): MachineDisk["cloud"] {
    if (host.provider === "existing") return undefined;
    const vm = plan.resources.find((r) => (r.type === "aws:ec2/instance:Instance" || r.type === "azure-native:compute:VirtualMachine") && r.name === host.name);
    if (!vm) throw new Error(`${host.name}: no VM in the plan`);
    const inputs = vm.inputs as {
        userData?: string;
        keyName?: string;
        osProfile?: { customData?: string; linuxConfiguration?: { ssh?: { publicKeys?: Array<{ keyData: string }> } } };
    };
    const keyPair = plan.resources.find((r) => r.type === "aws:ec2/keyPair:KeyPair" && inputs.keyName?.startsWith(r.name));
    const keys = inputs.osProfile?.linuxConfiguration?.ssh?.publicKeys?.map((k) => k.keyData) ?? [
        String((keyPair?.inputs as { publicKey?: string })?.publicKey ?? ""),
    ];
    const userData = inputs.userData ?? Buffer.from(inputs.osProfile?.customData ?? "", "base64").toString("utf8");
    return { userData, defaultUser: host.sshUser, authorizedKeys: keys.filter(Boolean).join("\n") + "\n" };
}
