// The bot's settings, all from the environment (the process manager's or a .env the operator
// sources). Every problem is reported at once, each naming its variable and the fix.
import * as os from "node:os";
import * as path from "node:path";

export interface BotSettings {
    botToken: string;
    signingSecret?: string;
    appToken?: string;
    apiUrl?: string;
    port: number;
    host?: string;
    accessFile: string;
    auditLog: string;
    planDir: string;
}

export class SettingsError extends Error {
    override readonly name = "SettingsError";
}

export function readSettings(env: NodeJS.ProcessEnv): BotSettings {
    const problems: string[] = [];
    const value = (name: string) => (env[name] ?? "").trim() || undefined;

    const botToken = value("SLACK_BOT_TOKEN");
    if (!botToken?.startsWith("xoxb-")) {
        problems.push("SLACK_BOT_TOKEN: set it to the app's Bot User OAuth Token (xoxb-…, under OAuth & Permissions).");
    }
    const appToken = value("SLACK_APP_TOKEN");
    if (appToken !== undefined && !appToken.startsWith("xapp-")) {
        problems.push(
            "SLACK_APP_TOKEN: an app-level token starts with xapp- (Basic Information → App-Level Tokens, scope connections:write); unset it for HTTP mode.",
        );
    }
    const signingSecret = value("SLACK_SIGNING_SECRET");
    if (appToken === undefined && signingSecret === undefined) {
        problems.push(
            "SLACK_SIGNING_SECRET: HTTP mode needs the app's Signing Secret (Basic Information → App Credentials), or set SLACK_APP_TOKEN for Socket Mode.",
        );
    }
    const apiUrl = value("SLACK_API_URL");
    if (apiUrl !== undefined && !/^https?:\/\/[^\s]+\/$/.test(apiUrl)) {
        problems.push(`SLACK_API_URL: "${apiUrl}" is not an http(s) URL ending in "/", e.g. https://slack.com/api/.`);
    }
    const portText = value("PORT") ?? "3000";
    const port = Number(portText);
    if (!/^\d+$/.test(portText) || port > 65_535) {
        problems.push(`PORT: "${portText}" is not a TCP port (0-65535; 0 picks a free one).`);
    }
    const accessFile = value("BOT_ACCESS_FILE");
    if (accessFile === undefined) {
        problems.push("BOT_ACCESS_FILE: set it to the access file (YAML: who may do what on which stack, see docs/bot.md).");
    }
    if (problems.length > 0) {
        throw new SettingsError(`the bot cannot start; fix these environment variables:\n  - ${problems.join("\n  - ")}`);
    }
    return {
        botToken: botToken as string,
        signingSecret,
        appToken,
        apiUrl,
        port,
        host: value("BOT_LISTEN_HOST"),
        accessFile: accessFile as string,
        auditLog: value("BOT_AUDIT_LOG") ?? path.resolve("k3s-bot-audit.jsonl"),
        planDir: value("BOT_PLAN_DIR") ?? path.join(os.tmpdir(), "hybrid-k3s-bot-plans"),
    };
}
