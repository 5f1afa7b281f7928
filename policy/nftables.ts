// A reader for the input chain of the nftables ruleset the program ships, and the check that it
// keeps the watched ports on the mesh. It reads the rule shapes nftables allows there: iif/iifname,
// ip/ip6 saddr and daddr, tcp/udp/th dport and sport, meta l4proto, ct state (values, negations,
// anonymous {} sets, @named sets of the same file, port ranges) with accept, drop or reject, and
// `counter`/`log` in between. Anything else in a rule is named, never guessed.
import { AddressRange, contains, parseCidr, privateRanges } from "./addresses";
import { Transport, transports, WatchedPorts } from "./ports";

/** One match of a rule: `iifname != "wg0"` is { key: "iifname", negated: true, values: ["wg0"] }. */
interface Match {
    key: string;
    negated: boolean;
    values: string[];
}

interface NftRule {
    text: string;
    matches: Match[];
    verdict?: "accept" | "drop" | "reject";
    /** Why the reader cannot tell what the rule does, if it cannot. */
    unreadable?: string;
}

interface NftInputChain {
    rules: NftRule[];
    policy: "accept" | "drop";
}

interface NftRuleset {
    inputChains: NftInputChain[];
    /** Named sets: name → their elements. */
    sets: Map<string, string[]>;
}

/** The text of the `{ ... }` block opening at `open`, and where it ends. */
function block(text: string, open: number): { body: string; end: number } {
    let depth = 0;
    for (let index = open; index < text.length; index++) {
        depth += text[index] === "{" ? 1 : text[index] === "}" ? -1 : 0;
        if (depth === 0) {
            return { body: text.slice(open + 1, index), end: index };
        }
    }
    throw new Error("nftables ruleset: unbalanced braces");
}

/** Comments removed: `# ...` lines and `comment "..."` annotations. */
function withoutComments(ruleset: string): string {
    return ruleset.replace(/\bcomment\s+"[^"]*"/g, "").replace(/#[^\n]*/g, "");
}

function elementsOf(values: string): string[] {
    const inner = values.startsWith("{") ? values.slice(1, -1) : values;
    return inner
        .split(",")
        .map((value) => value.trim().replace(/^"(.*)"$/, "$1"))
        .filter(Boolean);
}

const matchKeys: Record<string, number> = { iif: 1, iifname: 1, ct: 2, meta: 2, ip: 2, ip6: 2, tcp: 2, udp: 2, th: 2 };
const readableKeys = new Set([
    "iif",
    "iifname",
    "ct state",
    "meta l4proto",
    "meta iifname",
    "meta iif",
    "ip saddr",
    "ip6 saddr",
    "ip daddr",
    "ip6 daddr",
    "ip protocol",
    "ip6 nexthdr",
    "tcp dport",
    "udp dport",
    "th dport",
    "tcp sport",
    "udp sport",
    "th sport",
]);

export function parseRule(line: string): NftRule {
    const tokens = line.match(/\{[^}]*\}|"[^"]*"|\S+/g) ?? [];
    const rule: NftRule = { text: line.trim(), matches: [] };
    for (let index = 0; index < tokens.length; index++) {
        const token = tokens[index];
        if (token === "counter" || token === "log") {
            // `counter packets 0 bytes 0`, `log prefix "x"`: statements without effect on the verdict.
            while (tokens[index + 1] !== undefined && /^(packets|bytes|prefix|level|\d+|"[^"]*")$/.test(tokens[index + 1])) {
                index++;
            }
            continue;
        }
        if (token === "accept" || token === "drop" || token === "reject") {
            rule.verdict = token;
            // `reject with tcp reset` and the like end the rule.
            if (token !== "reject" && index < tokens.length - 1) {
                rule.unreadable = `"${tokens.slice(index + 1).join(" ")}" after ${token}`;
            }
            return rule;
        }
        const width = matchKeys[token];
        const key = width === undefined ? undefined : tokens.slice(index, index + width).join(" ");
        if (key === undefined || !readableKeys.has(key)) {
            rule.unreadable = `"${token}"`;
            return rule;
        }
        index += width;
        const negated = tokens[index] === "!=";
        if (negated || tokens[index] === "==") {
            index++;
        }
        if (tokens[index] === undefined) {
            rule.unreadable = `"${key}" without a value`;
            return rule;
        }
        rule.matches.push({ key: key.replace(/^meta (iif|iifname)$/, "$1"), negated, values: elementsOf(tokens[index]) });
    }
    return rule;
}

function parseRuleset(ruleset: string): NftRuleset {
    const text = withoutComments(ruleset);
    const sets = new Map<string, string[]>();
    for (const found of text.matchAll(/\bset\s+([\w-]+)\s*\{/g)) {
        const { body } = block(text, (found.index ?? 0) + found[0].length - 1);
        const elements = /elements\s*=\s*(\{[^}]*\})/.exec(body);
        sets.set(found[1], elements ? elementsOf(elements[1]) : []);
    }
    const inputChains: NftInputChain[] = [];
    for (const found of text.matchAll(/\bchain\s+[\w-]+\s*\{/g)) {
        const { body } = block(text, (found.index ?? 0) + found[0].length - 1);
        const statements = body
            .split(/[\n;]/)
            .map((line) => line.trim())
            .filter(Boolean);
        if (!statements.some((statement) => /^type\s+filter\s+hook\s+input\b/.test(statement))) {
            continue;
        }
        const policy = statements.find((statement) => statement.startsWith("policy "))?.split(/\s+/)[1] === "drop" ? "drop" : "accept";
        const rules = statements.filter((statement) => !/^(type|policy)\s/.test(statement)).map(parseRule);
        inputChains.push({ rules, policy });
    }
    return { inputChains, sets };
}

function portIn(values: readonly string[], port: number): boolean | undefined {
    let unreadable = false;
    for (const value of values) {
        const match = /^(\d+)(?:-(\d+))?$/.exec(value);
        if (match === null) {
            unreadable = true;
        } else if (Number(match[1]) <= port && port <= Number(match[2] ?? match[1])) {
            return true;
        }
    }
    return unreadable ? undefined : false;
}

/** Whether a rule's matches can let `transport`/`port` through; undefined when the reader cannot tell. */
function matchesPort(rule: NftRule, transport: Transport, port: number): boolean | undefined {
    for (const match of rule.matches) {
        const [protocolKey, field] = match.key.split(" ");
        if (field === "l4proto" || field === "protocol" || field === "nexthdr") {
            if (match.values.includes(transport) === match.negated) {
                return false;
            }
        } else if (field === "dport" || field === "sport") {
            if (protocolKey !== "th" && protocolKey !== transport) {
                return false;
            }
            if (field === "dport") {
                const inSet = portIn(match.values, port);
                if (inSet === undefined) {
                    return undefined;
                }
                if (inSet === match.negated) {
                    return false;
                }
            }
        }
    }
    return true;
}

interface MeshFacts {
    meshInterface: string;
    meshCidr: AddressRange | undefined;
    sets: Map<string, string[]>;
}

/** Ranges a saddr value stands for; a named set expands to its elements. */
function sourceRanges(values: readonly string[], sets: Map<string, string[]>): Array<AddressRange | undefined> {
    return values.flatMap((value) => (value.startsWith("@") ? (sets.get(value.slice(1)) ?? ["?"]) : [value])).map(parseCidr);
}

function within(range: AddressRange, outer: AddressRange | undefined): boolean {
    return outer !== undefined && contains(outer, { family: range.family, value: range.first }) && contains(outer, { family: range.family, value: range.last });
}

/** Whether a rule only lets in packets from the mesh, loopback, the cluster's own ranges or replies. */
function onlyFromInside(rule: NftRule, facts: MeshFacts): boolean {
    return rule.matches.some((match) => {
        if (match.negated) {
            return false;
        }
        if (match.key === "iif" || match.key === "iifname") {
            return match.values.every((name) => name === facts.meshInterface || name === "lo");
        }
        if (match.key === "ct state") {
            return match.values.every((state) => state === "established" || state === "related");
        }
        if (match.key === "ip saddr" || match.key === "ip6 saddr") {
            // A named set of private ranges is the cluster's own (@cluster_ranges: pods and services).
            const named = match.values.every((value) => value.startsWith("@"));
            return sourceRanges(match.values, facts.sets).every(
                (range) => range !== undefined && (within(range, facts.meshCidr) || (named && privateRanges.some((inside) => within(range, inside)))),
            );
        }
        return false;
    });
}

/** Whether a drop or reject stops the port for everything outside the mesh (no condition but `iifname != mesh`). */
function closesFromOutside(rule: NftRule, facts: MeshFacts): boolean {
    return rule.matches.every(
        (match) =>
            ["l4proto", "protocol", "nexthdr", "dport"].includes(match.key.split(" ")[1] ?? "") ||
            ((match.key === "iifname" || match.key === "iif") && match.negated && match.values.every((name) => name === facts.meshInterface)),
    );
}

function expand(watched: readonly WatchedPorts[]): Array<{ transport: Transport; port: number }> {
    return watched.flatMap((range) =>
        transports.includes(range.protocol)
            ? Array.from({ length: (range.to ?? range.from) - range.from + 1 }, (_, offset) => ({ transport: range.protocol, port: range.from + offset }))
            : [],
    );
}

/** What lets a watched port in from outside the mesh, one line per cause (ports merged per rule). */
export function meshLeaks(ruleset: string, meshInterface: string, meshCidr: string, watched: readonly WatchedPorts[]): string[] {
    const parsed = parseRuleset(ruleset);
    if (parsed.inputChains.length === 0) {
        return ["has no input chain (type filter hook input), so nothing keeps the watched ports on the mesh"];
    }
    const facts: MeshFacts = { meshInterface, meshCidr: parseCidr(meshCidr), sets: parsed.sets };
    const leaks = new Map<string, string[]>();
    const leak = (cause: string, what: string) => leaks.set(cause, [...(leaks.get(cause) ?? []), what]);
    for (const chain of parsed.inputChains) {
        for (const { transport, port } of expand(watched)) {
            const what = `${port}/${transport}`;
            let closed = false;
            for (const rule of chain.rules) {
                const matches = rule.unreadable === undefined ? matchesPort(rule, transport, port) : undefined;
                if (matches === false || (rule.verdict === undefined && rule.unreadable === undefined)) {
                    continue;
                }
                if (rule.verdict === "accept" || rule.verdict === undefined) {
                    if (matches === undefined) {
                        leak(`cannot read the rule "${rule.text}" (${rule.unreadable ?? "a port it names"}), which may accept`, what);
                        closed = true;
                    } else if (!onlyFromInside(rule, facts)) {
                        leak(`accepts from outside the mesh with "${rule.text}"`, what);
                        closed = true;
                    }
                } else if (matches === true && closesFromOutside(rule, facts)) {
                    closed = true;
                }
                if (closed) {
                    break;
                }
            }
            if (!closed && chain.policy === "accept") {
                leak("has no reject for it before the chain's policy accept", what);
            }
        }
    }
    return [...leaks.entries()].map(([cause, ports]) => `${cause}: ${ports.join(", ")}`);
}
