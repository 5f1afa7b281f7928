// What the bot does with a command or a button click, independent of how Slack delivered it. The
// answer to Slack (the ack) is computed synchronously from pure checks (parse, access, queue and
// approval state), so it is always within Slack's 3 s; every CLI call happens afterwards, in the
// stack's queue, reporting to the channel and a thread.
import { createHash, randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { AccessPolicy, checkAccess } from "./access";
import { Approval, Approvals, SlackUser } from "./approvals";
import { AuditEntry, AuditLog } from "./audit";
import { Chat } from "./chat";
import { Command, parseCommand, PERMISSION, UsageError } from "./command";
import { approvalMessage, changesText, helpText, nothingToDo, previewText, queuePositionText, shortHash, updateMessage, who } from "./format";
import { ThreadProgress, ThreadProgressOptions } from "./progress";
import { DroppedFromQueue, StackQueue } from "./queue";
import { K3S_VERSION_KEY, safeMessage, StackReads } from "./reads";
import { projectDefault, StackRunner } from "./runner";
import { SecretScrubber } from "./scrub";

export interface K3sBotOptions {
    runner: StackRunner;
    policy: AccessPolicy;
    chat: Chat;
    audit: AuditLog;
    scrubber: SecretScrubber;
    /** Saved plans live here (0700) until applied, cancelled or expired. */
    planDir: string;
    progress?: ThreadProgressOptions;
}

export interface CommandRequest {
    user: SlackUser;
    channel: string;
    text: string;
}

export interface ButtonRequest {
    user: SlackUser;
    channel: string;
    approvalId: string;
    action: "approve" | "cancel";
}

type StackCommand = Extract<Command, { stack: string }>;

const STOPPED = "stopped by `/k3s cancel` (resource operations already in flight were finished; `/k3s status` shows where the stack is).";

const sha256File = (file: string) => createHash("sha256").update(fs.readFileSync(file)).digest("hex");

export class K3sBot {
    private readonly queue = new StackQueue();
    private readonly reads: StackReads;
    private readonly approvals = new Approvals();
    /** Stacks with an up or upgrade between its request and its end (preview, approval, apply). */
    private readonly changing = new Map<string, string>();
    private readonly running = new Map<string, AbortController>();
    private readonly work = new Set<Promise<unknown>>();
    private readonly timers = new Set<NodeJS.Timeout>();

    constructor(private readonly options: K3sBotOptions) {
        fs.mkdirSync(options.planDir, { recursive: true, mode: 0o700 });
        this.reads = new StackReads(options);
    }

    /** The ephemeral reply to a `/k3s` command; work it starts continues after the reply. */
    handleCommand(request: CommandRequest): string {
        const { user, channel } = request;
        let command: Command;
        try {
            command = parseCommand(request.text);
        } catch (err) {
            if (!(err instanceof UsageError)) {
                throw err;
            }
            this.audit({ user, channel, command: request.text.trim().split(/\s+/)[0] || "help", result: "refused", detail: err.message });
            return err.message;
        }
        if (command.verb === "help") {
            return helpText();
        }
        if (command.verb === "stacks") {
            return this.reads.stacks(user, channel);
        }
        const access = checkAccess(this.options.policy, user.id, channel, command.stack, PERMISSION[command.verb]);
        if (!access.allowed) {
            this.audit({ user, channel, command: command.verb, stack: command.stack, result: "refused", detail: access.reason });
            return access.reason;
        }
        switch (command.verb) {
            case "status":
            case "outputs":
                this.spawn(command.verb === "status" ? this.reads.status(command.stack, channel) : this.reads.outputs(command.stack, channel));
                this.audit({ user, channel, command: command.verb, stack: command.stack, result: "answered" });
                return `Reading ${command.verb} of \`${command.stack}\`…`;
            case "preview":
                return this.enqueuePreview(command, user, channel, false);
            case "up":
            case "upgrade": {
                const inFlight = this.changing.get(command.stack);
                if (inFlight) {
                    const detail = `\`${command.stack}\` already has ${inFlight}; nothing was started. Wait for it to finish, or \`/k3s cancel ${command.stack}\`.`;
                    this.audit({ user, channel, command: command.verb, stack: command.stack, result: "refused", detail });
                    return detail;
                }
                this.changing.set(command.stack, `an ${command.verb} requested by ${who(user)}`);
                return this.enqueuePreview(command, user, channel, true);
            }
            case "cancel":
                return this.cancel(command.stack, user, channel);
        }
    }

    /** Approve or Cancel on a summary. Nothing is returned: Slack gets an empty ack, the answer is posted. */
    handleButton(request: ButtonRequest): void {
        const { user, channel, approvalId } = request;
        const command = request.action === "approve" ? "approve" : "cancel-approval";
        const refuse = (detail: string, approval?: Approval) => {
            this.audit({ user, channel, command, stack: approval?.stack, planHash: approval?.planHash, result: "refused", detail });
            this.spawn(this.options.chat.ephemeral(channel, user.id, detail));
        };
        const known = this.approvals.get(approvalId);
        if (!known) {
            return refuse("This approval is not known to the bot (it was never issued, or the bot restarted); nothing was started. Run `/k3s up` again.");
        }
        const access = checkAccess(this.options.policy, user.id, channel, known.stack, "up");
        if (!access.allowed) {
            return refuse(access.reason, known);
        }
        const isProtected = this.options.policy.stacks.get(known.stack)?.protected ?? true;
        const decision = this.approvals.decide(approvalId, user, request.action === "approve" ? "approved" : "cancelled", isProtected, Date.now());
        if (!decision.ok) {
            const { approval } = decision;
            switch (decision.reason) {
                case "decided":
                    return refuse(
                        `This plan was already ${approval?.state} by ${approval?.decidedBy ? who(approval.decidedBy) : "someone"}; nothing new was started.`,
                        approval,
                    );
                case "expired":
                    if (approval) {
                        this.expire(approval);
                    }
                    return refuse(
                        `This approval expired; nothing was started. Run \`/k3s ${approval?.command ?? "up"} ${approval?.stack ?? "<stack>"}\` again for a fresh plan.`,
                        approval,
                    );
                case "self-approval":
                    return refuse(
                        `\`${approval?.stack}\` is protected: the ${approval?.command} you requested needs another person listed under \`up\` to approve it.`,
                        approval,
                    );
                default:
                    return refuse("This approval is not known to the bot; nothing was started.", approval);
            }
        }
        const { approval } = decision;
        if (request.action === "cancel") {
            this.audit({ user, channel, command, stack: approval.stack, planHash: approval.planHash, result: "cancelled" });
            this.spawn(
                this.options.chat.update(approval.channel, approval.messageTs, {
                    text: `${approval.summaryText}\n:no_entry_sign: Cancelled by ${who(user)}; nothing was applied.`,
                }),
            );
            this.release(approval);
            return;
        }
        this.audit({ user, channel, command, stack: approval.stack, planHash: approval.planHash, result: "approved" });
        const label = `${approval.command} of \`${approval.stack}\` (plan ${shortHash(approval.planHash)})`;
        const queued = this.queue.enqueue(approval.stack, label, () => this.apply(approval));
        this.spawn(
            this.options.chat.update(approval.channel, approval.messageTs, {
                text: `${approval.summaryText}\n:white_check_mark: Plan \`${shortHash(approval.planHash)}\` approved by ${who(user)}. ${queuePositionText("Update", queued.ahead)}`,
            }),
        );
        this.spawn(queued.done.catch((err) => this.dropped(err, approval)));
    }

    /** Resolves when every started operation has ended (tests, shutdown). */
    async settled(): Promise<void> {
        while (this.work.size > 0) {
            await Promise.allSettled([...this.work]);
        }
    }

    close(): void {
        this.timers.forEach((timer) => clearTimeout(timer));
        this.running.forEach((controller) => controller.abort());
    }

    private enqueuePreview(command: StackCommand, user: SlackUser, channel: string, forApproval: boolean): string {
        const label =
            command.verb === "upgrade"
                ? `Upgrade of \`${command.stack}\` to ${command.version}`
                : `${command.verb === "up" ? "Up" : "Preview"} of \`${command.stack}\``;
        const queued = this.queue.enqueue(command.stack, `${label} by ${who(user)}`, () => this.preview(command, label, user, channel, forApproval));
        this.audit({ user, channel, command: command.verb, stack: command.stack, result: "queued", detail: `position ${queued.position + 1}` });
        this.spawn(
            queued.done.catch((err) => {
                if (!(err instanceof DroppedFromQueue)) {
                    throw err;
                }
                this.audit({ user, channel, command: command.verb, stack: command.stack, result: "cancelled", detail: "dropped from the queue" });
                if (forApproval) {
                    this.changing.delete(command.stack);
                }
            }),
        );
        return queuePositionText(label, queued.ahead);
    }

    /** A preview; with `forApproval`, one that saves its plan and ends in a summary with Approve/Cancel. */
    private async preview(command: StackCommand, label: string, user: SlackUser, channel: string, forApproval: boolean): Promise<void> {
        const { chat, runner } = this.options;
        const { stack } = command;
        const header = `*${label}* requested by ${who(user)}`;
        // Registered before the first await, so a cancel or a shutdown at any point reaches this run.
        const controller = new AbortController();
        this.running.set(stack, controller);
        const planFile = forApproval ? path.join(this.options.planDir, `${randomUUID()}.json`) : undefined;
        let handedOver = false;
        let parent: string | undefined;
        let progress: ThreadProgress | undefined;
        try {
            parent = await chat.post(channel, { text: `${header}: previewing…` });
            progress = new ThreadProgress(chat, channel, parent, `Preview of \`${stack}\``, this.options.progress);
            await progress.start();
            await this.reads.learnSecrets(stack);
            let intro = "";
            if (command.verb === "upgrade") {
                const previous = (await runner.getConfig(stack, K3S_VERSION_KEY)) ?? `${String(projectDefault("k3sVersion"))} (project default)`;
                await runner.setConfig(stack, K3S_VERSION_KEY, command.version);
                intro = `\nk3sVersion: ${previous} → ${command.version} (set on the stack; \`/k3s upgrade ${stack} <version>\` sets it back)`;
            }
            const fingerprint = forApproval ? await runner.fingerprint(stack) : "";
            // The SDK only forwards an abort that happens while the CLI runs; one before must stop here.
            controller.signal.throwIfAborted();
            const summary = await runner.preview(stack, {
                savePlanTo: planFile,
                onOutput: progress.line,
                message: updateMessage(command.verb, user, undefined, undefined),
                signal: controller.signal,
            });
            await progress.finish("Preview finished.");
            controller.signal.throwIfAborted();
            const summaryText = `${header}${intro}\n${previewText(summary)}`;
            if (!planFile) {
                await chat.update(channel, parent, { text: summaryText });
                this.audit({ user, channel, command: command.verb, stack, result: "previewed", detail: changesText(summary.changes) });
                return;
            }
            if (nothingToDo(summary)) {
                await chat.update(channel, parent, { text: `${summaryText}\nNothing to change: no approval needed.` });
                this.audit({ user, channel, command: command.verb, stack, result: "no-changes" });
                return;
            }
            const approval = this.approvals.add({
                stack,
                command: command.verb === "upgrade" ? "upgrade" : "up",
                requester: user,
                channel,
                messageTs: parent,
                planFile,
                planHash: sha256File(planFile),
                fingerprint,
                expiresAt: Date.now() + this.options.policy.approvalTimeoutMs,
                summaryText,
            });
            handedOver = true;
            const isProtected = this.options.policy.stacks.get(stack)?.protected ?? true;
            await chat.update(channel, parent, approvalMessage(approval, isProtected, this.options.policy.approvalTimeoutMs));
            this.audit({
                user,
                channel,
                command: command.verb,
                stack,
                planHash: approval.planHash,
                result: "awaiting-approval",
                detail: changesText(summary.changes),
            });
            const timer = setTimeout(() => {
                this.timers.delete(timer);
                this.expire(approval);
            }, this.options.policy.approvalTimeoutMs);
            this.timers.add(timer);
        } catch (err) {
            const message = controller.signal.aborted ? STOPPED : safeMessage(err);
            await progress?.finish(`Failed: ${message}`);
            if (parent) {
                await chat.update(channel, parent, { text: `${header}: ${message}` });
            }
            this.audit({ user, channel, command: command.verb, stack, result: "failed", detail: message });
        } finally {
            this.running.delete(stack);
            if (forApproval && !handedOver) {
                this.changing.delete(stack);
                if (planFile) {
                    fs.rmSync(planFile, { force: true });
                }
            }
        }
    }

    /** Runs `up` with the approved plan, unless the stack or the plan changed since the preview. */
    private async apply(approval: Approval): Promise<void> {
        const { chat, runner } = this.options;
        const { stack, channel, messageTs, requester } = approval;
        const approver = approval.decidedBy ?? requester;
        const entry = { user: approver, channel, command: approval.command, stack, planHash: approval.planHash };
        const progress = new ThreadProgress(
            chat,
            channel,
            messageTs,
            `Update of \`${stack}\` with plan \`${shortHash(approval.planHash)}\``,
            this.options.progress,
        );
        const controller = new AbortController();
        this.running.set(stack, controller);
        try {
            const now = await runner.fingerprint(stack);
            if (now !== approval.fingerprint) {
                const detail = `\`${stack}\` changed since the preview (another update or a config change); the plan no longer applies and nothing was run. Run \`/k3s ${approval.command} ${stack}\` again.`;
                this.audit({ ...entry, result: "refused", detail });
                await chat.update(channel, messageTs, { text: `${approval.summaryText}\n:x: ${detail}` });
                return;
            }
            if (!fs.existsSync(approval.planFile) || sha256File(approval.planFile) !== approval.planHash) {
                const detail = "the saved plan is missing or was modified since it was approved; nothing was run.";
                this.audit({ ...entry, result: "refused", detail });
                await chat.update(channel, messageTs, { text: `${approval.summaryText}\n:x: ${detail}` });
                return;
            }
            await progress.start();
            await this.reads.learnSecrets(stack);
            controller.signal.throwIfAborted();
            const summary = await runner.up(stack, {
                plan: approval.planFile,
                onOutput: progress.line,
                message: updateMessage(approval.command, requester, approver, approval.planHash),
                signal: controller.signal,
            });
            await progress.finish("Update finished.");
            this.audit({ ...entry, result: "succeeded", detail: changesText(summary.changes) });
            await chat.update(channel, messageTs, {
                text: `${approval.summaryText}\n:white_check_mark: Applied plan \`${shortHash(approval.planHash)}\`, approved by ${who(approver)}: ${changesText(summary.changes)}.`,
            });
        } catch (err) {
            const message = controller.signal.aborted ? STOPPED : safeMessage(err);
            await progress.finish(`Failed: ${message}`);
            this.audit({ ...entry, result: "failed", detail: message });
            await chat.update(channel, messageTs, { text: `${approval.summaryText}\n:x: The update failed: ${message}` });
        } finally {
            this.running.delete(stack);
            this.release(approval);
        }
    }

    private dropped(err: unknown, approval: Approval): void {
        if (!(err instanceof DroppedFromQueue)) {
            throw err;
        }
        this.audit({
            user: approval.decidedBy ?? approval.requester,
            channel: approval.channel,
            command: approval.command,
            stack: approval.stack,
            planHash: approval.planHash,
            result: "cancelled",
            detail: "dropped from the queue",
        });
        this.spawn(
            this.options.chat.update(approval.channel, approval.messageTs, {
                text: `${approval.summaryText}\n:no_entry_sign: Cancelled before it started; nothing was applied.`,
            }),
        );
        this.release(approval);
    }

    /** Once per approval, by whichever comes first: the timer or a late click. */
    private expire(approval: Approval): void {
        if (!this.approvals.expire(approval.id)) {
            return;
        }
        this.audit({
            user: approval.requester,
            channel: approval.channel,
            command: approval.command,
            stack: approval.stack,
            planHash: approval.planHash,
            result: "expired",
        });
        this.spawn(
            this.options.chat.update(approval.channel, approval.messageTs, {
                text: `${approval.summaryText}\n:hourglass: This approval expired; nothing was applied.`,
            }),
        );
        this.release(approval);
    }

    /** The stack is free for the next up; the plan file is gone. */
    private release(approval: Approval): void {
        this.changing.delete(approval.stack);
        fs.rmSync(approval.planFile, { force: true });
    }

    private cancel(stack: string, user: SlackUser, channel: string): string {
        const done: string[] = [];
        const pending = this.approvals.pending(stack);
        if (pending && this.approvals.decide(pending.id, user, "cancelled", false, Date.now()).ok) {
            this.spawn(
                this.options.chat.update(pending.channel, pending.messageTs, {
                    text: `${pending.summaryText}\n:no_entry_sign: Cancelled by ${who(user)}; nothing was applied.`,
                }),
            );
            this.release(pending);
            done.push(`withdrew the pending approval of plan \`${shortHash(pending.planHash)}\``);
        }
        const [running, ...waiting] = this.queue.labels(stack);
        if (waiting.length > 0) {
            this.queue.dropWaiting(stack);
            done.push(`dropped ${waiting.length} queued: ${waiting.join(", ")}`);
        }
        const controller = this.running.get(stack);
        if (running && controller) {
            controller.abort();
            done.push(`asked the running ${running} to stop (the CLI finishes the resource operations in flight, then stops)`);
        }
        const detail = done.length > 0 ? `On \`${stack}\`: ${done.join("; ")}.` : `Nothing to cancel on \`${stack}\`.`;
        this.audit({ user, channel, command: "cancel", stack, result: done.length > 0 ? "cancelled" : "nothing-to-cancel", detail });
        return detail;
    }

    private audit(entry: Omit<AuditEntry, "user"> & { user: SlackUser }): void {
        this.options.audit.write({ ...entry, user: `${entry.user.name} (${entry.user.id})` });
    }

    /** Work that outlives the reply to Slack: tracked for settled(), errors logged, never unhandled. */
    private spawn(promise: Promise<unknown>): void {
        const tracked = promise.catch((err) => console.error("hybrid-k3s bot:", err)).finally(() => this.work.delete(tracked));
        this.work.add(tracked);
    }
}
