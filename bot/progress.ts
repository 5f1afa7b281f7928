// A run's progress, as one thread reply that is edited as CLI lines arrive. Slack rate-limits
// chat.update (about one a second per channel, Tier 3 "special"), so edits are spaced at least
// `intervalMs` after the previous edit finished; lines that arrive meanwhile go into the next edit.
import { Chat } from "./chat";

/** Well under Slack's 40,000-character message limit, and still readable on a phone. */
const MAX_CHARS = 3500;

export interface ThreadProgressOptions {
    intervalMs?: number;
    /** The tail of the output that is shown; the whole output is in the stack's history. */
    maxLines?: number;
}

export class ThreadProgress {
    private readonly lines: string[] = [];
    private readonly intervalMs: number;
    private readonly maxLines: number;
    private ts: Promise<string> | undefined;
    private lastEditDone = 0;
    private timer: NodeJS.Timeout | undefined;
    private editing: Promise<void> = Promise.resolve();
    private dirty = false;
    private finished = false;

    constructor(
        private readonly chat: Chat,
        private readonly channel: string,
        private readonly threadTs: string,
        private readonly title: string,
        options: ThreadProgressOptions = {},
    ) {
        this.intervalMs = options.intervalMs ?? 1000;
        this.maxLines = options.maxLines ?? 25;
    }

    /** Posts the thread reply that later edits change. */
    async start(): Promise<void> {
        this.ts = this.chat.post(this.channel, this.render("starting…"), this.threadTs);
        await this.ts;
        this.lastEditDone = Date.now();
    }

    readonly line = (line: string): void => {
        this.lines.push(line);
        // Whole lines are dropped, never cut: a cut could split a secret the scrubber would then miss.
        while (this.lines.length > 1 && (this.lines.length > this.maxLines || this.lines.join("\n").length > MAX_CHARS)) {
            this.lines.shift();
        }
        this.dirty = true;
        this.schedule();
    };

    /** The last edit, with `footer` (the result), once the interval since the previous edit has passed. */
    async finish(footer: string): Promise<void> {
        this.finished = true;
        clearTimeout(this.timer);
        this.timer = undefined;
        await this.editing;
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, this.lastEditDone + this.intervalMs - Date.now())));
        await this.edit(footer);
    }

    private schedule(): void {
        if (this.timer || !this.ts || this.finished) {
            return;
        }
        const wait = Math.max(0, this.lastEditDone + this.intervalMs - Date.now());
        this.timer = setTimeout(() => {
            this.editing = this.editing
                .then(() => this.edit())
                .finally(() => {
                    this.timer = undefined;
                    if (this.dirty) {
                        this.schedule();
                    }
                });
        }, wait);
    }

    private async edit(footer?: string): Promise<void> {
        this.dirty = false;
        const ts = await this.ts;
        if (ts === undefined) {
            return;
        }
        try {
            await this.chat.update(this.channel, ts, this.render(footer));
        } catch (err) {
            // Progress is best effort: a failed edit must not fail the run it describes.
            console.error(`progress update in ${this.channel} failed: ${String(err)}`);
        } finally {
            this.lastEditDone = Date.now();
        }
    }

    private render(footer?: string) {
        const body = this.lines.length > 0 ? this.lines.join("\n") : "(no output yet)";
        const text = `${this.title}\n\`\`\`\n${body}\n\`\`\`${footer ? `\n${footer}` : ""}`;
        return { text };
    }
}
