// One rehearsal: the stack's plan (seeded, so a re-plan keeps every key and token), the machines,
// SSH from the pulumi runner, and the current state ("what the last up applied"). Scenarios call
// plan() with a derived config, up() to run the steps, and the checks.
import { basename, join } from "node:path";
import { existsSync } from "node:fs";
import { ConfigError, scalarSettings } from "../components/config";
import { PlannedResource, PlanResult, projectDir, readStackConfig, runPlan, specForStack, unwrapSecrets } from "../plan/plan";
import { Executor, summaryTable, UpResult } from "./executor";
import { RehearsalLab, runnerAddress } from "./lab";
import { buildMirror, interceptedHosts, mirrorCertificate } from "./mirror";
import { haproxyMaxconnForHost, MachineDisk, realHostOpenFiles } from "./provision";
import { SshClient, SshConnection } from "./ssh";
import { DependencyStepModel, Step, StepModel } from "./steps";
import { CheckLog } from "./checks";

export const topologiesDir = join(__dirname, "topologies");

/** A host as the plan describes it. */
export interface PlannedHost {
    name: string;
    provider: string;
    arch: string;
    roles: string[];
    meshAddress: string;
    publicAddress?: string;
    behindNat: boolean;
    sshUser: string;
}

export type StackConfig = Record<string, string>;

export class Rehearsal {
    /** What the last successful up applied (undefined: an empty stack). */
    applied?: PlanResult;
    readonly executor: Executor;
    readonly ssh: SshClient;
    readonly stepModel: StepModel;
    /** Host keys of machines the rehearsal generated, for the stack config's node hostKey (issue 11). */
    readonly hostKeys = new Map<string, string>();
    private readonly mirrorRoot: string;
    private mirrorVersions = new Set<string>();
    private knownHosts: PlannedHost[] = [];
    private readonly configOf = new WeakMap<PlanResult, StackConfig>();
    /** Set by the CLI from the scenarios it runs. */
    beforeFirstUp: Array<(r: Rehearsal) => Promise<void>> = [];
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
        this.ssh = new SshClient(lab.net.workDir, lab.runner.netns, log);
        this.executor = new Executor(this.ssh, log);
        this.stepModel = new DependencyStepModel((r) => this.hostOfResource(r));
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
        const derived = this.withRehearsalSettings(config);
        const plan = await runPlan(this.stack, derived, this.secretKeys, `rehearsal-${this.stack}`);
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
            hosts: this.intercepting ? interceptedHosts.map((name) => [name, runnerAddress]) : [],
            trustedCa: this.intercepting ? this.tls?.caPem : undefined,
            haproxyMaxconn: haproxyMaxconnForHost().maxconn,
        };
        const placed = await this.lab.addHost(host.name, host.publicAddress, host.meshAddress, disk);
        if (placed.hostKey) this.hostKeys.set(host.name, placed.hostKey);
        await placed.machine.boot();
    }

    /** Steps from the applied state to `next`, run in waves; `next` becomes the applied state when all succeed. */
    async up(title: string, next: PlanResult): Promise<{ steps: Step[]; result: UpResult }> {
        // Hosts of both states: a removed node's deletes and a new node's creates run on them.
        this.knownHosts = [...this.hostsOf(next), ...(this.applied ? this.hostsOf(this.applied) : [])];
        const steps = this.stepModel.steps(this.applied?.resources, next.resources);
        // Cloud VMs, keys and charts count as done: only the remote commands run here.
        const commands = steps.filter((s) => s.type === "command:remote:Command");
        const result = await this.executor.up(title, this.stepModel.waves(commands), this.applied?.resources, next.resources);
        this.log(summaryTable(`${title}: steps run`, result.runs));
        for (const failed of result.runs.filter((run) => run.result === "failed" && run.step.host)) {
            const journal = await this.lab.host(failed.step.host!).machine.exec(["journalctl", "-n", "25", "--no-pager", "-o", "short-monotonic"]);
            this.log(`  journal of ${failed.step.host} after ${failed.step.name} failed:\n${journal.stdout.replace(/^/gm, "    ")}`);
        }
        if (result.ok) {
            this.applied = next;
            this.currentConfig = this.configOf.get(next) ?? this.currentConfig;
        }
        return { steps, result };
    }

    connectionOf(plan: PlanResult, host: string): SshConnection {
        const mesh = plan.resources.find((r) => r.type === "command:remote:Command" && r.name === `${host}-mesh`);
        if (!mesh) throw new Error(`the plan has no mesh step for ${host}`);
        return (mesh.inputs as { connection: SshConnection }).connection;
    }

    private tls?: Awaited<ReturnType<typeof mirrorCertificate>>;

    /** Without the release base setting, the mirror answers for github.com (HTTPS, a CA the machines trust). */
    get intercepting(): boolean {
        return !scalarSettings.some((s) => s.key === "k3sReleaseBaseUrl");
    }

    private async startMirror(): Promise<void> {
        if (this.intercepting) this.tls = await mirrorCertificate(join(this.lab.net.workDir, "tls"));
        const argv = [
            process.execPath,
            join(__dirname, "mirror-server.mjs"),
            this.mirrorRoot,
            runnerAddress,
            ...(this.tls ? [this.tls.certFile, this.tls.keyFile] : []),
        ];
        const daemon = this.lab.net.startDaemon(this.lab.runner, argv, "k3s mirror");
        await this.lab.net.waitForListener(this.lab.runner, 80, { daemon });
        this.log(
            `k3s mirror: ${this.k3sBinary ? `real binary ${basename(this.k3sBinary)}` : "STAND-IN k3s (not k3s)"} at http://${runnerAddress}/` +
                (this.intercepting ? ` and https://${interceptedHosts.join(", https://")} (the stack has no k3sReleaseBaseUrl setting yet)` : ""),
        );
    }

    private async addMirrorVersion(version: string): Promise<void> {
        if (this.mirrorVersions.has(version)) return;
        await buildMirror(this.mirrorRoot, [version], this.k3sBinary);
        this.mirrorVersions.add(version);
    }

    private withRehearsalSettings(config: StackConfig): StackConfig {
        const out = { ...config };
        if (!this.intercepting) out["hybrid-k3s:k3sReleaseBaseUrl"] = `http://${runnerAddress}/k3s-io/k3s/releases/download`;
        const nodes = JSON.parse(out["hybrid-k3s:nodes"]) as Array<Record<string, unknown>>;
        const withKeys = nodes.map((n) => (this.hostKeys.has(String(n.name)) ? { ...n, hostKey: this.hostKeys.get(String(n.name)) } : n));
        if (nodeFieldSupported(out, withKeys, "hostKey")) out["hybrid-k3s:nodes"] = JSON.stringify(withKeys);
        return out;
    }

    /** The host a command runs on, from its connection: a public address, or a mesh address through the hub. */
    private hostOfResource(r: PlannedResource): string | undefined {
        const connection = (r.inputs as { connection?: SshConnection }).connection;
        if (!connection) return undefined;
        return this.knownHosts.find((n) => n.publicAddress === connection.host || (n.behindNat && n.meshAddress === connection.host))?.name;
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

/** Whether the stack config accepts a node field yet (issue 11 and the existing-hosts issue add some). */
function nodeFieldSupported(config: StackConfig, nodes: Array<Record<string, unknown>>, field: string): boolean {
    try {
        specForStack({ ...config, "hybrid-k3s:nodes": JSON.stringify(nodes) });
        return true;
    } catch (error) {
        if (error instanceof ConfigError && error.message.includes(`.${field}: unknown key`)) return false;
        throw error;
    }
}
