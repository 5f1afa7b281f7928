// `npm run bot` itself: with a signing secret and a token it starts, answers Slack's url_verification
// and refuses a forged request with 401; with bad settings or a bad access file it does not start
// and says which setting to fix.
import { strict as assert } from "node:assert";
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ACCESS_FILE, post, PROJECT_ROOT, SIGNING_SECRET, slackSignature, StandInSlackApi } from "./harness";

interface Started {
    child: ChildProcess;
    output: () => string;
    exited: Promise<number | null>;
}

// package.json's `bot` script, run the way npm runs it (sh -c, node_modules/.bin on PATH) but with
// `exec`, so the process the test signals is tsx itself, which relays SIGTERM to the bot and exits
// with its code (npm would die of the signal and leave the bot behind).
const BOT_SCRIPT = (JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts.bot;

/** The bot in its own process group, so the test ends exactly the processes it started. */
function startBot(env: Record<string, string>): Started {
    const PATH = `${path.join(PROJECT_ROOT, "node_modules", ".bin")}:${process.env.PATH ?? ""}`;
    const child = spawn("sh", ["-c", `exec ${BOT_SCRIPT}`], { cwd: PROJECT_ROOT, env: { PATH, HOME: os.tmpdir(), ...env }, detached: true });
    let output = "";
    child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    return { child, output: () => output, exited };
}

/** SIGTERM, as a process manager stops it; the group is killed only if that did not end it in 10 s. */
async function stopBot(started: Started): Promise<number | null> {
    const { pid } = started.child;
    if (started.child.exitCode !== null || pid === undefined) {
        return started.exited;
    }
    process.kill(pid, "SIGTERM");
    const timer = setTimeout(() => process.kill(-pid, "SIGKILL"), 10_000);
    try {
        return await started.exited;
    } finally {
        clearTimeout(timer);
    }
}

async function waitForOutput(started: Started, pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const match = started.output().match(pattern);
        if (match) {
            return match;
        }
        if (Date.now() > deadline || started.child.exitCode !== null) {
            assert.fail(`no ${pattern} from npm run bot within ${timeoutMs} ms; it said:\n${started.output()}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
}

describe("npm run bot (the entry point, as a process, stand-in Slack API)", function () {
    this.timeout(40_000);
    it("is package.json's bot script: tsx bot/main.ts", () => assert.equal(BOT_SCRIPT, "tsx bot/main.ts"));

    let dir: string;
    let slack: StandInSlackApi;
    let apiUrl: string;
    beforeEach(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "k3s-bot-main-"));
        fs.writeFileSync(path.join(dir, "access.yaml"), ACCESS_FILE);
        slack = new StandInSlackApi();
        apiUrl = await slack.listen();
    });
    afterEach(async () => {
        await slack.close();
        fs.rmSync(dir, { recursive: true, force: true });
    });

    const settings = () => ({
        SLACK_BOT_TOKEN: "xoxb-test-token",
        SLACK_SIGNING_SECRET: SIGNING_SECRET,
        SLACK_API_URL: apiUrl,
        PORT: "0",
        BOT_LISTEN_HOST: "127.0.0.1",
        BOT_ACCESS_FILE: path.join(dir, "access.yaml"),
        BOT_AUDIT_LOG: path.join(dir, "audit.jsonl"),
        BOT_PLAN_DIR: path.join(dir, "plans"),
    });

    it("starts with a signing secret and a token, answers url_verification, refuses a forged request with 401", async () => {
        const bot = startBot(settings());
        try {
            const [, url] = await waitForOutput(bot, /listening on (http:\/\/127\.0\.0\.1:\d+\/slack\/events)/, 30_000);
            assert.deepEqual(
                slack.calls.map((c) => [c.method, c.params.token]),
                [["auth.test", "xoxb-test-token"]],
                "the token was verified at start",
            );

            const challenge = JSON.stringify({ token: "legacy", challenge: "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", type: "url_verification" });
            const verified = await post(url, challenge, { headers: { "content-type": "application/json" } });
            assert.equal(verified.status, 200);
            assert.deepEqual(JSON.parse(verified.body), { challenge: "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" });

            const now = Math.floor(Date.now() / 1000);
            const forged = await post(url, challenge, {
                headers: { "content-type": "application/json" },
                timestamp: now,
                signature: slackSignature("forged-secret", now, challenge),
            });
            assert.equal(forged.status, 401);
            const unsigned = await post(url, "command=%2Fk3s&text=up+prod", { signature: null });
            assert.equal(unsigned.status, 401);
        } finally {
            assert.equal(await stopBot(bot), 0, `SIGTERM ends the bot cleanly; it said:\n${bot.output()}`);
        }
    });

    it("does not start without its settings, and names each variable to set", async () => {
        const bot = startBot({ SLACK_BOT_TOKEN: "not-a-bot-token", PORT: "http" });
        assert.equal(await bot.exited, 1);
        assert.equal(
            bot.output().trim(),
            [
                "hybrid-k3s bot: the bot cannot start; fix these environment variables:",
                "  - SLACK_BOT_TOKEN: set it to the app's Bot User OAuth Token (xoxb-…, under OAuth & Permissions).",
                "  - SLACK_SIGNING_SECRET: HTTP mode needs the app's Signing Secret (Basic Information → App Credentials), or set SLACK_APP_TOKEN for Socket Mode.",
                '  - PORT: "http" is not a TCP port (0-65535; 0 picks a free one).',
                "  - BOT_ACCESS_FILE: set it to the access file (YAML: who may do what on which stack, see docs/bot.md).",
            ].join("\n"),
        );
        assert.deepEqual(slack.calls, [], "nothing reached Slack");
    });

    it("does not start with an invalid access file, and names each field to fix", async () => {
        fs.writeFileSync(
            path.join(dir, "access.yaml"),
            "stacks:\n  prod:\n    channels: [ops]\n    up: [U0ALICE]\n    protected: true\n    approvers: [U0BOB]\n",
        );
        const bot = startBot(settings());
        assert.equal(await bot.exited, 1);
        assert.equal(
            bot.output().trim(),
            [
                `hybrid-k3s bot: access file ${path.join(dir, "access.yaml")} has 3 problem(s):`,
                "  - stacks.prod.approvers: unknown setting; the known ones are channels, preview, up, protected.",
                '  - stacks.prod.channels[0]: "ops" is not a channel id (C… or G…, from the channel\'s details).',
                "  - stacks.prod.protected: a protected stack needs a second person to approve; list at least two users under stacks.prod.up.",
            ].join("\n"),
        );
        assert.deepEqual(slack.calls, [], "nothing reached Slack");
    });
});
