// Redaction for what the offline plan writes: secrets are removed from what a text means, not only
// from its letters. A bundle carries each file base64-encoded, so its files are decoded, redacted
// and encoded again; then the text itself is redacted. A secret never survives in any encoding
// the plan writes (test/program/redaction.test.ts scans every written file, decoding base64 and gzip).
import { mapBundleContents } from "../components/render/bundle";
import { redactText } from "./plan";

export function redactMeaning(text: string, secrets: Map<string, string>): string {
    return redactText(
        mapBundleContents(text, (content) => redactText(content, secrets)),
        secrets,
    );
}

/** Every string in a JSON-like value passed through `edit` (outputs.json holds bundles inside strings). */
export function mapStrings(value: unknown, edit: (text: string) => string): unknown {
    if (typeof value === "string") return edit(value);
    if (Array.isArray(value)) return value.map((v) => mapStrings(v, edit));
    if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapStrings(v, edit)]));
    return value;
}
