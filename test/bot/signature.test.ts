// Requests that are not Slack's: refused by Bolt's receiver with 401 before any listener runs.
import { strict as assert } from "node:assert";
import { ALICE, Harness, OPS, post, SIGNING_SECRET, slackSignature, slashCommandBody } from "./harness";

describe("bot: requests not signed by Slack are refused with 401 before any handler (stand-in Slack API)", () => {
    let harness: Harness;
    beforeEach(async () => (harness = await Harness.start()));
    afterEach(() => harness.close());

    const body = () => slashCommandBody(ALICE, OPS, "preview dev");

    function assertNothingHappened(): void {
        assert.deepEqual(harness.slack.said(), [], "no Slack call");
        assert.deepEqual(harness.cli.calls, [], "no pulumi call");
        assert.deepEqual(harness.audit(), [], "no audit line: no handler ran");
    }

    it("refuses an unsigned request", async () => {
        const response = await post(harness.url, body(), { signature: null });
        assert.equal(response.status, 401);
        assert.equal(response.body, "");
        await harness.bot.settled();
        assertNothingHappened();
    });

    it("refuses a request signed with another secret", async () => {
        const now = Math.floor(Date.now() / 1000);
        const response = await post(harness.url, body(), { timestamp: now, signature: slackSignature("not-the-signing-secret", now, body()) });
        assert.equal(response.status, 401);
        await harness.bot.settled();
        assertNothingHappened();
    });

    it("refuses a correctly signed body that was altered on the way", async () => {
        const now = Math.floor(Date.now() / 1000);
        const signed = slashCommandBody(ALICE, OPS, "preview dev", "trigger-1");
        const tampered = slashCommandBody(ALICE, OPS, "up prod", "trigger-1");
        const response = await post(harness.url, tampered, { timestamp: now, signature: slackSignature(SIGNING_SECRET, now, signed) });
        assert.equal(response.status, 401);
        await harness.bot.settled();
        assertNothingHappened();
    });

    it("refuses a correctly signed request whose timestamp is more than 5 minutes old (a replay)", async () => {
        const old = Math.floor(Date.now() / 1000) - 5 * 60 - 1;
        const response = await post(harness.url, body(), { timestamp: old, signature: slackSignature(SIGNING_SECRET, old, body()) });
        assert.equal(response.status, 401);
        await harness.bot.settled();
        assertNothingHappened();
    });

    it("accepts the same request correctly signed and current (the refusals above are for the signature alone)", async () => {
        const response = await harness.command(ALICE, OPS, "help");
        assert.equal(response.status, 200);
        assert.match(JSON.parse(response.body).text, /^\*\/k3s\* drives this project's Pulumi stacks:/);
    });
});
