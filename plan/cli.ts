// `npm run plan -- --stack prod [--out out] [--show-secrets]`: the offline plan on the terminal and in
// out/<stack>/. Exit 1 on invalid config or a mandatory policy violation.
import * as fs from "fs";
import * as path from "path";
import { ConfigError } from "../components/config";
import { PolicyViolation } from "../policy/policies";
import { PlanResult, projectDir, readStackConfig, redactSecretInputs, runPlan } from "./plan";
import { mapStrings, redactMeaning } from "./redact";

interface CliOptions {
    stack: string;
    /** Where Pulumi.<stack>.yaml lives. */
    dir: string;
    out: string;
    showSecrets: boolean;
}

function parseArgs(argv: string[]): CliOptions {
    const options: CliOptions = { stack: "prod", dir: projectDir, out: path.join(projectDir, "out"), showSecrets: false };
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i];
        if (arg === "--stack" || arg === "-s") options.stack = argv[++i];
        else if (arg === "--out") options.out = path.resolve(argv[++i]);
        else if (arg === "--dir") options.dir = path.resolve(argv[++i]);
        else if (arg === "--show-secrets") options.showSecrets = true;
        else throw new Error(`unknown argument ${arg}; usage: npm run plan -- [--stack prod] [--dir .] [--out out] [--show-secrets]`);
    }
    if (!options.stack) throw new Error("--stack needs a stack name");
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
    const lines = [`hybrid-k3s offline plan: stack ${plan.stack}, cluster ${plan.spec.clusterName}, ${plan.spec.mesh.kind} mesh ${plan.spec.mesh.cidr}`, ""];
    const planned = new Map((plan.outputs.nodes as Array<{ name: string; publicAddress?: string }>).map((n) => [n.name, n.publicAddress]));
    const publicOf = (n: PlanResult["spec"]["nodes"][number]) =>
        n.existing ? (n.existing.behindNat ? "behind NAT" : n.existing.address ?? "") : `${planned.get(n.name)} (placeholder)`;
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
    return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd());
}

async function main(): Promise<number> {
    const options = parseArgs(process.argv.slice(2));
    const { config, secretKeys } = readStackConfig(options.stack, options.dir);
    const plan = await runPlan(options.stack, config, secretKeys);
    const dir = writePlan(plan, options.out, options.showSecrets);
    console.log(summary(plan, dir));
    return planExitCode(plan.violations);
}

/** A mandatory violation fails the plan, as it would fail `pulumi preview --policy-pack policy`. */
export function planExitCode(violations: PolicyViolation[]): number {
    return violations.some((v) => v.enforcement === "mandatory") ? 1 : 0;
}

if (require.main === module) {
    main().then((code) => process.exit(code), (err: unknown) => {
        if (err instanceof ConfigError) console.error(err.message);
        else console.error(err instanceof Error ? err.stack ?? err.message : err);
        process.exit(1);
    });
}
