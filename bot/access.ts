// The access file: which Slack users may do what to which stack, and from which channels. Read and
// validated once at start (every problem at once, each naming its field and the fix), so a typo is
// a failed start, not a silently open or silently closed stack.
import * as fs from "node:fs";
import * as YAML from "yaml";
import { Permission } from "./command";
import { validateStackName } from "./runner";

export interface StackAccess {
    /** Channel ids where commands on this stack are accepted. */
    channels: string[];
    /** User ids who may read (status, outputs) and preview. */
    preview: string[];
    /** User ids who may also up, upgrade, approve and cancel; they may preview too. */
    up: string[];
    /** An up needs the approval of a second person listed under `up`. */
    protected: boolean;
}

export interface AccessPolicy {
    /** How long an Approve button stays valid. */
    approvalTimeoutMs: number;
    stacks: Map<string, StackAccess>;
}

export const DEFAULT_APPROVAL_TIMEOUT_SECONDS = 900;

export class AccessFileError extends Error {
    override readonly name = "AccessFileError";
}

// Slack ids: users are U… or W… (Enterprise Grid), conversations C… (public), G… (private).
const USER_ID = /^[UW][A-Z0-9]{2,}$/;
const CHANNEL_ID = /^[CG][A-Z0-9]{2,}$/;

export function loadAccessFile(file: string): AccessPolicy {
    let text: string;
    try {
        text = fs.readFileSync(file, "utf8");
    } catch (err) {
        throw new AccessFileError(
            `access file ${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)}); set BOT_ACCESS_FILE to the YAML file described in docs/bot.md.`,
        );
    }
    return parseAccessFile(text, file);
}

export function parseAccessFile(text: string, source: string): AccessPolicy {
    const problems: string[] = [];
    let doc: unknown;
    try {
        doc = YAML.parse(text);
    } catch (err) {
        throw new AccessFileError(`access file ${source}: not valid YAML: ${(err as Error).message}`);
    }
    if (!isRecord(doc)) {
        throw new AccessFileError(`access file ${source}: expected a mapping with \`stacks:\` (see docs/bot.md).`);
    }
    unknownKeys(doc, ["approvalTimeoutSeconds", "stacks"], "", problems);

    const timeout = doc.approvalTimeoutSeconds ?? DEFAULT_APPROVAL_TIMEOUT_SECONDS;
    if (!Number.isInteger(timeout) || (timeout as number) < 1 || (timeout as number) > 86_400) {
        problems.push(`approvalTimeoutSeconds: ${JSON.stringify(timeout)} is not a whole number of seconds from 1 to 86400; e.g. 900 (15 minutes).`);
    }

    const stacks = new Map<string, StackAccess>();
    if (!isRecord(doc.stacks) || Object.keys(doc.stacks).length === 0) {
        problems.push(
            "stacks: missing or empty; list each stack the bot may touch, e.g. `stacks: { prod: { channels: [C0123], preview: [U0123], up: [U0456], protected: true } }`.",
        );
    } else {
        for (const [name, entry] of Object.entries(doc.stacks)) {
            const access = parseStack(name, entry, problems);
            if (access) {
                stacks.set(name, access);
            }
        }
    }
    if (problems.length > 0) {
        throw new AccessFileError(`access file ${source} has ${problems.length} problem(s):\n  - ${problems.join("\n  - ")}`);
    }
    return { approvalTimeoutMs: (timeout as number) * 1000, stacks };
}

function parseStack(name: string, entry: unknown, problems: string[]): StackAccess | undefined {
    const field = `stacks.${name}`;
    try {
        validateStackName(name);
    } catch (err) {
        problems.push(`${field}: ${(err as Error).message}`);
    }
    if (!isRecord(entry)) {
        problems.push(`${field}: expected a mapping with channels, preview, up and protected.`);
        return undefined;
    }
    unknownKeys(entry, ["channels", "preview", "up", "protected"], `${field}.`, problems);
    const channels = idList(entry.channels, `${field}.channels`, CHANNEL_ID, "a channel id (C… or G…, from the channel's details)", true, problems);
    const preview = idList(entry.preview ?? [], `${field}.preview`, USER_ID, "a Slack member id (U… or W…, from the user's profile)", false, problems);
    const up = idList(entry.up ?? [], `${field}.up`, USER_ID, "a Slack member id (U… or W…, from the user's profile)", false, problems);
    const isProtected = entry.protected ?? false;
    if (typeof isProtected !== "boolean") {
        problems.push(`${field}.protected: ${JSON.stringify(isProtected)} is not true or false.`);
    } else if (isProtected && up.length < 2) {
        problems.push(`${field}.protected: a protected stack needs a second person to approve; list at least two users under ${field}.up.`);
    }
    return { channels, preview, up, protected: isProtected === true };
}

function idList(value: unknown, field: string, pattern: RegExp, what: string, required: boolean, problems: string[]): string[] {
    if (!Array.isArray(value) || (required && value.length === 0)) {
        problems.push(`${field}: expected a${required ? " non-empty" : ""} list of ids, each ${what}.`);
        return [];
    }
    value.forEach((id, i) => {
        if (typeof id !== "string" || !pattern.test(id)) {
            problems.push(`${field}[${i}]: ${JSON.stringify(id)} is not ${what}.`);
        }
    });
    return value.filter((id): id is string => typeof id === "string" && pattern.test(id));
}

function unknownKeys(record: Record<string, unknown>, known: string[], prefix: string, problems: string[]): void {
    for (const key of Object.keys(record).filter((k) => !known.includes(k))) {
        problems.push(`${prefix}${key}: unknown setting; the known ones are ${known.join(", ")}.`);
    }
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

export type AccessDecision = { allowed: true } | { allowed: false; reason: string };

/** May `user`, in `channel`, do what `permission` covers on `stack`? The reason names what is missing. */
export function checkAccess(policy: AccessPolicy, user: string, channel: string, stack: string, permission: Permission): AccessDecision {
    const access = policy.stacks.get(stack);
    if (!access) {
        return { allowed: false, reason: `Stack \`${stack}\` is not in the bot's access file; an admin adds it under \`stacks:\`.` };
    }
    if (!access.channels.includes(channel)) {
        return {
            allowed: false,
            reason: `Commands on \`${stack}\` are not accepted in this channel; use one of: ${access.channels.map((c) => `<#${c}>`).join(", ")}.`,
        };
    }
    const allowed = permission === "up" ? access.up : [...access.preview, ...access.up];
    if (!allowed.includes(user)) {
        return {
            allowed: false,
            reason: `<@${user}> may not ${permission === "up" ? "change" : "read or preview"} \`${stack}\`; an admin adds you under \`stacks.${stack}.${permission}\`.`,
        };
    }
    return { allowed: true };
}
