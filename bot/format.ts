// Every text the bot shows, in one place: facts in, Slack text and blocks out (mrkdwn, no I/O).
import type { types } from "@slack/bolt";
import type { NodeSummary } from "../components/cluster";
import type { Approval, SlackUser } from "./approvals";
import type { ChatMessage } from "./chat";
import { USAGE } from "./command";
import type { LastUpdate, ReportedPolicyViolation, RunSummary } from "./runner";

export const APPROVE_ACTION = "k3s_approve";
export const CANCEL_ACTION = "k3s_cancel";

export function helpText(): string {
    return [
        "*/k3s* drives this project's Pulumi stacks:",
        `• \`${USAGE.stacks}\`: the stacks you may use in this channel`,
        `• \`${USAGE.status}\`: nodes, roles, k3s version, last update and who ran it`,
        `• \`${USAGE.preview}\`: what an up would change`,
        `• \`${USAGE.up}\`: preview with a saved plan, then Approve runs exactly that plan`,
        `• \`${USAGE.upgrade}\`: set the stack's k3s version and preview the rolling upgrade (then Approve, as for up)`,
        `• \`${USAGE.outputs}\`: the stack's outputs, secrets redacted`,
        `• \`${USAGE.cancel}\`: withdraw a pending approval, drop queued runs, stop the running one`,
    ].join("\n");
}

export const who = (user: SlackUser) => `<@${user.id}>`;

// The engine's order of operations, so a summary reads the way the update will run.
const OP_ORDER = ["create", "update", "replace", "create-replacement", "delete-replaced", "delete", "import", "read", "refresh", "discard", "same"];

/** "2 to create, 1 to update, 40 unchanged" */
export function changesText(changes: Record<string, number | undefined>): string {
    const ops = Object.keys(changes).sort((a, b) => rank(a) - rank(b));
    const parts = ops.filter((op) => (changes[op] ?? 0) > 0).map((op) => (op === "same" ? `${changes[op]} unchanged` : `${changes[op]} to ${op}`));
    return parts.length > 0 ? parts.join(", ") : "no resources";
}

const rank = (op: string) => (OP_ORDER.includes(op) ? OP_ORDER.indexOf(op) : OP_ORDER.length - 1);

/** True when applying would change nothing: no Approve button is offered for that. */
export const nothingToDo = (summary: RunSummary) => Object.entries(summary.changes).every(([op, n]) => op === "same" || !n);

export function advisoriesText(violations: ReportedPolicyViolation[]): string {
    return violations.map((v) => `:warning: policy \`${v.policy}\` (${v.enforcementLevel}): ${v.message}`).join("\n");
}

export function previewText(summary: RunSummary): string {
    const duration = summary.durationMs === undefined ? "" : ` (${(summary.durationMs / 1000).toFixed(1)} s)`;
    const advisories = advisoriesText(summary.policyViolations);
    return `*Steps:* ${changesText(summary.changes)}${duration}${advisories ? `\n${advisories}` : ""}`;
}

export const shortHash = (hash: string) => hash.slice(0, 12);

/** The summary with Approve/Cancel buttons; the buttons carry only the approval's id. */
export function approvalMessage(approval: Approval, protectedStack: boolean, timeoutMs: number): ChatMessage {
    const minutes = Math.max(1, Math.round(timeoutMs / 60_000));
    const rule = protectedStack ? "a second person listed under `up` must approve" : "anyone listed under `up` may approve";
    const text = `${approval.summaryText}\nPlan \`${shortHash(approval.planHash)}\`: ${rule}, within ${minutes} min.`;
    const blocks: types.KnownBlock[] = [
        { type: "section", text: { type: "mrkdwn", text } },
        {
            type: "actions",
            block_id: `approval-${approval.id}`,
            elements: [
                { type: "button", action_id: APPROVE_ACTION, style: "primary", text: { type: "plain_text", text: "Approve" }, value: approval.id },
                { type: "button", action_id: CANCEL_ACTION, style: "danger", text: { type: "plain_text", text: "Cancel" }, value: approval.id },
            ],
        },
    ];
    return { text, blocks };
}

export interface StatusFacts {
    stack: string;
    nodes: unknown;
    k3sVersion: string;
    k3sVersionIsDefault: boolean;
    lastUpdate: LastUpdate | undefined;
}

export function statusText(facts: StatusFacts): string {
    const nodes = Array.isArray(facts.nodes) ? (facts.nodes as NodeSummary[]) : [];
    const nodeLines = nodes.map((n) => `• \`${n.name}\` ${n.provider}/${n.arch}: ${n.roles.join(", ")} (mesh ${n.meshAddress})`);
    const update = facts.lastUpdate;
    const updateLine = update
        ? `Last update: #${update.version} ${update.kind} ${update.result} at ${update.startTime.toISOString()}${update.message ? `, "${update.message}"` : ", not run by this bot"}`
        : "Last update: none yet";
    return [
        `*${facts.stack}*: ${nodes.length} node(s), k3s ${facts.k3sVersion}${facts.k3sVersionIsDefault ? " (project default)" : ""}`,
        ...nodeLines,
        updateLine,
    ].join("\n");
}

/** Outputs after redactOutputs: secrets are already "[secret]". */
export function outputsText(stack: string, redacted: Record<string, unknown>): string {
    const names = Object.keys(redacted);
    if (names.length === 0) {
        return `*${stack}* has no outputs yet.`;
    }
    return `*${stack}* outputs (secrets redacted):\n\`\`\`\n${names.map((name) => `${name}: ${JSON.stringify(redacted[name], null, 2)}`).join("\n")}\n\`\`\``;
}

/** What goes into the update's `--message`, and so into `pulumi stack history`. */
export function updateMessage(command: string, requester: SlackUser, approver: SlackUser | undefined, planHash: string | undefined): string {
    const parts = [`slack bot: ${command} requested by ${requester.name} (${requester.id})`];
    if (approver) {
        parts.push(`approved by ${approver.name} (${approver.id})`);
    }
    if (planHash) {
        parts.push(`plan ${shortHash(planHash)}`);
    }
    return parts.join(", ");
}

/** `ahead`: the running operation first, then the waiting ones. */
export function queuePositionText(label: string, ahead: string[]): string {
    if (ahead.length === 0) {
        return `${label}: starting now; progress in the thread.`;
    }
    const [running, ...waiting] = ahead;
    return `${label}: queued, number ${ahead.length} in line behind ${running} (running)${waiting.length > 0 ? ` and ${waiting.join(", ")}` : ""}. One operation per stack at a time.`;
}

export function stacksText(rows: { stack: string; protected: boolean; permissions: string[] }[]): string {
    if (rows.length === 0) {
        return "You may not use any stack from this channel.";
    }
    return [
        "Stacks you may use here:",
        ...rows.map((r) => `• \`${r.stack}\`${r.protected ? " (protected: ups need a second person's approval)" : ""}: ${r.permissions.join(", ")}`),
    ].join("\n");
}
