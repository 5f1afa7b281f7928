// Pending approvals: an `up` preview's saved plan waiting for someone to press Approve. Each decision
// is taken synchronously (no await between the check and the state change), so two clicks, a click
// racing the expiry timer, or a replayed payload can never both pass: the first wins, the rest are told.
import { randomBytes } from "node:crypto";

export interface Approval {
    /** Unguessable: the Approve button carries only this. */
    id: string;
    stack: string;
    command: "up" | "upgrade";
    requester: SlackUser;
    channel: string;
    /** The channel message that carries the buttons (and later the result). */
    messageTs: string;
    planFile: string;
    planHash: string;
    /** The stack's state when the plan was made (runner.fingerprint); a different one voids the plan. */
    fingerprint: string;
    expiresAt: number;
    /** What the summary said, kept for the message's later edits. */
    summaryText: string;
    state: "pending" | "approved" | "cancelled" | "expired";
    decidedBy?: SlackUser;
}

export interface SlackUser {
    id: string;
    name: string;
}

export type Decision = { ok: true; approval: Approval } | { ok: false; reason: "unknown" | "decided" | "expired" | "self-approval"; approval?: Approval };

export class Approvals {
    private readonly byId = new Map<string, Approval>();

    add(fields: Omit<Approval, "id" | "state">): Approval {
        const approval: Approval = { ...fields, id: randomBytes(16).toString("hex"), state: "pending" };
        this.byId.set(approval.id, approval);
        return approval;
    }

    get(id: string): Approval | undefined {
        return this.byId.get(id);
    }

    pending(stack: string): Approval | undefined {
        return [...this.byId.values()].find((a) => a.stack === stack && a.state === "pending");
    }

    /**
     * Approve or cancel `id` as `user`. `selfApprovalForbidden`: the stack is protected, so the
     * requester may cancel but not approve. Decided approvals stay known, so a replay is named as one.
     */
    decide(id: string, user: SlackUser, outcome: "approved" | "cancelled", selfApprovalForbidden: boolean, now: number): Decision {
        const approval = this.byId.get(id);
        if (!approval) {
            return { ok: false, reason: "unknown" };
        }
        if (approval.state !== "pending") {
            return { ok: false, reason: approval.state === "expired" ? "expired" : "decided", approval };
        }
        if (now >= approval.expiresAt) {
            approval.state = "expired";
            return { ok: false, reason: "expired", approval };
        }
        if (outcome === "approved" && selfApprovalForbidden && user.id === approval.requester.id) {
            return { ok: false, reason: "self-approval", approval };
        }
        approval.state = outcome;
        approval.decidedBy = user;
        return { ok: true, approval };
    }

    /** Expires `id` if it is still pending; true when this call expired it. */
    expire(id: string): boolean {
        const approval = this.byId.get(id);
        if (approval?.state !== "pending") {
            return false;
        }
        approval.state = "expired";
        return true;
    }
}
