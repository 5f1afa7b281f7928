// Shared helpers of the stack config tests: the prod config as raw input, node edits, and the problems a config is rejected with.
import { strict as assert } from "assert";
import { ConfigError, parseClusterConfig, rawConfigFromPulumi } from "../../components/config";
import { readStackConfig } from "../../plan/plan";

export type RawNode = Record<string, unknown>;

/** The prod stack's config as parseClusterConfig sees it: the baseline every bad case mutates. */
export function prodRaw(): Record<string, unknown> {
    return rawConfigFromPulumi(readStackConfig("prod").config);
}

/** The prod config with every mesh address left to derivation. */
export function unpinnedRaw(meshCidr: string): Record<string, unknown> {
    const raw = withNodes((n) => n.forEach((x) => delete x.meshAddress));
    return { ...raw, meshCidr, operators: (raw.operators as RawNode[]).map(({ name }) => ({ name })) };
}

export function withNodes(edit: (nodes: RawNode[]) => void, base = prodRaw()): Record<string, unknown> {
    const nodes = structuredClone(base.nodes) as RawNode[];
    edit(nodes);
    return { ...base, nodes };
}

export function problemsOf(raw: Record<string, unknown>): string[] {
    try {
        parseClusterConfig(raw);
    } catch (err) {
        if (err instanceof ConfigError) return err.problems;
        throw err;
    }
    assert.fail("expected the config to be rejected");
}

/** Exactly one problem, which names the field and matches the expected text. */
export function assertOneProblem(raw: Record<string, unknown>, field: string, text: RegExp): void {
    const problems = problemsOf(raw);
    assert.equal(problems.length, 1, `expected one problem, got:\n${problems.join("\n")}`);
    assert.ok(problems[0].startsWith(field) || problems[0].includes(`${field}:`), `"${problems[0]}" should name ${field}`);
    assert.match(problems[0], text);
}

export const node = (name: string, nodes: RawNode[]) => nodes.find((n) => n.name === name)!;
/** A node's field path as problems name it, found by name (the list's order is the config's business). */
export const at = (name: string, field: string) => `nodes[${(prodRaw().nodes as RawNode[]).findIndex((n) => n.name === name)}].${field}`;
export const index = (name: string) => (prodRaw().nodes as RawNode[]).findIndex((n) => n.name === name);
