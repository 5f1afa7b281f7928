import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { wireguardPublicKey } from "../../components/render/wireguard";
import { PlanMocks } from "../../plan/mocks";

/** Resolves an Output the mocks produced (they return secrets as Outputs). */
const valueOf = (value: unknown) => new Promise<string>((resolve) => (value as pulumi.Output<string>).apply(resolve));

describe("offline plan mocks produce realistic values", () => {
    it("an SSH key OpenSSH itself accepts: ssh-keygen derives the same public key", async () => {
        if (spawnSync("sh", ["-c", "command -v ssh-keygen"]).status !== 0) assert.fail("ssh-keygen is missing: apt-get install -y openssh-client");
        const { state } = new PlanMocks().newResource({ type: "tls:index/privateKey:PrivateKey", name: "ssh", inputs: { algorithm: "ED25519" }, custom: true });
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hk3s-key-"));
        try {
            const keyFile = path.join(dir, "id_ed25519");
            fs.writeFileSync(keyFile, await valueOf(state.privateKeyOpenssh), { mode: 0o600 });
            const derived = spawnSync("ssh-keygen", ["-y", "-f", keyFile], { encoding: "utf8" });
            assert.equal(derived.status, 0, derived.stderr);
            assert.equal(derived.stdout.trim().split(" ").slice(0, 2).join(" "), String(state.publicKeyOpenssh).trim());
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("the same seed gives the same keys, and different resources get different ones", async () => {
        const key = async (mocks: PlanMocks, name: string) =>
            valueOf(mocks.newResource({ type: "random:index/randomBytes:RandomBytes", name, inputs: { length: 32 }, custom: true }).state.base64);
        const a = await key(new PlanMocks("s"), "wg-a");
        assert.equal(await key(new PlanMocks("s"), "wg-a"), a);
        assert.notEqual(await key(new PlanMocks("s"), "wg-b"), a);
        assert.notEqual(await key(new PlanMocks(), "wg-a"), await key(new PlanMocks(), "wg-a"));
        assert.equal(Buffer.from(a, "base64").length, 32);
        assert.match(wireguardPublicKey(a), /^[A-Za-z0-9+/]{43}=$/);
    });
});
