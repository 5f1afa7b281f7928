// Inputs as plain data, with preview-time unknowns made explicit.
//
// During preview an input computed from another resource's output is unknown, and the engine's
// proxy throws when a rule reads it. Copying the inputs once into plain data, with UNKNOWN in those
// places, lets every rule decide field by field: whatever is known is checked, and what is unknown
// is named in an advisory where it could matter. (Letting the proxy's error escape is worse: the
// engine then skips the whole policy for that resource, known violations included.)
import { unknownCheckingProxy as untypedUnknownCheckingProxy, UnknownValueError as UntypedUnknownValueError } from "@pulumi/policy";

// @pulumi/policy exports these two at runtime but strips them from its typings (@internal), so
// TypeScript sees `any`: give them the types they have.
export const unknownCheckingProxy: <T extends object>(inputs: T) => T = untypedUnknownCheckingProxy;
const UnknownValueError: new (...args: never[]) => Error = UntypedUnknownValueError;

export const UNKNOWN: unique symbol = Symbol("unknown during preview");
export type Unknown = typeof UNKNOWN;
export type Known = Unknown | null | undefined | boolean | number | string | Known[] | { [key: string]: Known };

export function snapshot(read: () => unknown): Known {
    let value: unknown;
    try {
        value = read();
    } catch (error) {
        if (error instanceof UnknownValueError) {
            return UNKNOWN;
        }
        throw error;
    }
    if (Array.isArray(value)) {
        const items: unknown[] = value;
        // Index by index: Array methods would read every element through the proxy at once.
        const copy: Known[] = [];
        for (let index = 0; index < items.length; index++) {
            copy.push(snapshot(() => items[index]));
        }
        return copy;
    }
    if (value !== null && typeof value === "object") {
        const record = value as Record<string, unknown>;
        return Object.fromEntries(Object.keys(record).map((key) => [key, snapshot(() => record[key])]));
    }
    return value as Known;
}

export function field(value: Known, key: string): Known {
    return value !== null && typeof value === "object" && !Array.isArray(value) ? value[key] : undefined;
}

/** The items of list inputs, a single value counting as one item (Azure has both `x` and `xs` fields). */
export function list(...values: Known[]): Known[] {
    return values.flatMap((value) => (Array.isArray(value) ? value : value === undefined || value === null ? [] : [value]));
}

/** A string or number input as trimmed text; undefined when missing, unknown or structured. */
export function text(value: Known): string | undefined {
    return typeof value === "string" || typeof value === "number" ? String(value).trim() : undefined;
}
