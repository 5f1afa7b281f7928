// No secret value reaches Slack or the audit log: secrets generated for this run are stack outputs
// (as the program's kubeconfig, operator configs and bootstrap scripts are), and the stand-in CLI
// also leaks them into its progress output, plain and base64, as a program's own log line would.
// Every recorded Slack call, every ack and the audit log are then scanned for every encoding.
import { strict as assert } from "node:assert";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { APPROVE_ACTION } from "../../bot/format";
import { SecretScrubber } from "../../bot/scrub";
import { ALICE, approvalButton, BOB, Harness, OPS, waitFor } from "./harness";

function generatedSecrets() {
    const clientKey = randomBytes(48).toString("base64");
    const wgPrivateKey = randomBytes(32).toString("base64");
    const k3sToken = `K10${randomBytes(24).toString("hex")}::server:${randomBytes(16).toString("hex")}`;
    const kubeconfig = `apiVersion: v1\nusers:\n- name: admin\n  user:\n    client-key-data: ${clientKey}\n`;
    return { clientKey, wgPrivateKey, k3sToken, kubeconfig };
}

/** Every form a value could take on the way out: plain, JSON-escaped, URL-encoded, base64 (std, unpadded, url). */
function encodings(secret: string): string[] {
    const b64 = Buffer.from(secret).toString("base64");
    return [secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret), b64, b64.replace(/=+$/, ""), Buffer.from(secret).toString("base64url")];
}

describe("bot: no secret value in any Slack call or the audit log (stand-in Slack API, stand-in pulumi)", function () {
    this.timeout(20_000);
    let harness: Harness;
    afterEach(() => harness.close());

    it("keeps generated secrets out of replies, messages, thread progress and the audit log, whatever the encoding", async () => {
        harness = await Harness.start();
        const secrets = generatedSecrets();
        const { state } = harness.cli;
        state.outputs = {
            kubeconfig: secrets.kubeconfig,
            operatorConfigs: { laptop: `[Interface]\nPrivateKey = ${secrets.wgPrivateKey}\nAddress = 10.0.0.9/32\n` },
            bootstrapScripts: { phy01: `#!/bin/sh\necho '${secrets.k3sToken}' > /etc/rancher/k3s/token\n` },
            nodes: [{ name: "phy01", provider: "existing", arch: "amd64", roles: ["hub", "server"], meshAddress: "10.0.0.1" }],
            appUrls: ["https://app.example.org"],
        };
        state.secretOutputs = ["kubeconfig", "operatorConfigs", "bootstrapScripts"];
        const leakyOutput = [
            `debug: joining with token ${secrets.k3sToken}\n`,
            `debug: kubeconfig (base64) ${Buffer.from(secrets.kubeconfig).toString("base64")}\n`,
            `debug: client key ${secrets.clientKey}\n`,
            `debug: wg key ${Buffer.from(secrets.wgPrivateKey).toString("base64url")}\n`,
        ];
        harness.cli.overrides.preview = (args) => ({ ...harness.cli.defaultReply(args), outputChunks: leakyOutput });
        harness.cli.overrides.up = (args) => ({ ...harness.cli.defaultReply(args), outputChunks: leakyOutput });

        const acks = [
            await harness.command(ALICE, OPS, "status prod"),
            await harness.command(ALICE, OPS, "outputs prod"),
            await harness.command(ALICE, OPS, "up prod"),
        ];
        const { approvalId, messageTs } = await waitFor("the Approve button", () => approvalButton(harness.slack));
        acks.push(await harness.click(BOB, OPS, APPROVE_ACTION, approvalId, messageTs));
        await waitFor("the result", () => harness.auditWithoutTime().find((e) => e.result === "succeeded"));
        // A preview that fails with a secret in the CLI's stderr: the reply names the failure, not the output.
        harness.cli.overrides.preview = { stderr: `error: bad token ${secrets.k3sToken}\n`, code: 255 };
        acks.push(await harness.command(ALICE, OPS, "preview prod"));
        await waitFor("the failure", () => harness.auditWithoutTime().find((e) => e.result === "failed"));
        await harness.bot.settled();

        const posted = harness.slack.said();
        assert.ok(posted.length >= 10, `the scan covers the whole conversation (${posted.length} calls)`);
        const outgoing = [
            ...posted.map((c) => c.raw),
            ...posted.map((c) => JSON.stringify(c.params)),
            ...acks.map((a) => a.body),
            fs.readFileSync(harness.auditFile, "utf8"),
        ];
        const haystack = outgoing.join("\n");
        for (const [name, secret] of Object.entries(secrets)) {
            for (const form of encodings(secret)) {
                assert.ok(!haystack.includes(form), `${name} reached Slack or the audit log as ${JSON.stringify(form.slice(0, 16))}…`);
            }
        }

        // The scan is not vacuous: the leaky lines were shown, masked, and the outputs named, redacted.
        const texts = posted.map((c) => c.params.text ?? "");
        assert.ok(
            texts.some((t) => t.includes("debug: joining with token [secret]")),
            "the leaked token line was posted masked",
        );
        assert.ok(
            texts.some((t) => t.includes("debug: kubeconfig (base64) [secret]")),
            "the base64 kubeconfig was masked",
        );
        assert.ok(
            texts.some((t) => t.includes("debug: wg key [secret]")),
            "the base64url key was masked",
        );
        const outputs = texts.find((t) => t.startsWith("*prod* outputs"));
        assert.equal(
            outputs,
            '*prod* outputs (secrets redacted):\n```\nkubeconfig: "[secret]"\noperatorConfigs: "[secret]"\nbootstrapScripts: "[secret]"\nnodes: [\n  {\n    "name": "phy01",\n    "provider": "existing",\n    "arch": "amd64",\n    "roles": [\n      "hub",\n      "server"\n    ],\n    "meshAddress": "10.0.0.1"\n  }\n]\nappUrls: [\n  "https://app.example.org"\n]\n```',
        );
        assert.equal(
            texts.find((t) => t.startsWith("*prod*:")),
            "*prod*: 1 node(s), k3s v1.36.1+k3s1 (project default)\n• `phy01` existing/amd64: hub, server (mesh 10.0.0.1)\nLast update: #7 update succeeded at 2025-01-01T10:00:00.000Z, not run by this bot",
        );
        assert.equal(
            texts.at(-1),
            '*Preview of `prod`* requested by <@U0ALICE>: The preview of stack "prod" failed; the Pulumi output is in the runner\'s log.',
        );
    });
});

describe("bot/scrub: SecretScrubber", () => {
    it("masks a learned value plain, JSON-escaped and base64 (padded, unpadded, url), and each long line of it", () => {
        const scrubber = new SecretScrubber();
        const secret = "line-one-of-the-secret\nline-two-of-the-secret?>>";
        scrubber.learn({ nested: [secret] });
        const b64 = Buffer.from(secret).toString("base64");
        for (const form of [
            secret,
            JSON.stringify(secret).slice(1, -1),
            b64,
            b64.replace(/=+$/, ""),
            Buffer.from(secret).toString("base64url"),
            "line-two-of-the-secret?>>",
        ]) {
            assert.equal(scrubber.scrub(`before ${form} after`), "before [secret] after", form);
        }
    });

    it("masks a key inside a larger secret: a config line's value, a key=value word, a quoted token", () => {
        const scrubber = new SecretScrubber();
        scrubber.learn("[Interface]\nPrivateKey = c2VjcmV0LWtleS1ieXRlcy0xMjM0NTY3OA==\nToken=tok_0123456789abcdefXYZ\necho 'K10abcdef0123456789::server:x'\n");
        assert.equal(
            scrubber.scrub("key c2VjcmV0LWtleS1ieXRlcy0xMjM0NTY3OA== token tok_0123456789abcdefXYZ join K10abcdef0123456789::server:x"),
            "key [secret] token [secret] join [secret]",
        );
    });

    it("leaves short values and ordinary text alone", () => {
        const scrubber = new SecretScrubber();
        scrubber.learn("true");
        scrubber.learn("abc");
        assert.equal(scrubber.scrub("true abc stays"), "true abc stays");
    });
});
