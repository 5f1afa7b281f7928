// `npm run bot`: settings and access file checked, Slack token verified (auth.test), then the Bolt
// app listens (HTTP on PORT at /slack/events, or Socket Mode) with the real AutomationStackRunner.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { loadAccessFile } from "./access";
import { AuditLog } from "./audit";
import { K3sBot } from "./bot";
import { SlackChat } from "./chat";
import { AutomationStackRunner } from "./runner";
import { SecretScrubber } from "./scrub";
import { readSettings } from "./settings";
import { createSlackApp, registerBot } from "./slack";

async function main(): Promise<void> {
    const settings = readSettings(process.env);
    const policy = loadAccessFile(settings.accessFile);
    const scrubber = new SecretScrubber();
    const audit = new AuditLog(settings.auditLog, scrubber.scrub);
    const app = createSlackApp(settings);
    try {
        await app.init();
    } catch (err) {
        throw new Error(`SLACK_BOT_TOKEN: Slack refused the token (auth.test: ${(err as Error).message}); copy the Bot User OAuth Token again.`);
    }
    const bot = new K3sBot({
        runner: new AutomationStackRunner(),
        policy,
        chat: new SlackChat(app.client, scrubber.scrub),
        audit,
        scrubber,
        planDir: settings.planDir,
    });
    registerBot(app, bot, scrubber.scrub);

    if (settings.appToken) {
        await app.start();
        console.log(`hybrid-k3s bot: connected over Socket Mode; ${policy.stacks.size} stack(s) in ${settings.accessFile}`);
    } else {
        const server = (await app.start({ port: settings.port, host: settings.host })) as Server;
        const { address, port } = server.address() as AddressInfo;
        console.log(`hybrid-k3s bot: listening on http://${address}:${port}/slack/events; ${policy.stacks.size} stack(s) in ${settings.accessFile}`);
    }

    const shutdown = async () => {
        bot.close();
        await app.stop();
        await bot.settled();
        audit.close();
        process.exit(0);
    };
    process.once("SIGTERM", shutdown);
    process.once("SIGINT", shutdown);
}

main().catch((err: Error) => {
    console.error(`hybrid-k3s bot: ${err.message}`);
    process.exit(1);
});
