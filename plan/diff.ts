// Two plans of one stack → the steps `pulumi up` would run (steps.json) and a review-sized diff.md:
// the summary first, then per host that changes its files' changes and the steps that run there.
// Secret values never reach the text: files are redacted with the plans' labels, steps carry names only.
import { PolicyViolation } from "../policy/policies";
import { PlanResult, redactText } from "./plan";
import { changes, Step, StepOp, stepsBetween, waves } from "./steps";

/** What a diff needs of a plan (the base's arrives as JSON from another checkout). */
export type PlanSnapshot = Pick<PlanResult, "stack" | "resources" | "nodeFiles" | "violations" | "secrets"> & { nodes: string[] };

export function snapshotOf(plan: PlanResult): PlanSnapshot {
    return {
        stack: plan.stack,
        resources: plan.resources,
        nodeFiles: plan.nodeFiles,
        violations: plan.violations,
        secrets: plan.secrets,
        nodes: plan.spec.nodes.map((n) => n.name),
    };
}

/** The "before" of a stack that does not exist yet: its first `pulumi up` creates everything. */
export function emptySnapshot(stack: string): PlanSnapshot {
    return { stack, resources: [], nodeFiles: {}, violations: [], secrets: new Map(), nodes: [] };
}

/** steps.json: what each step is and where it runs, in engine order. */
export interface StepRecord {
    op: StepOp;
    type: string;
    name: string;
    host?: string;
}

export interface PlanDiff {
    records: StepRecord[];
    markdown: string;
}

/** Marks where diff.md's per-host sections start: the comment builder cuts only there. */
export const sectionMarker = "<!-- section -->";

const opsShown: StepOp[] = ["create", "update", "replace", "delete"];
const symbol: Record<StepOp, string> = { same: " ", create: "+", update: "~", replace: "+-", delete: "-" };

export function diffPlans(before: PlanSnapshot, after: PlanSnapshot, baseLabel: string): PlanDiff {
    const steps = changes(stepsBetween(before.resources, after.resources));
    const records = steps.map(({ op, type, name, host }): StepRecord => (host ? { op, type, name, host } : { op, type, name }));
    return { records, markdown: renderMarkdown(before, after, steps, baseLabel) };
}

function renderMarkdown(before: PlanSnapshot, after: PlanSnapshot, steps: Step[], baseLabel: string): string {
    const waveOf = new Map(waves(steps).flatMap((wave, i) => wave.map((s) => [s, i + 1] as const)));
    const isCustom = customUrns(before, after);
    const real = steps.filter((s) => s.runs !== "nothing" || isCustom(s));
    const hosts = [...new Set([...before.nodes, ...after.nodes])];
    const texts = fileTexts(before, after);
    const changedHosts = hosts.filter((h) => steps.some((s) => s.host === h) || texts(h).some((f) => f.before !== f.after));
    const counts = opsShown.map((op) => `${real.filter((s) => s.op === op).length} ${op}`).join(", ");
    const bookkeeping = steps.length - real.length;
    const lines = [
        `## hybrid-k3s plan: stack \`${after.stack}\` (${baseLabel} → this change)`,
        "",
        steps.length === 0
            ? "**No changes**: `pulumi up` would run no step."
            : `**${real.length} ${real.length === 1 ? "step" : "steps"}**: ${counts}${bookkeeping ? ` (+${bookkeeping} component steps that run nothing)` : ""}`,
        `**Hosts**: ${changedHosts.length} change, ${hosts.length - changedHosts.length} unchanged`,
        ...policyLines(after.violations),
        "",
    ];
    for (const host of changedHosts)
        lines.push(
            sectionMarker,
            ...hostSection(
                host,
                before,
                after,
                steps.filter((s) => s.host === host),
                texts(host),
                waveOf,
                isCustom,
            ),
            "",
        );
    const elsewhere = real.filter((s) => !s.host);
    if (elsewhere.length > 0) lines.push(sectionMarker, "### Not on a host", "", ...stepTable(elsewhere, waveOf), "");
    return lines.join("\n");
}

/** Components are bookkeeping; a custom resource's step counts even when its command runs nothing. */
function customUrns(before: PlanSnapshot, after: PlanSnapshot): (step: Step) => boolean {
    const custom = new Set([...before.resources, ...after.resources].filter((r) => r.custom).map((r) => r.urn));
    return (step) => custom.has(step.urn);
}

/** The verdict, mandatory violations first: they fail `pulumi preview --policy-pack`. */
function policyLines(violations: PolicyViolation[]): string[] {
    const mandatory = violations.filter((v) => v.enforcement === "mandatory");
    const advisory = violations.filter((v) => v.enforcement !== "mandatory");
    const verdict =
        mandatory.length > 0
            ? `**Policy: FAILED**, ${mandatory.length} mandatory violation(s)${advisory.length ? `, ${advisory.length} advisory` : ""}`
            : `**Policy**: passed${advisory.length ? ` (${advisory.length} advisory)` : ""}`;
    return [
        verdict,
        ...[...mandatory, ...advisory].map(
            (v) => `- ${v.enforcement === "mandatory" ? "**MANDATORY**" : "advisory"} \`${v.policy}\` ${v.resource}: ${v.message}`,
        ),
    ];
}

interface FileText {
    path: string;
    before?: string;
    after?: string;
}

/** Each host's files on both sides, redacted; a secret whose value changed is labelled so on the new side. */
function fileTexts(before: PlanSnapshot, after: PlanSnapshot): (host: string) => FileText[] {
    const oldLabels = new Map([...before.secrets].map(([value, label]) => [label, value]));
    const newSecrets = new Map(
        [...after.secrets].map(([value, label]) => [value, oldLabels.has(label) && oldLabels.get(label) !== value ? `${label} (changed)` : label]),
    );
    return (host) => {
        const olds = before.nodeFiles[host] ?? {};
        const news = after.nodeFiles[host] ?? {};
        return [...new Set([...Object.keys(olds), ...Object.keys(news)])].sort().map((path) => ({
            path,
            before: olds[path] && `${olds[path].mode}\n${redactText(olds[path].content, before.secrets)}`,
            after: news[path] && `${news[path].mode}\n${redactText(news[path].content, newSecrets)}`,
        }));
    };
}

function hostSection(
    host: string,
    before: PlanSnapshot,
    after: PlanSnapshot,
    steps: Step[],
    files: FileText[],
    waveOf: Map<Step, number>,
    isCustom: (s: Step) => boolean,
): string[] {
    const state = !before.nodes.includes(host) ? "new host" : !after.nodes.includes(host) ? "removed" : "changes";
    const changed = files.filter((f) => f.before !== f.after);
    const lines = [`### ${host} (${state})`, ""];
    const working = steps.filter((s) => s.runs !== "nothing");
    const idle = steps.filter((s) => s.runs === "nothing" && isCustom(s));
    if (working.length > 0) lines.push(...stepTable(working, waveOf), "");
    if (idle.length > 0) lines.push(`Also ${idle.length} step(s) that run nothing here: ${idle.map((s) => `${s.op} \`${s.name}\``).join(", ")}`, "");
    if (changed.length > 0) {
        lines.push(`Files: ${changed.map((f) => `\`${f.path}\` ${fileChange(f)}`).join(", ")}`, "");
        lines.push("<details><summary>file diffs</summary>", "", "```diff", ...changed.flatMap((f) => unifiedDiff(f)), "```", "", "</details>");
    }
    return lines;
}

function fileChange(file: FileText): string {
    if (file.before === undefined) return "(new)";
    if (file.after === undefined) return "(no longer shipped)";
    const { added, removed } = lineCounts(file.before, file.after);
    return `(+${added} −${removed})`;
}

function stepTable(steps: Step[], waveOf: Map<Step, number>): string[] {
    const wave = (s: Step) => waveOf.get(s) ?? 0;
    return [
        "| wave | step | resource | runs |",
        "|---|---|---|---|",
        ...[...steps]
            .sort((a, b) => wave(a) - wave(b))
            .map(
                (s) =>
                    `| ${waveOf.get(s) ?? "–"} | ${symbol[s.op]} ${s.op}${s.replaced ? " (old half)" : ""} | \`${s.name}\` ${shortType(s.type)} | ${runsText(s)} |`,
            ),
    ];
}

function shortType(type: string): string {
    return type.startsWith("hybrid-k3s:") ? "(component)" : `(${type.split(":").pop()})`;
}

function runsText(step: Step): string {
    const why = [
        step.changed?.length ? `${step.changed.join(", ")} changed` : "",
        step.replaceKeys?.length ? `replaced for ${step.replaceKeys.join(", ")}` : "",
        step.becauseOf?.length ? `fed by replaced ${step.becauseOf.map((u) => `\`${u.split("::").pop()}\``).join(", ")}` : "",
        step.deleteBeforeReplace ? "deleted before its replacement" : "",
        step.refused ? `**refused: ${step.refused}**` : "",
    ]
        .filter(Boolean)
        .join("; ");
    const what = step.runs === "nothing" ? "nothing" : step.runs === "provider" ? "provider call" : `its \`${step.runs}\` script`;
    return why ? `${what} (${why})` : what;
}

/** Lines of a unified diff (3 lines of context), the file mode as its first line. */
function unifiedDiff(file: FileText): string[] {
    const a = file.before === undefined ? [] : file.before.split("\n");
    const b = file.after === undefined ? [] : file.after.split("\n");
    const ops = lineOps(a, b);
    const header = [`--- ${file.before === undefined ? "/dev/null" : `a${file.path}`}`, `+++ ${file.after === undefined ? "/dev/null" : `b${file.path}`}`];
    const context = 3;
    const changedAt = ops.flatMap((o, i) => (o.kind === " " ? [] : [i]));
    // Changes closer than two contexts share a hunk.
    const groups: number[][] = [];
    for (const i of changedAt) {
        const last = groups[groups.length - 1];
        if (last && i - last[last.length - 1] <= 2 * context) last.push(i);
        else groups.push([i]);
    }
    const hunks = groups.flatMap((group) => {
        const start = Math.max(0, group[0] - context);
        const end = Math.min(ops.length, group[group.length - 1] + context + 1);
        const slice = ops.slice(start, end);
        const oldStart = ops.slice(0, start).filter((o) => o.kind !== "+").length + 1;
        const newStart = ops.slice(0, start).filter((o) => o.kind !== "-").length + 1;
        return [
            `@@ -${oldStart},${slice.filter((o) => o.kind !== "+").length} +${newStart},${slice.filter((o) => o.kind !== "-").length} @@`,
            ...slice.map((o) => `${o.kind}${o.line}`),
        ];
    });
    return [...header, ...hunks];
}

interface LineOp {
    kind: " " | "-" | "+";
    line: string;
}

/** A line diff by longest common subsequence (files here are a few hundred lines at most). */
function lineOps(a: string[], b: string[]): LineOp[] {
    const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
    for (let i = a.length - 1; i >= 0; i--) {
        for (let j = b.length - 1; j >= 0; j--) lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
    const ops: LineOp[] = [];
    let i = 0;
    let j = 0;
    while (i < a.length || j < b.length) {
        if (i < a.length && j < b.length && a[i] === b[j]) {
            ops.push({ kind: " ", line: a[i] });
            i++;
            j++;
        } else if (i < a.length && (j === b.length || lcs[i + 1][j] >= lcs[i][j + 1])) ops.push({ kind: "-", line: a[i++] });
        else ops.push({ kind: "+", line: b[j++] });
    }
    return ops;
}

function lineCounts(before: string, after: string): { added: number; removed: number } {
    const ops = lineOps(before.split("\n"), after.split("\n"));
    return { added: ops.filter((o) => o.kind === "+").length, removed: ops.filter((o) => o.kind === "-").length };
}
