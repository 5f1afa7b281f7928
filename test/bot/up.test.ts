// The up flow end to end: preview with a saved plan → summary with Approve/Cancel → approval by the
// right person → `up --plan` with exactly that plan → progress in the thread → result and audit.
// And every way an approval is refused: self-approval, expiry, a changed stack, replays, retries.
import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { APPROVE_ACTION, CANCEL_ACTION } from "../../bot/format";
import { ALICE, approvalButton, BOB, CAROL, Harness, OPS, SlackCall, waitFor } from "./harness";
import { PLAN_FILE_CONTENT, valueAfter } from "./fakePulumi";

const PROD_PLAN_HASH = createHash("sha256").update(PLAN_FILE_CONTENT("prod")).digest("hex");
const PROD_PLAN = PROD_PLAN_HASH.slice(0, 12);
const UP_SUMMARY =
    "*Up of `prod`* requested by <@U0ALICE>\n*Steps:* 1 to create, 40 unchanged (12.5 s)\n:warning: policy `ssh-open-to-internet` (warning): SSH (22) is open to 0.0.0.0/0";

/** A promise a test resolves when it lets a held CLI run finish. */
function gate(): { promise: Promise<void>; open: () => void } {
    let open!: () => void;
    const promise = new Promise<void>((resolve) => (open = resolve));
    return { promise, open };
}

const ephemerals = (harness: Harness) => harness.slack.of("chat.postEphemeral").map((c) => ({ user: c.params.user, text: c.params.text }));
const updatesOf = (harness: Harness, ts: string): SlackCall[] => harness.slack.of("chat.update").filter((c) => c.params.ts === ts);

describe("bot: up with a saved plan and an approval (real Bolt app, stand-in Slack API, stand-in pulumi)", function () {
    this.timeout(20_000);
    let harness: Harness;
    afterEach(() => harness.close());

    async function previewForApproval(user = ALICE, stack = "prod"): Promise<{ approvalId: string; messageTs: string }> {
        assert.equal(await harness.reply(user, OPS, `up ${stack}`), `Up of \`${stack}\`: starting now; progress in the thread.`);
        return waitFor("the Approve button", () => approvalButton(harness.slack));
    }

    it("previews with a saved plan, a second person approves, up applies exactly that plan, progress in the thread, audit lines", async () => {
        harness = await Harness.start();
        // An update that prints for ~1.8 s, so the thread is edited several times.
        harness.cli.overrides.up = (args) => ({
            ...harness.cli.defaultReply(args),
            outputChunks: Array.from({ length: 12 }, (_, i) => `step ${i}\n`),
            chunkDelayMs: 150,
        });

        const ack = await harness.command(ALICE, OPS, "up prod");
        assert.equal(ack.status, 200);
        assert.ok(ack.ms < 3000, `acked in ${ack.ms} ms`);
        assert.deepEqual(JSON.parse(ack.body), { response_type: "ephemeral", text: "Up of `prod`: starting now; progress in the thread." });

        const { approvalId, messageTs } = await waitFor("the Approve button", () => approvalButton(harness.slack));
        const [parent] = harness.slack.of("chat.postMessage");
        assert.deepEqual(parent.params, { channel: OPS, text: "*Up of `prod`* requested by <@U0ALICE>: previewing…" });
        assert.equal(messageTs, parent.ts, "the buttons replace the request's message");

        // The summary: steps by kind, the policy advisory, the plan's hash, who may approve.
        const summary = updatesOf(harness, messageTs)[0];
        assert.equal(summary.params.text, `${UP_SUMMARY}\nPlan \`${PROD_PLAN}\`: a second person listed under \`up\` must approve, within 15 min.`);
        const buttons = JSON.parse(summary.params.blocks)[1].elements.map((e: { action_id: string; value: string }) => [e.action_id, e.value]);
        assert.deepEqual(buttons, [
            [APPROVE_ACTION, approvalId],
            [CANCEL_ACTION, approvalId],
        ]);
        assert.match(approvalId, /^[0-9a-f]{32}$/, "the button carries an unguessable id, nothing else");

        const preview = harness.cli.call("preview").args;
        const planFile = valueAfter(preview, "--save-plan") ?? assert.fail("preview without --save-plan");
        assert.ok(planFile.startsWith(harness.planDir), `plan saved in the bot's plan dir: ${planFile}`);
        assert.equal(valueAfter(preview, "--message"), "slack bot: up requested by alice (U0ALICE)");
        assert.equal(createHash("sha256").update(fs.readFileSync(planFile)).digest("hex"), PROD_PLAN_HASH, "the posted hash is the saved plan's");

        const click = await harness.click(BOB, OPS, APPROVE_ACTION, approvalId, messageTs);
        assert.deepEqual([click.status, click.body], [200, ""]);
        await waitFor("the result", () => harness.auditWithoutTime().find((e) => e.result === "succeeded"));
        await harness.bot.settled();

        const up = harness.cli.call("up").args;
        assert.equal(valueAfter(up, "--plan"), planFile, "up applies the approved plan, and only it");
        assert.equal(valueAfter(up, "--message"), `slack bot: up requested by alice (U0ALICE), approved by bob (U0BOB), plan ${PROD_PLAN}`);
        assert.equal(harness.cli.verbs().filter((v) => v === "up").length, 1);
        assert.ok(!fs.existsSync(planFile), "the applied plan is removed");

        // The thread: one reply for the preview, one for the update, each edited at most once a second.
        const replies = harness.slack.of("chat.postMessage").filter((c) => c.params.thread_ts === messageTs);
        assert.deepEqual(
            replies.map((c) => c.params.text),
            [
                "Preview of `prod`\n```\n(no output yet)\n```\nstarting…",
                `Update of \`prod\` with plan \`${PROD_PLAN}\`\n\`\`\`\n(no output yet)\n\`\`\`\nstarting…`,
            ],
        );
        for (const reply of replies) {
            const edits = [reply, ...updatesOf(harness, reply.ts ?? "")];
            assert.ok(edits.length >= 2, `the thread reply ${reply.params.text.split("\n")[0]} was edited`);
            for (let i = 1; i < edits.length; i++) {
                assert.ok(edits[i].at - edits[i - 1].at >= 1000, `edits ${edits[i].at - edits[i - 1].at} ms apart`);
            }
        }
        const updateEdits = updatesOf(harness, replies[1].ts ?? "");
        assert.ok(updateEdits.length >= 2, "the update's progress was shown while it ran, not only at the end");
        assert.equal(
            updateEdits.at(-1)?.params.text,
            `Update of \`prod\` with plan \`${PROD_PLAN}\`\n\`\`\`\n${Array.from({ length: 12 }, (_, i) => `step ${i}`).join("\n")}\n\`\`\`\nUpdate finished.`,
        );

        assert.deepEqual(
            updatesOf(harness, messageTs)
                .map((c) => c.params.text)
                .slice(1),
            [
                `${UP_SUMMARY}\n:white_check_mark: Plan \`${PROD_PLAN}\` approved by <@U0BOB>. Update: starting now; progress in the thread.`,
                `${UP_SUMMARY}\n:white_check_mark: Applied plan \`${PROD_PLAN}\`, approved by <@U0BOB>: 1 to create, 40 unchanged.`,
            ],
        );
        assert.equal(JSON.parse(updatesOf(harness, messageTs)[1].params.blocks).length, 0, "the buttons are gone once approved");

        assert.deepEqual(harness.auditWithoutTime(), [
            { user: "alice (U0ALICE)", channel: OPS, command: "up", stack: "prod", result: "queued", detail: "position 1" },
            {
                user: "alice (U0ALICE)",
                channel: OPS,
                command: "up",
                stack: "prod",
                planHash: PROD_PLAN_HASH,
                result: "awaiting-approval",
                detail: "1 to create, 40 unchanged",
            },
            { user: "bob (U0BOB)", channel: OPS, command: "approve", stack: "prod", planHash: PROD_PLAN_HASH, result: "approved" },
            {
                user: "bob (U0BOB)",
                channel: OPS,
                command: "up",
                stack: "prod",
                planHash: PROD_PLAN_HASH,
                result: "succeeded",
                detail: "1 to create, 40 unchanged",
            },
        ]);
    });

    it("refuses a self-approval on a protected stack and runs nothing; the requester may still cancel", async () => {
        harness = await Harness.start();
        const { approvalId, messageTs } = await previewForApproval();
        await harness.click(ALICE, OPS, APPROVE_ACTION, approvalId, messageTs);
        await waitFor("the refusal", () => (ephemerals(harness).length > 0 ? true : undefined));
        assert.deepEqual(ephemerals(harness), [
            { user: ALICE.id, text: "`prod` is protected: the up you requested needs another person listed under `up` to approve it." },
        ]);
        assert.ok(!harness.cli.verbs().includes("up"));

        await harness.click(ALICE, OPS, CANCEL_ACTION, approvalId, messageTs);
        await harness.bot.settled();
        assert.equal(updatesOf(harness, messageTs).at(-1)?.params.text, `${UP_SUMMARY}\n:no_entry_sign: Cancelled by <@U0ALICE>; nothing was applied.`);
        assert.deepEqual(
            harness
                .auditWithoutTime()
                .slice(2)
                .map((e) => [e.user, e.command, e.result]),
            [
                ["alice (U0ALICE)", "approve", "refused"],
                ["alice (U0ALICE)", "cancel-approval", "cancelled"],
            ],
        );
        assert.ok(!harness.cli.verbs().includes("up"));
        assert.deepEqual(fs.readdirSync(harness.planDir), [], "the cancelled plan is removed");
    });

    it("refuses an approval from someone who may only preview", async () => {
        harness = await Harness.start();
        const { approvalId, messageTs } = await previewForApproval();
        await harness.click(CAROL, OPS, APPROVE_ACTION, approvalId, messageTs);
        await waitFor("the refusal", () => (ephemerals(harness).length > 0 ? true : undefined));
        assert.deepEqual(ephemerals(harness), [{ user: CAROL.id, text: "<@U0CAROL> may not change `prod`; an admin adds you under `stacks.prod.up`." }]);
        assert.ok(!harness.cli.verbs().includes("up"));
    });

    it("expires an approval after approvalTimeoutSeconds: the message says so, a late click is refused, nothing runs", async () => {
        harness = await Harness.start({
            accessFile: `approvalTimeoutSeconds: 1\nstacks:\n  prod: { channels: [${OPS}], up: [${ALICE.id}, ${BOB.id}], protected: true }\n`,
        });
        const { approvalId, messageTs } = await previewForApproval();
        const expired = await waitFor(
            "the expiry",
            () => updatesOf(harness, messageTs).find((c) => c.params.text.endsWith("expired; nothing was applied.")),
            3000,
        );
        assert.equal(expired.params.text, `${UP_SUMMARY}\n:hourglass: This approval expired; nothing was applied.`);

        await harness.click(BOB, OPS, APPROVE_ACTION, approvalId, messageTs);
        await waitFor("the refusal", () => (ephemerals(harness).length > 0 ? true : undefined));
        assert.deepEqual(ephemerals(harness), [
            { user: BOB.id, text: "This approval expired; nothing was started. Run `/k3s up prod` again for a fresh plan." },
        ]);
        assert.ok(!harness.cli.verbs().includes("up"));
        assert.deepEqual(
            harness
                .auditWithoutTime()
                .slice(2)
                .map((e) => [e.user, e.command, e.result]),
            [
                ["alice (U0ALICE)", "up", "expired"],
                ["bob (U0BOB)", "approve", "refused"],
            ],
        );
        // The stack is free again: a new up is accepted.
        assert.equal(await harness.reply(ALICE, OPS, "up prod"), "Up of `prod`: starting now; progress in the thread.");
    });

    it("refuses to apply a plan when the stack changed after the preview (an update from elsewhere)", async () => {
        harness = await Harness.start();
        const { approvalId, messageTs } = await previewForApproval();
        harness.cli.state.historyVersion += 1; // e.g. CI ran `pulumi up` on main meanwhile
        await harness.click(BOB, OPS, APPROVE_ACTION, approvalId, messageTs);
        await waitFor("the refusal", () => harness.auditWithoutTime().find((e) => e.result === "refused"));
        await harness.bot.settled();
        const detail =
            "`prod` changed since the preview (another update or a config change); the plan no longer applies and nothing was run. Run `/k3s up prod` again.";
        assert.equal(updatesOf(harness, messageTs).at(-1)?.params.text, `${UP_SUMMARY}\n:x: ${detail}`);
        assert.deepEqual(harness.auditWithoutTime().at(-1), {
            user: "bob (U0BOB)",
            channel: OPS,
            command: "up",
            stack: "prod",
            planHash: PROD_PLAN_HASH,
            result: "refused",
            detail,
        });
        assert.ok(!harness.cli.verbs().includes("up"));
    });

    it("runs one up for a double click, and refuses the replayed approval afterwards", async () => {
        harness = await Harness.start();
        const { approvalId, messageTs } = await previewForApproval();
        const clicks = await Promise.all([1, 2].map(() => harness.click(BOB, OPS, APPROVE_ACTION, approvalId, messageTs)));
        assert.deepEqual(
            clicks.map((c) => c.status),
            [200, 200],
        );
        await waitFor("the result", () => harness.auditWithoutTime().find((e) => e.result === "succeeded"));
        await harness.click(BOB, OPS, APPROVE_ACTION, approvalId, messageTs);
        await harness.bot.settled();

        assert.equal(harness.cli.verbs().filter((v) => v === "up").length, 1, "exactly one update");
        const refusal = "This plan was already approved by <@U0BOB>; nothing new was started.";
        assert.deepEqual(ephemerals(harness), [
            { user: BOB.id, text: refusal },
            { user: BOB.id, text: refusal },
        ]);
    });

    it("does not start a second run for Slack's retry of a command (x-slack-retry-num) or a redelivered trigger", async () => {
        harness = await Harness.start();
        const first = await harness.command(ALICE, OPS, "up prod", { triggerId: "trigger-42" });
        const retried = await harness.command(ALICE, OPS, "up prod", {
            triggerId: "trigger-42",
            headers: { "x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout" },
        });
        const redelivered = await harness.command(ALICE, OPS, "up prod", { triggerId: "trigger-42" });
        assert.equal(JSON.parse(first.body).text, "Up of `prod`: starting now; progress in the thread.");
        assert.deepEqual([retried.status, retried.body, redelivered.status, redelivered.body], [200, "", 200, ""]);
        await waitFor("the Approve button", () => approvalButton(harness.slack));
        await harness.bot.settled();
        assert.equal(harness.cli.verbs().filter((v) => v === "preview").length, 1);
        assert.equal(harness.auditWithoutTime().filter((e) => e.result === "queued").length, 1);
    });

    it("refuses a second up while one runs, and answers within 3 s while it does", async () => {
        harness = await Harness.start();
        const hold = gate();
        harness.cli.overrides.preview = (args) => ({ ...harness.cli.defaultReply(args), holdUntil: hold.promise });
        assert.equal(await harness.reply(ALICE, OPS, "up prod"), "Up of `prod`: starting now; progress in the thread.");
        await waitFor("the preview to start", () => (harness.cli.verbs().includes("preview") ? true : undefined));

        const second = await harness.command(BOB, OPS, "up prod");
        assert.ok(second.ms < 3000, `acked in ${second.ms} ms`);
        const refusal = "`prod` already has an up requested by <@U0ALICE>; nothing was started. Wait for it to finish, or `/k3s cancel prod`.";
        assert.equal(JSON.parse(second.body).text, refusal);
        // A preview is not refused but queued behind the running one, and told its place.
        assert.equal(
            await harness.reply(CAROL, OPS, "preview prod"),
            "Preview of `prod`: queued, number 1 in line behind Up of `prod` by <@U0ALICE> (running). One operation per stack at a time.",
        );
        hold.open();
        await waitFor("the Approve button", () => approvalButton(harness.slack));
        await waitFor("the queued preview", () => harness.auditWithoutTime().find((e) => e.result === "previewed"));
        await harness.bot.settled();
        assert.equal(harness.cli.verbs().filter((v) => v === "preview").length, 2, "the up's preview, then the queued preview");
        assert.deepEqual(
            harness.auditWithoutTime().find((e) => e.user === "bob (U0BOB)"),
            { user: "bob (U0BOB)", channel: OPS, command: "up", stack: "prod", result: "refused", detail: refusal },
        );
    });

    it("runs one operation per stack at a time, in order, while another stack runs beside it", async () => {
        harness = await Harness.start();
        let running = 0;
        let maxRunning = 0;
        const order: string[] = [];
        harness.cli.overrides.preview = (args) => {
            running += 1;
            maxRunning = Math.max(maxRunning, running);
            order.push(valueAfter(args, "--stack") ?? "");
            return {
                ...harness.cli.defaultReply(args),
                holdUntil: new Promise<void>((resolve) =>
                    setTimeout(() => {
                        running -= 1;
                        resolve();
                    }, 300),
                ),
            };
        };
        const replies = [
            await harness.reply(CAROL, OPS, "preview prod"),
            await harness.reply(CAROL, OPS, "preview prod"),
            await harness.reply(CAROL, OPS, "preview dev"),
        ];
        assert.deepEqual(replies, [
            "Preview of `prod`: starting now; progress in the thread.",
            "Preview of `prod`: queued, number 1 in line behind Preview of `prod` by <@U0CAROL> (running). One operation per stack at a time.",
            "Preview of `dev`: starting now; progress in the thread.",
        ]);
        await waitFor("three previews", () => (harness.auditWithoutTime().filter((e) => e.result === "previewed").length === 3 ? true : undefined));
        await harness.bot.settled();
        assert.deepEqual(order.sort(), ["dev", "prod", "prod"]);
        assert.equal(maxRunning, 2, "prod and dev side by side, never two on prod");
    });

    it("upgrade sets k3sVersion on that stack, previews the rolling upgrade, and on an unprotected stack the requester approves", async () => {
        harness = await Harness.start();
        assert.equal(await harness.reply(ALICE, OPS, "upgrade dev v1.37.0+k3s1"), "Upgrade of `dev` to v1.37.0+k3s1: starting now; progress in the thread.");
        const { approvalId, messageTs } = await waitFor("the Approve button", () => approvalButton(harness.slack));
        assert.deepEqual(harness.cli.call("config set").args, [
            "config",
            "set",
            "hybrid-k3s:k3sVersion",
            "--stack",
            "dev",
            "--plaintext",
            "--non-interactive",
            "--",
            "v1.37.0+k3s1",
        ]);
        const verbs = harness.cli.verbs();
        assert.ok(verbs.indexOf("config set") < verbs.indexOf("preview"), "the preview sees the new version");
        assert.match(
            updatesOf(harness, messageTs)[0].params.text,
            /^\*Upgrade of `dev` to v1\.37\.0\+k3s1\* requested by <@U0ALICE>\nk3sVersion: v1\.36\.1\+k3s1 \(project default\) → v1\.37\.0\+k3s1 \(set on the stack; `\/k3s upgrade dev <version>` sets it back\)\n\*Steps:\*/,
        );
        assert.match(updatesOf(harness, messageTs)[0].params.text, /anyone listed under `up` may approve/);

        await harness.click(ALICE, OPS, APPROVE_ACTION, approvalId, messageTs);
        await waitFor("the result", () => harness.auditWithoutTime().find((e) => e.result === "succeeded"));
        await harness.bot.settled();
        assert.equal(
            valueAfter(harness.cli.call("up").args, "--message")?.startsWith(
                "slack bot: upgrade requested by alice (U0ALICE), approved by alice (U0ALICE), plan ",
            ),
            true,
        );
    });

    it("cancel withdraws a pending approval, and the stack accepts a new up", async () => {
        harness = await Harness.start();
        const { messageTs } = await previewForApproval();
        assert.match(await harness.reply(BOB, OPS, "cancel prod"), /^On `prod`: withdrew the pending approval of plan `[0-9a-f]{12}`\.$/);
        await harness.bot.settled();
        assert.equal(updatesOf(harness, messageTs).at(-1)?.params.text, `${UP_SUMMARY}\n:no_entry_sign: Cancelled by <@U0BOB>; nothing was applied.`);
        assert.equal(await harness.reply(BOB, OPS, "cancel prod"), "Nothing to cancel on `prod`.");
        assert.equal(await harness.reply(BOB, OPS, "up prod"), "Up of `prod`: starting now; progress in the thread.");
    });

    it("cancel stops a running preview (SIGINT through the SDK's abort signal) and drops the queued ones", async () => {
        harness = await Harness.start();
        harness.cli.overrides.preview = (args) => ({ ...harness.cli.defaultReply(args), holdUntil: new Promise(() => undefined) });
        await harness.reply(ALICE, OPS, "up prod");
        await waitFor("the preview to start", () => (harness.cli.verbs().includes("preview") ? true : undefined));
        await harness.reply(CAROL, OPS, "preview prod");
        assert.equal(
            await harness.reply(ALICE, OPS, "cancel prod"),
            "On `prod`: dropped 1 queued: Preview of `prod` by <@U0CAROL>; asked the running Up of `prod` by <@U0ALICE> to stop (the CLI finishes the resource operations in flight, then stops).",
        );
        await waitFor("the failed preview", () => harness.auditWithoutTime().find((e) => e.result === "failed"));
        await harness.bot.settled();
        assert.equal(harness.cli.verbs().filter((v) => v === "preview").length, 1);
        assert.equal(
            harness.slack.of("chat.update").at(-1)?.params.text,
            "*Up of `prod`* requested by <@U0ALICE>: stopped by `/k3s cancel` (resource operations already in flight were finished; `/k3s status` shows where the stack is).",
        );
        harness.cli.overrides.preview = (args) => harness.cli.defaultReply(args);
        assert.equal(await harness.reply(BOB, OPS, "up prod"), "Up of `prod`: starting now; progress in the thread.", "the stack is free again");
    });
});
