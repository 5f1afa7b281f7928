// Typed readers for the objects in the structured settings (nodes, operators, apps): every problem
// names the field path and the fix.
import { projectName } from "./settings";

export function suggest(key: string, candidates: readonly string[]): string {
    const close = candidates.filter((c) => editDistance(c.toLowerCase(), key.toLowerCase()) <= 2);
    return close.length > 0 ? `did you mean ${close.map((c) => `"${c}"`).join(" or ")}?` : `known: ${candidates.join(", ")}`;
}

function editDistance(a: string, b: string): number {
    const row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
        let diagonal = row[0];
        row[0] = i;
        for (let j = 1; j <= b.length; j++) {
            const above = row[j];
            row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
            diagonal = above;
        }
    }
    return row[b.length];
}

/** Checks an object's keys against the allowed ones, reporting typos with a suggestion. */
export function checkKeys(value: Record<string, unknown>, allowed: readonly string[], field: string, problems: string[]): void {
    for (const key of Object.keys(value)) {
        if (!allowed.includes(key)) problems.push(`${field}.${key}: unknown key; ${suggest(key, allowed)}`);
    }
}

export function asObjectList(value: unknown, key: string, problems: string[]): Array<Record<string, unknown>> {
    if (value === undefined) return [];
    if (!Array.isArray(value) || value.some((v) => typeof v !== "object" || v === null || Array.isArray(v))) {
        problems.push(`${projectName}:${key}: expected a list of objects (see Pulumi.yaml for the shape)`);
        return [];
    }
    return value as Array<Record<string, unknown>>;
}

export class FieldReader {
    constructor(
        private readonly value: Record<string, unknown>,
        readonly path: string,
        private readonly problems: string[],
    ) {}

    problem(field: string, message: string): void {
        this.problems.push(`${this.path}.${field}: ${message}`);
    }

    has(field: string): boolean {
        return this.value[field] !== undefined;
    }

    string(field: string, required: true): string | undefined;
    string(field: string, required?: false): string | undefined;
    string(field: string, required = false): string | undefined {
        const v = this.value[field];
        if (v === undefined) {
            if (required) this.problem(field, "is required");
            return undefined;
        }
        if (typeof v !== "string" || v.trim() === "") {
            this.problem(field, "expected a non-empty string");
            return undefined;
        }
        return v;
    }

    /** A string that must match the syntax its consumer accepts (a script, a unit, a cloud name). */
    matching(field: string, pattern: RegExp, example: string, required = false): string | undefined {
        const v = this.string(field, required as false);
        if (v !== undefined && !pattern.test(v)) {
            this.problem(field, `${JSON.stringify(v)} is not valid here; write it like ${example}`);
            return undefined;
        }
        return v;
    }

    oneOf<T extends string>(field: string, options: readonly T[], fallback?: T): T | undefined {
        const v = this.value[field] ?? fallback;
        if (v === undefined) {
            this.problem(field, `is required; one of ${options.join(", ")}`);
            return undefined;
        }
        if (!options.includes(v as T)) {
            this.problem(field, `"${String(v)}" is not one of ${options.join(", ")}`);
            return undefined;
        }
        return v as T;
    }

    integer(field: string, fallback: number, min: number, max: number): number {
        const raw = this.value[field] ?? fallback;
        const v = typeof raw === "string" && /^\d+$/.test(raw) ? Number(raw) : raw;
        if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
            this.problem(field, `"${String(raw)}" must be a whole number from ${min} to ${max}`);
            return fallback;
        }
        return v;
    }

    boolean(field: string, fallback: boolean): boolean {
        const v = this.value[field] ?? fallback;
        if (v === "true" || v === "false") return v === "true";
        if (typeof v !== "boolean") {
            this.problem(field, `"${String(v)}" must be true or false`);
            return fallback;
        }
        return v;
    }

    list(field: string): unknown[] {
        const v = this.value[field];
        if (v === undefined) return [];
        if (!Array.isArray(v)) {
            this.problem(field, "expected a list");
            return [];
        }
        return v;
    }

    stringList(field: string): string[] {
        const v = this.value[field];
        if (v === undefined) return [];
        if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
            this.problem(field, "expected a list of strings");
            return [];
        }
        return v as string[];
    }
}
