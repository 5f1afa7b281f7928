// A redacted plan holds no generated secret in any encoding: every file it writes is scanned as
// text, as base64 (inline and wrapped over lines, as bundles carry files) and as gzip inside that.
import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { gunzipSync } from "zlib";
import { writePlan } from "../../plan/cli";
import { PlanResult, readStackConfig, runPlan } from "../../plan/plan";

/** Every reading of a text a consumer might decode: itself, each base64 run (wrapped lines joined), gzip inside those. */
function readings(text: string): string[] {
    const runs = [
        ...text.split(/\n(?![A-Za-z0-9+/=]{4,}\n)/).map((block) => block.replace(/\n/g, "")), // wrapped blocks joined
        ...(text.match(/[A-Za-z0-9+/]{16,}={0,2}/g) ?? []),
    ].flatMap((candidate) => candidate.match(/[A-Za-z0-9+/]{16,}={0,2}/g) ?? []);
    const decoded = runs.map((run) => Buffer.from(run, "base64"));
    const gunzipped = decoded.flatMap((bytes) => {
        try {
            return bytes[0] === 0x1f && bytes[1] === 0x8b ? [gunzipSync(bytes).toString("utf8")] : [];
        } catch {
            return [];
        }
    });
    return [text, ...decoded.map((b) => b.toString("utf8")), ...gunzipped];
}

function leaks(dir: string, secrets: string[]): string[] {
    const files = fs
        .readdirSync(dir, { recursive: true, encoding: "utf8" })
        .map((f) => path.join(dir, f))
        .filter((f) => fs.statSync(f).isFile());
    return files.flatMap((file) => {
        const all = readings(fs.readFileSync(file, "utf8"));
        return secrets
            .filter((secret) => all.some((reading) => reading.includes(secret)))
            .map((secret) => `${path.relative(dir, file)} holds ${secret.slice(0, 6)}...`);
    });
}

describe("the offline plan's redaction", function () {
    this.timeout(120000);
    let prod: PlanResult;
    let out: string;
    let secrets: string[];

    before(async () => {
        const { config, secretKeys } = readStackConfig("prod");
        prod = await runPlan("prod", config, secretKeys, "redaction-test");
        out = fs.mkdtempSync(path.join(os.tmpdir(), "hk3s-redaction-"));
        // Every generated secret worth stealing: tokens, WireGuard and SSH private keys (PEM body lines too).
        secrets = [...prod.secrets.keys()]
            .flatMap((value) => (value.includes("PRIVATE KEY") ? value.split("\n").filter((l) => l.length >= 40) : [value]))
            .filter((s) => s.length >= 16);
        const labels = [...prod.secrets.values()];
        const peers = [...prod.spec.nodes.map((n) => n.name), ...prod.spec.operators.map((o) => o.name)];
        for (const label of [
            "soh-k3s-token.result",
            "soh-k3s-agent-token.result",
            "soh-ssh.privateKeyOpenssh",
            ...peers.map((p) => `soh-wg-${p}.base64`),
            ...prod.spec.nodes.filter((n) => n.provider !== "existing").map((n) => `soh-host-key-${n.name}.privateKeyOpenssh`),
        ]) {
            assert.ok(labels.includes(label), `the scan covers ${label}`);
        }
    });
    after(() => fs.rmSync(out, { recursive: true, force: true }));

    it("writes no secret in any encoding without --show-secrets", () => {
        const dir = writePlan(prod, path.join(out, "redacted"), false);
        assert.deepEqual(leaks(dir, secrets), []);
        // The labels say what was there, inside the decoded bundle too.
        const bootstrap = fs.readFileSync(path.join(dir, "bootstrap/white-amd.sh"), "utf8");
        assert.ok(readings(bootstrap).some((r) => /PrivateKey = <secret: soh-wg-white-amd\.base64>/.test(r)));
    });

    it("the scan finds them when they are there (--show-secrets writes the real keys)", () => {
        const dir = writePlan(prod, path.join(out, "shown"), true);
        const found = leaks(dir, secrets);
        const wireguardKey = [...prod.secrets].find(([, label]) => label === "soh-wg-white-amd.base64")![0];
        assert.ok(
            found.some((line) => line.startsWith("bootstrap/white-amd.sh") && line.includes(wireguardKey.slice(0, 6))),
            found.join("\n"),
        );
    });
});
