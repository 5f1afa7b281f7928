// The transport: a Bolt app, over HTTP (Bolt's HTTPReceiver on /slack/events, which verifies
// x-slack-signature, HMAC-SHA256 of `v0:<timestamp>:<body>`, and refuses timestamps older than five
// minutes with a 401 before any listener runs) or over Socket Mode. It turns Slack payloads into
// K3sBot calls and acks at once; with processBeforeResponse off (Bolt's default), ack() sends the
// HTTP response immediately and the listener goes on afterwards.
import { App, BlockButtonAction, LogLevel } from "@slack/bolt";
import type { K3sBot } from "./bot";
import { APPROVE_ACTION, CANCEL_ACTION } from "./format";

export interface SlackAppOptions {
    botToken: string;
    /** HTTP mode: verifies every request. */
    signingSecret?: string;
    /** Socket Mode (no public URL needed) when set. */
    appToken?: string;
    /** The Web API's base URL, e.g. http://127.0.0.1:4000/api/ for a stand-in. */
    apiUrl?: string;
    /** Web API retries on network errors and 5xx; absent: the client's default (about 10 over 30 min). */
    webApiRetries?: number;
    logLevel?: LogLevel;
}

export const SLASH_COMMAND = "/k3s";

/** auth.test is deferred to `app.init()`, so a bad token fails the start with a clear error. */
export function createSlackApp(options: SlackAppOptions): App {
    const clientOptions = {
        slackApiUrl: options.apiUrl,
        retryConfig: options.webApiRetries === undefined ? undefined : { retries: options.webApiRetries },
    };
    const common = { token: options.botToken, clientOptions, logLevel: options.logLevel ?? LogLevel.INFO, deferInitialization: true };
    return options.appToken
        ? new App({ ...common, appToken: options.appToken, socketMode: true })
        : new App({ ...common, signingSecret: options.signingSecret });
}

/** How long a slash command's trigger_id is remembered to recognise a redelivery of the same request. */
const REDELIVERY_WINDOW_MS = 10 * 60_000;

export function registerBot(app: App, bot: K3sBot, scrub: (text: string) => string): void {
    // Slack redelivers a request it thinks went unanswered, with x-slack-retry-num (Bolt puts it in
    // context.retryNum). The first delivery already started the work: answer, start nothing.
    app.use(async ({ context, next, ...rest }) => {
        if (context.retryNum !== undefined) {
            if ("ack" in rest && typeof rest.ack === "function") {
                await rest.ack();
            }
            return;
        }
        await next();
    });

    const seenTriggers = new Map<string, number>();
    app.command(SLASH_COMMAND, async ({ command, ack }) => {
        const now = Date.now();
        for (const [trigger, at] of seenTriggers) {
            if (now - at > REDELIVERY_WINDOW_MS) {
                seenTriggers.delete(trigger);
            }
        }
        if (seenTriggers.has(command.trigger_id)) {
            await ack();
            return;
        }
        seenTriggers.set(command.trigger_id, now);
        const text = bot.handleCommand({ user: { id: command.user_id, name: command.user_name }, channel: command.channel_id, text: command.text });
        await ack({ response_type: "ephemeral", text: scrub(text) });
    });

    for (const [actionId, action] of [
        [APPROVE_ACTION, "approve"],
        [CANCEL_ACTION, "cancel"],
    ] as const) {
        app.action<BlockButtonAction>(actionId, async ({ ack, body, action: button }) => {
            await ack();
            const channel = body.channel?.id ?? body.container.channel_id;
            bot.handleButton({
                user: { id: body.user.id, name: body.user.username ?? body.user.name ?? body.user.id },
                channel,
                approvalId: button.value ?? "",
                action,
            });
        });
    }

    app.error(async (error) => {
        console.error("hybrid-k3s bot: Slack listener error:", error);
    });
}
