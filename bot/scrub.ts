// The last line of defence for secrets: every text the bot sends to Slack or writes to the audit log
// passes through here. The CLI masks the secrets it knows, but a program's own log line, a provider
// error or an encoded copy of a value is not masked; the bot learns each stack's secret outputs
// before it runs anything on it and replaces them, plain and base64, wherever they appear.

const MASK = "[secret]";
/** Shorter values would mask ordinary words (a secret "true" or "1" protects nothing anyway). */
const MIN_VALUE = 6;
/** Lines of a multi-line secret (a kubeconfig's key line) are masked on their own from this length. */
const MIN_LINE = 12;
/** So are its words (a key inside a kubeconfig or a config file): long enough not to be ordinary words. */
const MIN_WORD = 16;

export class SecretScrubber {
    private readonly needles = new Set<string>();

    /**
     * Remembers a secret value (any JSON value): the whole, each string in it, each long line and
     * long word of those; each plain, JSON-escaped and base64.
     */
    learn(value: unknown): void {
        for (const text of strings(value).filter((s) => s.length >= MIN_VALUE)) {
            const lines = text
                .split(/\r?\n/)
                .map((line) => line.trim())
                .filter((line) => line.length >= MIN_LINE);
            // Words split on blanks and quotes only (base64 ends in "="), plus the value of a key=value word.
            const words = text
                .split(/[\s"'`,;]+/)
                .flatMap((word) => [word, word.replace(/^[\w.-]+[=:]/, "")])
                .filter((word) => word.length >= MIN_WORD);
            const forms = [text, ...lines, ...words];
            for (const form of forms) {
                const b64 = Buffer.from(form).toString("base64");
                for (const needle of [form, JSON.stringify(form).slice(1, -1), b64, b64.replace(/=+$/, ""), Buffer.from(form).toString("base64url")]) {
                    this.needles.add(needle);
                }
            }
        }
    }

    readonly scrub = (text: string): string => {
        // Longest first, so a whole value is masked before a fragment of it splits it.
        let out = text;
        for (const needle of [...this.needles].sort((a, b) => b.length - a.length)) {
            out = out.split(needle).join(MASK);
        }
        return out;
    };
}

function strings(value: unknown): string[] {
    if (typeof value === "string") {
        return [value];
    }
    if (Array.isArray(value)) {
        return value.flatMap(strings);
    }
    if (typeof value === "object" && value !== null) {
        return [JSON.stringify(value), ...Object.values(value).flatMap(strings)];
    }
    return [];
}
