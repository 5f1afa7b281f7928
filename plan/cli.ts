// `npm run plan -- --stack prod [--out out] [--show-secrets] [--seed S] [--base <git ref>]`: the offline
// plan on the terminal and in out/<stack>/; with --base, also the steps `pulumi up` would run to go
// from the ref's version of the stack to this one (steps.json, diff.md). Exit 1 on invalid config or a
// mandatory policy violation.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ConfigError } from "../components/config";
import { PolicyViolation } from "../policy/policies";
import { diffPlans, emptySnapshot, PlanSnapshot, sectionMarker, snapshotOf } from "./diff";
import { defaultSeed, PlanResult, projectDir, readStackConfig, redactSecretInputs, runPlan } from "./plan";
import { mapStrings, redactMeaning } from "./redact";

interface CliOptions {
    stack: string;
    /** Where Pulumi.<stack>.yaml lives. */
    dir: string;
    out: string;
    showSecrets: boolean;
    seed: string;
    /** Git ref whose version of the stack is the "before" of the step model. */
    base?: string;
    /** Internal (used by --base): write the plan as JSON here, secrets included, and nothing else. */
    snapshot?: string;
}

const usage = "usage: npm run plan -- [--stack prod] [--dir .] [--out out] [--show-secrets] [--seed S] [--base <git ref>]";

function parseArgs(argv: string[]): CliOptions {
    const options: CliOptions = { stack: "prod", dir: projectDir, out: path.join(projectDir, "out"), showSecrets: false, seed: defaultSeed };
    const value = (i: number) => {
        if (argv[i] === undefined || argv[i].startsWith("--")) throw new Error(`${argv[i - 1]} needs a value; ${usage}`);
        return argv[i];
    };
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i];
        if (arg === "--stack" || arg === "-s") options.stack = value(++i);
        else if (arg === "--out") options.out = path.resolve(value(++i));
        else if (arg === "--dir") options.dir = path.resolve(value(++i));
        else if (arg === "--show-secrets") options.showSecrets = true;
        else if (arg === "--seed") options.seed = value(++i);
        else if (arg === "--base") options.base = value(++i);
        else if (arg === "--snapshot") options.snapshot = path.resolve(value(++i));
        else throw new Error(`unknown argument ${arg}; ${usage}`);
    }
    return options;
}

/** Writes the plan's files; secrets are replaced by labels unless asked for. Returns the stack's folder. */
export function writePlan(plan: PlanResult, outRoot: string, showSecrets: boolean): string {
    const dir = path.join(outRoot, plan.stack);
    fs.rmSync(dir, { recursive: true, force: true });
    const shown = (text: string) => (showSecrets ? text : redactMeaning(text, plan.secrets));
    const write = (file: string, text: string, mode = 0o644) => {
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, shown(text), { mode });
    };
    for (const [node, files] of Object.entries(plan.nodeFiles)) {
        for (const [hostPath, file] of Object.entries(files)) write(path.join(dir, "nodes", node, hostPath), file.content, parseInt(file.mode, 8) & 0o777);
    }
    const outputs = plan.outputs as { operatorConfigs?: Record<string, string>; bootstrapScripts?: Record<string, string> };
    for (const [operator, config] of Object.entries(outputs.operatorConfigs ?? {})) write(path.join(dir, "operators", `${operator}.conf`), config, 0o600);
    for (const [node, script] of Object.entries(outputs.bootstrapScripts ?? {})) write(path.join(dir, "bootstrap", `${node}.sh`), script, 0o700);
    const resources = plan.resources.map((r) => ({ ...r, inputs: showSecrets ? r.inputs : redactSecretInputs(r.inputs) }));
    write(path.join(dir, "resources.json"), JSON.stringify(resources, null, 2) + "\n");
    write(path.join(dir, "outputs.json"), JSON.stringify(showSecrets ? plan.outputs : mapStrings(plan.outputs, shown), null, 2) + "\n");
    write(path.join(dir, "policy.json"), JSON.stringify(plan.violations, null, 2) + "\n");
    return dir;
}

function summary(plan: PlanResult, dir: string): string {
    const lines = [
        `hybrid-k3s offline plan: stack ${plan.stack}, cluster ${plan.spec.clusterName}, ${plan.spec.mesh.kind} mesh ${plan.spec.mesh.cidr}, seed ${plan.seed}`,
        "",
    ];
    const planned = new Map((plan.outputs.nodes as Array<{ name: string; publicAddress?: string }>).map((n) => [n.name, n.publicAddress]));
    const publicOf = (n: PlanResult["spec"]["nodes"][number]) =>
        n.existing ? (n.existing.behindNat ? "behind NAT" : (n.existing.address ?? "")) : `${planned.get(n.name)} (placeholder)`;
    const rows = plan.spec.nodes.map((n) => [n.name, n.provider, n.arch, n.roles.join(","), n.meshAddress, publicOf(n)]);
    lines.push(...table([["node", "provider", "arch", "roles", "mesh address", "public"], ...rows]));
    for (const o of plan.spec.operators) lines.push(`operator ${o.name}: ${o.meshAddress}`);
    lines.push("", `resources: ${plan.resources.length}`);
    const counts = new Map<string, number>();
    for (const r of plan.resources) counts.set(r.type, (counts.get(r.type) ?? 0) + 1);
    lines.push(...table([...counts].sort().map(([type, count]) => [String(count).padStart(4), type])).map((l) => `  ${l}`));
    const fileCount = Object.values(plan.nodeFiles).reduce((n, files) => n + Object.keys(files).length, 0);
    lines.push("", `files: ${fileCount} for ${Object.keys(plan.nodeFiles).length} hosts under ${path.join(dir, "nodes")}/<node>/<path on the host>`);
    lines.push(`resources, outputs and verdict: ${dir}/{resources,outputs,policy}.json`, "");
    const mandatory = plan.violations.filter((v) => v.enforcement === "mandatory");
    if (plan.violations.length === 0) lines.push("policy: passed (no violations)");
    for (const v of plan.violations) lines.push(`policy ${v.enforcement.toUpperCase()}: [${v.policy}] ${v.resource}: ${v.message}`);
    if (mandatory.length > 0) lines.push(`policy: FAILED with ${mandatory.length} mandatory violation(s)`);
    return lines.join("\n");
}

function table(rows: string[][]): string[] {
    const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => r[i].length))) ?? [];
    return rows.map((r) =>
        r
            .map((cell, i) => cell.padEnd(widths[i]))
            .join("  ")
            .trimEnd(),
    );
}

async function main(): Promise<number> {
    const options = parseArgs(process.argv.slice(2));
    // The base is planned first: a ref that cannot be planned fails before anything is written.
    const base = options.base === undefined ? undefined : planAtRef(options.base, options);
    const { config, secretKeys } = readStackConfig(options.stack, options.dir);
    const plan = await runPlan(options.stack, config, secretKeys, options.seed);
    if (options.snapshot) {
        writeSnapshot(snapshotOf(plan), options.snapshot);
        return 0;
    }
    const dir = writePlan(plan, options.out, options.showSecrets);
    console.log(summary(plan, dir));
    if (base) {
        const diff = diffPlans(base.snapshot, snapshotOf(plan), `${options.base} (${base.commit.slice(0, 10)})`);
        fs.writeFileSync(path.join(dir, "steps.json"), JSON.stringify(diff.records, null, 2) + "\n");
        fs.writeFileSync(path.join(dir, "diff.md"), diff.markdown);
        // On the terminal: the summary and each host's steps; file diffs stay in diff.md.
        console.log(
            `\n${diff.markdown
                .replace(/<details>[\s\S]*?<\/details>\n*/g, "")
                .split(`${sectionMarker}\n`)
                .join("")
                .trimEnd()}`,
        );
        console.log(`\nsteps.json (${diff.records.length} steps in engine order) and diff.md (with file diffs) in ${dir}`);
    }
    return planExitCode(plan.violations);
}

/** A plan's JSON form: secrets travel as entries, in a file only its owner reads. */
function writeSnapshot(snapshot: PlanSnapshot, file: string): void {
    fs.writeFileSync(file, JSON.stringify({ ...snapshot, secrets: [...snapshot.secrets] }), { mode: 0o600 });
}

function readSnapshot(file: string): PlanSnapshot {
    const raw = JSON.parse(fs.readFileSync(file, "utf8")) as Omit<PlanSnapshot, "secrets"> & { secrets: Array<[string, string]> };
    return { ...raw, secrets: new Map(raw.secrets) };
}

/**
 * Plans the stack as it is at a git ref: a temporary worktree of the ref (its program and its
 * Pulumi.<stack>.yaml) run by a child process with the same seed. The plan tooling (plan/) is this
 * checkout's on both sides, so the mocks' values and the recorder agree and only the program differs.
 */
function planAtRef(ref: string, options: CliOptions): { snapshot: PlanSnapshot; commit: string } {
    const git = (...args: string[]) => {
        const result = spawnSync("git", args, { cwd: projectDir, encoding: "utf8" });
        if (result.status !== 0) throw new Error(`git ${args.join(" ")}: ${result.stderr.trim() || `exit ${result.status}`}`);
        return result.stdout.trim();
    };
    const commit = git("rev-parse", "--verify", "--end-of-options", `${ref}^{commit}`);
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "hk3s-base-"));
    const tree = path.join(scratch, "tree");
    git("worktree", "add", "--detach", "--quiet", tree, commit);
    try {
        // This checkout's dependencies (a ref that tracked a node_modules link gets ours instead).
        fs.rmSync(path.join(tree, "node_modules"), { recursive: true, force: true });
        fs.symlinkSync(path.join(projectDir, "node_modules"), path.join(tree, "node_modules"));
        fs.cpSync(path.join(projectDir, "plan"), path.join(tree, "plan"), { recursive: true });
        // The stack's config at the ref; --dir pointing elsewhere means "this config file", on both sides.
        const dir = options.dir === projectDir ? tree : options.dir;
        // A stack the ref does not have yet (the change adds it): everything is a create.
        if (!fs.existsSync(path.join(dir, `Pulumi.${options.stack}.yaml`))) return { snapshot: emptySnapshot(options.stack), commit };
        const snapshotFile = path.join(scratch, "base.json");
        const child = spawnSync(
            process.execPath,
            ["--import=tsx", path.join(tree, "plan", "cli.ts"), "--stack", options.stack, "--dir", dir, "--seed", options.seed, "--snapshot", snapshotFile],
            { cwd: tree, encoding: "utf8" },
        );
        if (child.status !== 0) throw new Error(`planning ${options.stack} at ${ref} (${commit.slice(0, 10)}) failed:\n${child.stderr.trim()}`);
        return { snapshot: readSnapshot(snapshotFile), commit };
    } finally {
        git("worktree", "remove", "--force", tree);
        fs.rmSync(scratch, { recursive: true, force: true });
    }
}

/** A mandatory violation fails the plan, as it would fail `pulumi preview --policy-pack policy`. */
export function planExitCode(violations: PolicyViolation[]): number {
    return violations.some((v) => v.enforcement === "mandatory") ? 1 : 0;
}

if (require.main === module) {
    main().then(
        (code) => process.exit(code),
        (err: unknown) => {
            if (err instanceof ConfigError) console.error(err.message);
            else console.error(err instanceof Error ? (err.stack ?? err.message) : err);
            process.exit(1);
        },
    );
}
