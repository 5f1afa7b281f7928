// What the bot says to Slack, as three calls on the Web API. The Bolt adapter is the one place
// outgoing text passes on its way out, so the secret scrubber sits here, before anything is sent.
import type { types, webApi } from "@slack/bolt";

export interface ChatMessage {
    /** Always set: Slack shows it in notifications and where blocks cannot be shown. */
    text: string;
    blocks?: types.KnownBlock[];
}

export interface Chat {
    /** Returns the message's ts, the id chat.update and thread replies need. */
    post(channel: string, message: ChatMessage, threadTs?: string): Promise<string>;
    update(channel: string, ts: string, message: ChatMessage): Promise<void>;
    /** Only `user` sees it: refusals of button clicks, which have no slash-command reply to carry them. */
    ephemeral(channel: string, user: string, text: string): Promise<void>;
}

export class SlackChat implements Chat {
    constructor(
        private readonly client: webApi.WebClient,
        private readonly scrub: (text: string) => string,
    ) {}

    async post(channel: string, message: ChatMessage, threadTs?: string): Promise<string> {
        const result = await this.client.chat.postMessage({ channel, thread_ts: threadTs, ...this.clean(message) });
        if (!result.ts) {
            throw new Error(`chat.postMessage to ${channel} returned no ts`);
        }
        return result.ts;
    }

    async update(channel: string, ts: string, message: ChatMessage): Promise<void> {
        // Without blocks Slack keeps the old ones (the buttons); an empty list removes them.
        const clean = this.clean(message);
        await this.client.chat.update({ channel, ts, text: clean.text, blocks: clean.blocks ?? [] });
    }

    async ephemeral(channel: string, user: string, text: string): Promise<void> {
        await this.client.chat.postEphemeral({ channel, user, text: this.scrub(text) });
    }

    private clean(message: ChatMessage): ChatMessage {
        return JSON.parse(this.scrub(JSON.stringify(message))) as ChatMessage;
    }
}
