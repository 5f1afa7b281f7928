// The engine's steps between two plans, and the order they run in. Interim: the lead is wiring the
// real step model (plan/steps.ts); until it lands this derives the same shape from the plans'
// dependsOn/parent, behind StepModel, so switching is one line in cli.ts.
import { isDeepStrictEqual } from "node:util";
import { PlannedResource } from "../plan/plan";

export type StepOp = "create" | "update" | "replace" | "delete" | "same";

export interface Step {
    op: StepOp;
    type: string;
    name: string;
    host?: string;
}

export interface StepModel {
    /** What the engine would do going from `before` (undefined: an empty stack) to `after`. */
    steps(before: PlannedResource[] | undefined, after: PlannedResource[]): Step[];
    /** The steps that run, grouped: each group starts when the previous one is done; members run in parallel. */
    waves(steps: Step[]): Step[][];
}

export const idOf = (r: { type: string; name: string }) => `${r.type}::${r.name}`;
const isComponent = (r: PlannedResource) => r.type.startsWith("hybrid-k3s:") || r.type === "pulumi:pulumi:Stack";

/** Creates and updates in dependency order; deletes after all of them, dependents first (performPostSteps). */
export class DependencyStepModel implements StepModel {
    private before = new Map<string, PlannedResource>();
    private after = new Map<string, PlannedResource>();

    constructor(private readonly hostOf: (r: PlannedResource) => string | undefined) {}

    steps(before: PlannedResource[] | undefined, after: PlannedResource[]): Step[] {
        this.before = new Map((before ?? []).map((r) => [idOf(r), r]));
        this.after = new Map(after.map((r) => [idOf(r), r]));
        const step = (op: StepOp, r: PlannedResource): Step => ({ op, type: r.type, name: r.name, host: this.hostOf(r) });
        const out: Step[] = [];
        for (const r of after.filter((r) => !isComponent(r))) {
            const old = this.before.get(idOf(r));
            out.push(step(old ? changeOf(old, r) : "create", r));
        }
        for (const r of (before ?? []).filter((r) => !isComponent(r) && !this.after.has(idOf(r)))) out.push(step("delete", r));
        return out;
    }

    waves(steps: Step[]): Step[][] {
        const forward = steps.filter((s) => s.op === "create" || s.op === "update" || s.op === "replace");
        const deletes = steps.filter((s) => s.op === "delete");
        return [
            ...layer(forward, (id) => this.dependencies(this.after, id)),
            // Reverse order: a resource is deleted once everything that depends on it is gone.
            ...layer(deletes, (id) => deletes.filter((d) => this.dependencies(this.before, idOf(d)).has(id)).map(idOf)),
        ];
    }

    /** Custom resources this one waits for: explicit dependsOn, a component standing for all its custom descendants. */
    private dependencies(plan: Map<string, PlannedResource>, id: string): Set<string> {
        const out = new Set<string>();
        const expand = (dep: string) => {
            const r = plan.get(dep);
            if (!r) return;
            if (!isComponent(r)) out.add(dep);
            else for (const child of plan.values()) if (child.parent === dep) expand(idOf(child));
        };
        for (const dep of plan.get(id)?.dependsOn ?? []) expand(dep);
        return out;
    }
}

/** A changed input is an update, a changed `triggers` a replacement; ignoreChanges keeps the old value. */
function changeOf(old: PlannedResource, next: PlannedResource): StepOp {
    const inputs = (r: PlannedResource) => {
        const copy = { ...(r.inputs as Record<string, unknown>) };
        for (const key of next.ignoreChanges) delete copy[key];
        return copy;
    };
    const a = inputs(old);
    const b = inputs(next);
    if (isDeepStrictEqual(a, b)) return "same";
    return isDeepStrictEqual(a.triggers, b.triggers) ? "update" : "replace";
}

/**
 * Longest-path layering of the steps by their dependencies. A dependency that is not a step (same,
 * or a provider resource) passes its own dependencies on: the engine finishes it only after them.
 */
function layer(steps: Step[], dependsOn: (id: string) => Iterable<string>): Step[][] {
    const byId = new Map(steps.map((s) => [idOf(s), s]));
    const depth = new Map<string, number>();
    const stepDependencies = (id: string, seen = new Set<string>()): string[] =>
        [...dependsOn(id)].flatMap((dep) => {
            if (seen.has(dep)) return [];
            seen.add(dep);
            return byId.has(dep) ? [dep] : stepDependencies(dep, seen);
        });
    const visit = (id: string, path: Set<string>): number => {
        const known = depth.get(id);
        if (known !== undefined) return known;
        if (path.has(id)) throw new Error(`dependency cycle through ${id}`);
        path.add(id);
        let d = 0;
        for (const dep of stepDependencies(id)) d = Math.max(d, visit(dep, path) + 1);
        path.delete(id);
        depth.set(id, d);
        return d;
    };
    const waves: Step[][] = [];
    for (const s of steps) (waves[visit(idOf(s), new Set())] ??= []).push(s);
    return waves.filter(Boolean);
}
