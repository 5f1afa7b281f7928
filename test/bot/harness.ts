// The bot as it runs, minus Slack and Pulumi: the real Bolt app on loopback, receiving requests
// signed exactly as Slack signs them; a stand-in Slack Web API on loopback that records every call;
// the real AutomationStackRunner driving the stand-in `pulumi` CLI (fakePulumi.ts).
import { strict as assert } from "node:assert";
import { createHmac, randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { LogLevel } from "@slack/bolt";
import { parseAccessFile } from "../../bot/access";
import { AuditLog } from "../../bot/audit";
import { K3sBot } from "../../bot/bot";
import { SlackChat } from "../../bot/chat";
import { AutomationStackRunner } from "../../bot/runner";
import { SecretScrubber } from "../../bot/scrub";
import { createSlackApp, registerBot } from "../../bot/slack";
import { FakePulumiCommand } from "./fakePulumi";

export { PROJECT_DIR as PROJECT_ROOT } from "./fakePulumi";
export const SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5";
export const TEAM = "T0TEAM";
export const OPS = "C0OPS";
export const RANDOM = "C0RANDOM";
export const ALICE = { id: "U0ALICE", name: "alice" };
export const BOB = { id: "U0BOB", name: "bob" };
export const CAROL = { id: "U0CAROL", name: "carol" };
export const MALLORY = { id: "U0MALLORY", name: "mallory" };

/** prod is protected (alice and bob may up, carol may preview); dev is not (alice may up). */
export const ACCESS_FILE = `
approvalTimeoutSeconds: 900
stacks:
  prod:
    channels: [${OPS}]
    preview: [${CAROL.id}]
    up: [${ALICE.id}, ${BOB.id}]
    protected: true
  dev:
    channels: [${OPS}]
    preview: [${CAROL.id}, ${BOB.id}]
    up: [${ALICE.id}]
`;

export interface SlackCall {
    method: string;
    /** The form fields as sent, JSON-valued fields (blocks) still as text. */
    params: Record<string, string>;
    raw: string;
    at: number;
    /** The ts the stand-in gave a posted message (chat.postMessage). */
    ts?: string;
}

let tsCounter = 0;

/** A stand-in for Slack's Web API: answers what the bot calls, records every call. */
export class StandInSlackApi {
    readonly calls: SlackCall[] = [];
    private readonly server = http.createServer((req, res) => this.answer(req, res));

    async listen(): Promise<string> {
        await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
        return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/api/`;
    }

    close(): Promise<void> {
        this.server.closeAllConnections();
        return new Promise((resolve) => this.server.close(() => resolve()));
    }

    /** Calls of `method`, in order; chat.* only unless asked (auth.test happens at start). */
    of(method: string): SlackCall[] {
        return this.calls.filter((call) => call.method === method);
    }

    /** Every call but the start's auth.test: what the bot said. */
    said(): SlackCall[] {
        return this.calls.filter((call) => call.method !== "auth.test");
    }

    private answer(req: http.IncomingMessage, res: http.ServerResponse): void {
        let raw = "";
        req.on("data", (chunk: Buffer) => (raw += chunk.toString()));
        req.on("end", () => {
            const method = (req.url ?? "").replace(/^\/api\//, "");
            const params = Object.fromEntries(new URLSearchParams(raw));
            const ts = `1700000000.${String(++tsCounter).padStart(6, "0")}`;
            this.calls.push({ method, params, raw, at: Date.now(), ts: method === "chat.postMessage" ? ts : undefined });
            const body =
                method === "auth.test"
                    ? { ok: true, user_id: "U0BOT", bot_id: "B0BOT", team_id: TEAM, user: "k3s" }
                    : method === "chat.postMessage"
                      ? { ok: true, channel: params.channel, ts }
                      : method === "chat.update"
                        ? { ok: true, channel: params.channel, ts: params.ts }
                        : method === "chat.postEphemeral"
                          ? { ok: true, message_ts: ts }
                          : { ok: false, error: "unknown_method" };
            res.writeHead(200, { "content-type": "application/json" });
            res.end(JSON.stringify(body));
        });
    }
}

/** Slack's request signing: HMAC-SHA256 of `v0:<timestamp>:<body>` with the signing secret. */
export function slackSignature(secret: string, timestamp: number, body: string): string {
    return `v0=${createHmac("sha256", secret).update(`v0:${timestamp}:${body}`).digest("hex")}`;
}

export interface SendOptions {
    /** Seconds since the epoch; default now. */
    timestamp?: number;
    /** Replaces the computed signature; null sends none (and no timestamp). */
    signature?: string | null;
    headers?: Record<string, string>;
}

export interface BotResponse {
    status: number;
    body: string;
    ms: number;
}

export async function post(url: string, body: string, options: SendOptions = {}): Promise<BotResponse> {
    const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
    const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded", ...options.headers };
    if (options.signature !== null) {
        headers["x-slack-request-timestamp"] = String(timestamp);
        headers["x-slack-signature"] = options.signature ?? slackSignature(SIGNING_SECRET, timestamp, body);
    }
    const started = Date.now();
    const response = await fetch(url, { method: "POST", headers, body, signal: AbortSignal.timeout(10_000) });
    return { status: response.status, body: await response.text(), ms: Date.now() - started };
}

export function slashCommandBody(user: { id: string; name: string }, channel: string, text: string, triggerId: string = randomUUID()): string {
    return new URLSearchParams({
        token: "legacy-verification-token",
        team_id: TEAM,
        team_domain: "acme",
        channel_id: channel,
        channel_name: channel === OPS ? "ops" : "random",
        user_id: user.id,
        user_name: user.name,
        command: "/k3s",
        text,
        api_app_id: "A0APP",
        response_url: "http://127.0.0.1:9/never-used",
        trigger_id: triggerId,
    }).toString();
}

export function buttonBody(user: { id: string; name: string }, channel: string, actionId: string, value: string, messageTs: string): string {
    const payload = {
        type: "block_actions",
        user: { id: user.id, username: user.name, name: user.name, team_id: TEAM },
        api_app_id: "A0APP",
        token: "legacy-verification-token",
        container: { type: "message", message_ts: messageTs, channel_id: channel, is_ephemeral: false },
        trigger_id: randomUUID(),
        team: { id: TEAM, domain: "acme" },
        channel: { id: channel, name: "ops" },
        message: { type: "message", ts: messageTs, text: "" },
        response_url: "http://127.0.0.1:9/never-used",
        actions: [
            {
                action_id: actionId,
                block_id: "approval",
                type: "button",
                value,
                text: { type: "plain_text", text: "Approve" },
                action_ts: String(Date.now() / 1000),
            },
        ],
    };
    return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

/** Polls until `check` returns a value (not undefined) or `timeoutMs` passes. */
export async function waitFor<T>(what: string, check: () => T | undefined, timeoutMs = 8_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const value = check();
        if (value !== undefined) {
            return value;
        }
        if (Date.now() > deadline) {
            assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
    }
}

export interface HarnessOptions {
    accessFile?: string;
    progressIntervalMs?: number;
}

/** One bot, its stand-ins and its temp dir; `close()` stops and removes everything. */
export class Harness {
    readonly slack = new StandInSlackApi();
    readonly cli = new FakePulumiCommand();
    readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "k3s-bot-test-"));
    readonly auditFile = path.join(this.dir, "audit.jsonl");
    readonly planDir = path.join(this.dir, "plans");
    url = "";
    bot!: K3sBot;
    private stop: () => Promise<void> = async () => undefined;

    static async start(options: HarnessOptions = {}): Promise<Harness> {
        const harness = new Harness();
        await harness.boot(options);
        return harness;
    }

    private async boot(options: HarnessOptions): Promise<void> {
        const apiUrl = await this.slack.listen();
        const scrubber = new SecretScrubber();
        const audit = new AuditLog(this.auditFile, scrubber.scrub);
        const app = createSlackApp({ botToken: "xoxb-test-token", signingSecret: SIGNING_SECRET, apiUrl, webApiRetries: 0, logLevel: LogLevel.ERROR });
        await app.init();
        this.bot = new K3sBot({
            runner: new AutomationStackRunner({ pulumiCommand: this.cli }),
            policy: parseAccessFile(options.accessFile ?? ACCESS_FILE, "test access file"),
            chat: new SlackChat(app.client, scrubber.scrub),
            audit,
            scrubber,
            planDir: this.planDir,
            progress: { intervalMs: options.progressIntervalMs },
        });
        registerBot(app, this.bot, scrubber.scrub);
        const server = (await app.start({ port: 0, host: "127.0.0.1" })) as http.Server;
        this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/events`;
        this.stop = async () => {
            this.bot.close();
            await this.bot.settled();
            server.closeAllConnections();
            await app.stop();
            audit.close();
        };
    }

    async close(): Promise<void> {
        await this.stop();
        await this.slack.close();
        fs.rmSync(this.dir, { recursive: true, force: true });
    }

    command(user: { id: string; name: string }, channel: string, text: string, options?: SendOptions & { triggerId?: string }): Promise<BotResponse> {
        return post(this.url, slashCommandBody(user, channel, text, options?.triggerId), options);
    }

    /** The ephemeral text of a slash-command ack. */
    async reply(user: { id: string; name: string }, channel: string, text: string): Promise<string> {
        const response = await this.command(user, channel, text);
        assert.equal(response.status, 200, response.body);
        return (JSON.parse(response.body) as { text: string }).text;
    }

    click(user: { id: string; name: string }, channel: string, actionId: string, approvalId: string, messageTs: string): Promise<BotResponse> {
        return post(this.url, buttonBody(user, channel, actionId, approvalId, messageTs));
    }

    audit(): Record<string, unknown>[] {
        const text = fs.readFileSync(this.auditFile, "utf8");
        return text === ""
            ? []
            : text
                  .trimEnd()
                  .split("\n")
                  .map((line) => JSON.parse(line) as Record<string, unknown>);
    }

    /** Audit entries without their time, for exact comparison. */
    auditWithoutTime(): Record<string, unknown>[] {
        return this.audit().map(({ time, ...rest }) => {
            assert.match(String(time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
            return rest;
        });
    }
}

/** The approval id and message ts of the Approve button in the latest chat.update that has one. */
export function approvalButton(slack: StandInSlackApi): { approvalId: string; messageTs: string } | undefined {
    for (const call of [...slack.of("chat.update")].reverse()) {
        const blocks = call.params.blocks ? (JSON.parse(call.params.blocks) as { type: string; elements?: { action_id: string; value: string }[] }[]) : [];
        const approve = blocks.flatMap((b) => b.elements ?? []).find((e) => e.action_id === "k3s_approve");
        if (approve) {
            return { approvalId: approve.value, messageTs: call.params.ts };
        }
    }
    return undefined;
}
