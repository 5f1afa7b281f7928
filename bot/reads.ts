// The read-only commands (`stacks`, `status`, `outputs`): nothing queued, nothing changed. Every
// secret output of a stack is taught to the scrubber before anything of that stack is shown.
import { AccessPolicy } from "./access";
import { SlackUser } from "./approvals";
import { Chat } from "./chat";
import { outputsText, stacksText, statusText } from "./format";
import { projectDefault, redactOutputs, StackRunner, StackRunnerError } from "./runner";
import { SecretScrubber } from "./scrub";

export const K3S_VERSION_KEY = "hybrid-k3s:k3sVersion";

/** A reply we can show: our own wording for StackRunnerErrors, never CLI output. */
export function safeMessage(err: unknown): string {
    if (err instanceof StackRunnerError) {
        return err.message;
    }
    console.error("hybrid-k3s bot:", err);
    return "the bot hit an internal error; the details are in its log.";
}

export class StackReads {
    constructor(private readonly options: { runner: StackRunner; policy: AccessPolicy; chat: Chat; scrubber: SecretScrubber }) {}

    /** The stacks this channel serves that the user may do anything with, and what. */
    stacks(user: SlackUser, channel: string): string {
        const rows = [...this.options.policy.stacks.entries()]
            .filter(([, access]) => access.channels.includes(channel))
            .map(([stack, access]) => ({
                stack,
                protected: access.protected,
                permissions: access.up.includes(user.id)
                    ? ["status", "outputs", "preview", "up", "upgrade", "cancel"]
                    : access.preview.includes(user.id)
                      ? ["status", "outputs", "preview"]
                      : [],
            }))
            .filter((row) => row.permissions.length > 0);
        return stacksText(rows);
    }

    async status(stack: string, channel: string): Promise<void> {
        try {
            const { runner } = this.options;
            const outputs = await this.learnSecrets(stack);
            const version = await runner.getConfig(stack, K3S_VERSION_KEY);
            const lastUpdate = await runner.lastUpdate(stack);
            const nodes = outputs.nodes?.secret ? undefined : outputs.nodes?.value;
            const text = statusText({
                stack,
                nodes,
                k3sVersion: version ?? String(projectDefault("k3sVersion")),
                k3sVersionIsDefault: version === undefined,
                lastUpdate,
            });
            await this.options.chat.post(channel, { text });
        } catch (err) {
            await this.options.chat.post(channel, { text: `Status of \`${stack}\`: ${safeMessage(err)}` });
        }
    }

    async outputs(stack: string, channel: string): Promise<void> {
        try {
            const outputs = await this.learnSecrets(stack);
            await this.options.chat.post(channel, { text: outputsText(stack, redactOutputs(outputs)) });
        } catch (err) {
            await this.options.chat.post(channel, { text: `Outputs of \`${stack}\`: ${safeMessage(err)}` });
        }
    }

    /** The stack's secret outputs become known to the scrubber before anything of the stack is shown. */
    async learnSecrets(stack: string) {
        const outputs = await this.options.runner.outputs(stack);
        Object.values(outputs)
            .filter((o) => o.secret)
            .forEach((o) => this.options.scrubber.learn(o.value));
        return outputs;
    }
}
