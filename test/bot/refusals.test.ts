// Each refusal the bot makes: a clear reply, nothing run (no pulumi call), and an audit line.
import { strict as assert } from "node:assert";
import { ALICE, BOB, CAROL, Harness, MALLORY, OPS, RANDOM } from "./harness";

describe("bot: refusals, each with a clear reply and nothing run (stand-in Slack API, stand-in pulumi)", () => {
    let harness: Harness;
    beforeEach(async () => (harness = await Harness.start()));
    afterEach(() => harness.close());

    async function assertRefused(user: typeof ALICE, channel: string, text: string, reply: string, audit: Record<string, unknown>): Promise<void> {
        assert.equal(await harness.reply(user, channel, text), reply);
        await harness.bot.settled();
        assert.deepEqual(harness.cli.calls, [], "no pulumi call");
        assert.deepEqual(harness.slack.said(), [], "nothing posted: the refusal is the ephemeral ack");
        assert.deepEqual(harness.auditWithoutTime(), [{ user: `${user.name} (${user.id})`, channel, result: "refused", detail: reply, ...audit }]);
    }

    it("refuses a user who is not in the access file for that stack", async () => {
        await assertRefused(MALLORY, OPS, "preview dev", "<@U0MALLORY> may not read or preview `dev`; an admin adds you under `stacks.dev.preview`.", {
            command: "preview",
            stack: "dev",
        });
    });

    it("refuses an up from a user who may only preview", async () => {
        await assertRefused(CAROL, OPS, "up prod", "<@U0CAROL> may not change `prod`; an admin adds you under `stacks.prod.up`.", {
            command: "up",
            stack: "prod",
        });
    });

    it("refuses a channel that is not listed for that stack", async () => {
        await assertRefused(ALICE, RANDOM, "up dev", "Commands on `dev` are not accepted in this channel; use one of: <#C0OPS>.", {
            command: "up",
            stack: "dev",
        });
    });

    it("refuses a stack that is not in the access file", async () => {
        await assertRefused(ALICE, OPS, "up staging", "Stack `staging` is not in the bot's access file; an admin adds it under `stacks:`.", {
            command: "up",
            stack: "staging",
        });
    });

    const NOT_A_STACK = (name: string) =>
        `"${name}" is not a stack name: use letters, digits, "-", "_" and "." (starting with a letter or digit), optionally as org/project/stack.`;
    for (const [text, reply] of [
        ["up prod; rm -rf", NOT_A_STACK("prod;")],
        ["up --yes", NOT_A_STACK("--yes")],
        ["preview ../x", NOT_A_STACK("../x")],
        ["status $(reboot)", NOT_A_STACK("$(reboot)")],
        ["up prod --yes", "`up` takes one argument: `/k3s up <stack>`."],
        [
            "upgrade prod v1.31.2+k3s1;reboot",
            'version: "v1.31.2+k3s1;reboot" is not a k3s release tag; write it like v1.31.2+k3s1 (`/k3s upgrade <stack> <k3s version, e.g. v1.31.2+k3s1>`).',
        ],
        [
            "upgrade prod --yes",
            'version: "--yes" is not a k3s release tag; write it like v1.31.2+k3s1 (`/k3s upgrade <stack> <k3s version, e.g. v1.31.2+k3s1>`).',
        ],
        [
            "upgrade prod 1.31.2",
            'version: "1.31.2" is not a k3s release tag; write it like v1.31.2+k3s1 (`/k3s upgrade <stack> <k3s version, e.g. v1.31.2+k3s1>`).',
        ],
        ["destroy prod", '"destroy" is not a /k3s command. Try `/k3s help`.'],
    ]) {
        it(`refuses the malformed or injected command ${JSON.stringify(text)} before any access check or CLI call`, async () => {
            assert.equal(await harness.reply(ALICE, OPS, text), reply);
            await harness.bot.settled();
            assert.deepEqual(harness.cli.calls, []);
            assert.deepEqual(harness.slack.said(), []);
            assert.deepEqual(harness.auditWithoutTime(), [
                { user: "alice (U0ALICE)", channel: OPS, command: text.split(" ")[0], result: "refused", detail: reply },
            ]);
        });
    }

    it("answers help and stacks from the access file alone, without any CLI call", async () => {
        assert.match(await harness.reply(MALLORY, OPS, ""), /^\*\/k3s\* drives this project's Pulumi stacks:\n• `\/k3s stacks`/);
        assert.equal(
            await harness.reply(BOB, OPS, "stacks"),
            "Stacks you may use here:\n• `prod` (protected: ups need a second person's approval): status, outputs, preview, up, upgrade, cancel\n• `dev`: status, outputs, preview",
        );
        assert.equal(await harness.reply(BOB, RANDOM, "stacks"), "You may not use any stack from this channel.");
        assert.deepEqual(harness.cli.calls, []);
    });
});
