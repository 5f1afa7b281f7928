// The access file: every problem at once, each naming its field and the fix; and the decisions.
import { strict as assert } from "node:assert";
import { AccessFileError, checkAccess, parseAccessFile } from "../../bot/access";

function problems(text: string): string[] {
    try {
        parseAccessFile(text, "access.yaml");
    } catch (err) {
        assert.ok(err instanceof AccessFileError, String(err));
        return err.message.split("\n  - ").slice(1);
    }
    assert.fail("expected the access file to be refused");
}

describe("bot/access: the access file", () => {
    it("reads stacks, channels, users, protection and the approval timeout", () => {
        const policy = parseAccessFile(
            "approvalTimeoutSeconds: 600\nstacks:\n  prod: { channels: [C0OPS], preview: [U0CAROL], up: [U0ALICE, W0BOB], protected: true }\n  acme/hybrid-k3s/dev: { channels: [G0PRIV], up: [U0ALICE] }\n",
            "a",
        );
        assert.equal(policy.approvalTimeoutMs, 600_000);
        assert.deepEqual(
            [...policy.stacks.entries()],
            [
                ["prod", { channels: ["C0OPS"], preview: ["U0CAROL"], up: ["U0ALICE", "W0BOB"], protected: true }],
                ["acme/hybrid-k3s/dev", { channels: ["G0PRIV"], preview: [], up: ["U0ALICE"], protected: false }],
            ],
        );
        assert.equal(parseAccessFile("stacks: { dev: { channels: [C0OPS] } }", "a").approvalTimeoutMs, 900_000, "15 minutes by default");
    });

    it("reports every problem at once, each naming its field and the fix", () => {
        assert.deepEqual(
            problems(
                "approvalTimeoutSeconds: 0\nadmins: []\nstacks:\n  ../x: { channels: [C0OPS] }\n  prod:\n    channels: []\n    preview: [alice]\n    up: U0ALICE\n    protected: yes please\n",
            ),
            [
                "admins: unknown setting; the known ones are approvalTimeoutSeconds, stacks.",
                "approvalTimeoutSeconds: 0 is not a whole number of seconds from 1 to 86400; e.g. 900 (15 minutes).",
                'stacks.../x: "../x" is not a stack name: use letters, digits, "-", "_" and "." (starting with a letter or digit), optionally as org/project/stack.',
                "stacks.prod.channels: expected a non-empty list of ids, each a channel id (C… or G…, from the channel's details).",
                'stacks.prod.preview[0]: "alice" is not a Slack member id (U… or W…, from the user\'s profile).',
                "stacks.prod.up: expected a list of ids, each a Slack member id (U… or W…, from the user's profile).",
                'stacks.prod.protected: "yes please" is not true or false.',
            ],
        );
    });

    it("refuses an empty file, a file without stacks, and YAML that does not parse", () => {
        assert.deepEqual(problems("stacks: {}\n"), [
            "stacks: missing or empty; list each stack the bot may touch, e.g. `stacks: { prod: { channels: [C0123], preview: [U0123], up: [U0456], protected: true } }`.",
        ]);
        assert.throws(() => parseAccessFile("", "access.yaml"), {
            name: "AccessFileError",
            message: "access file access.yaml: expected a mapping with `stacks:` (see docs/bot.md).",
        });
        assert.throws(() => parseAccessFile("stacks: [", "access.yaml"), { name: "AccessFileError", message: /^access file access\.yaml: not valid YAML: / });
    });

    it("decides by stack, channel and permission; up implies preview", () => {
        const policy = parseAccessFile("stacks:\n  prod: { channels: [C0OPS], preview: [U0CAROL], up: [U0ALICE, U0BOB], protected: true }\n", "a");
        assert.deepEqual(checkAccess(policy, "U0ALICE", "C0OPS", "prod", "preview"), { allowed: true });
        assert.deepEqual(checkAccess(policy, "U0CAROL", "C0OPS", "prod", "preview"), { allowed: true });
        assert.equal(checkAccess(policy, "U0CAROL", "C0OPS", "prod", "up").allowed, false);
        assert.equal(checkAccess(policy, "U0ALICE", "C0OTHER", "prod", "preview").allowed, false);
        assert.equal(checkAccess(policy, "U0ALICE", "C0OPS", "dev", "preview").allowed, false);
    });
});
