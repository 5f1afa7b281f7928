// `/k3s <verb> [args]` as Slack sends it (the text after the command) → a typed Command. Nothing
// from chat reaches the Pulumi CLI without passing through here: stack names must be names Pulumi
// accepts and can never look like a flag or a path, versions must be k3s release tags.
import { StackRunnerError, validateStackName } from "./runner";

/** A k3s release tag as k3s publishes it: v1.31.1+k3s1, v1.32.0-rc1+k3s1. */
export const K3S_VERSION = /^v\d+\.\d+\.\d+(-rc\d+)?\+k3s\d+$/;

export type Command =
    | { verb: "help" }
    | { verb: "stacks" }
    | { verb: "status" | "preview" | "up" | "outputs" | "cancel"; stack: string }
    | { verb: "upgrade"; stack: string; version: string };
export type Verb = Command["verb"];

/** What each verb needs in the access file: "preview" reads and previews, "up" changes the stack. */
export type Permission = "preview" | "up";
export const PERMISSION: Record<Exclude<Verb, "help" | "stacks">, Permission> = {
    status: "preview",
    preview: "preview",
    outputs: "preview",
    up: "up",
    upgrade: "up",
    cancel: "up",
};

export const USAGE: Record<Verb, string> = {
    help: "/k3s help",
    stacks: "/k3s stacks",
    status: "/k3s status <stack>",
    preview: "/k3s preview <stack>",
    up: "/k3s up <stack>",
    upgrade: "/k3s upgrade <stack> <k3s version, e.g. v1.31.2+k3s1>",
    outputs: "/k3s outputs <stack>",
    cancel: "/k3s cancel <stack>",
};

/** A command that cannot be run as typed; the message says what to type instead. */
export class UsageError extends Error {
    override readonly name = "UsageError";
}

const isVerb = (word: string): word is Verb => Object.prototype.hasOwnProperty.call(USAGE, word);

export function parseCommand(text: string): Command {
    const [verb = "help", ...args] = text.trim().split(/\s+/).filter(Boolean);
    if (!isVerb(verb)) {
        throw new UsageError(`"${verb}" is not a /k3s command. Try \`/k3s help\`.`);
    }
    if (verb === "help" || verb === "stacks") {
        expectArgs(verb, args, 0);
        return { verb };
    }
    // The name is checked before the count, so `up prod; rm -rf` is answered about "prod;".
    const stack = stackArg(args[0], verb);
    if (verb === "upgrade") {
        const version = versionArg(args[1]);
        expectArgs(verb, args, 2);
        return { verb, stack, version };
    }
    expectArgs(verb, args, 1);
    return { verb, stack };
}

function stackArg(word: string | undefined, verb: Verb): string {
    if (word === undefined) {
        throw new UsageError(`\`${verb}\` needs a stack: \`${USAGE[verb]}\`.`);
    }
    try {
        validateStackName(word);
    } catch (err) {
        throw err instanceof StackRunnerError ? new UsageError(err.message) : err;
    }
    return word;
}

function versionArg(word: string | undefined): string {
    if (word === undefined || !K3S_VERSION.test(word)) {
        const shown = word === undefined ? "nothing" : `"${word}"`;
        throw new UsageError(`version: ${shown} is not a k3s release tag; write it like v1.31.2+k3s1 (\`${USAGE.upgrade}\`).`);
    }
    return word;
}

function expectArgs(verb: Verb, args: string[], count: number): void {
    if (args.length !== count) {
        throw new UsageError(`\`${verb}\` takes ${count === 0 ? "no arguments" : count === 1 ? "one argument" : `${count} arguments`}: \`${USAGE[verb]}\`.`);
    }
}
