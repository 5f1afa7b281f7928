// /k3s text → Command: what is accepted, exactly.
import { strict as assert } from "node:assert";
import { K3S_VERSION, parseCommand } from "../../bot/command";

describe("bot/command: parsing /k3s text", () => {
    it("parses every verb", () => {
        assert.deepEqual(parseCommand(""), { verb: "help" });
        assert.deepEqual(parseCommand("  stacks "), { verb: "stacks" });
        assert.deepEqual(parseCommand("status prod"), { verb: "status", stack: "prod" });
        assert.deepEqual(parseCommand("preview acme/hybrid-k3s/prod"), { verb: "preview", stack: "acme/hybrid-k3s/prod" });
        assert.deepEqual(parseCommand("up  prod"), { verb: "up", stack: "prod" });
        assert.deepEqual(parseCommand("upgrade prod v1.32.0-rc1+k3s2"), { verb: "upgrade", stack: "prod", version: "v1.32.0-rc1+k3s2" });
        assert.deepEqual(parseCommand("outputs dev"), { verb: "outputs", stack: "dev" });
        assert.deepEqual(parseCommand("cancel dev"), { verb: "cancel", stack: "dev" });
    });

    it("takes k3s release tags only", () => {
        for (const ok of ["v1.36.1+k3s1", "v1.32.0-rc1+k3s1", "v10.0.12+k3s12"]) {
            assert.ok(K3S_VERSION.test(ok), ok);
        }
        for (const bad of ["1.31.1+k3s1", "v1.31+k3s1", "v1.31.1", "v1.31.1+k3s", "v1.31.1-beta1+k3s1", "v1.36.1+k3s1\n", "v1.36.1+k3s1 --yes", "latest"]) {
            assert.ok(!K3S_VERSION.test(bad), bad);
        }
    });

    it("refuses missing and extra arguments, naming the usage", () => {
        assert.throws(() => parseCommand("up"), { name: "UsageError", message: "`up` needs a stack: `/k3s up <stack>`." });
        assert.throws(() => parseCommand("stacks prod"), { name: "UsageError", message: "`stacks` takes no arguments: `/k3s stacks`." });
        assert.throws(() => parseCommand("upgrade prod v1.36.1+k3s1 now"), {
            name: "UsageError",
            message: "`upgrade` takes 2 arguments: `/k3s upgrade <stack> <k3s version, e.g. v1.31.2+k3s1>`.",
        });
        assert.throws(() => parseCommand("upgrade prod"), {
            name: "UsageError",
            message: "version: nothing is not a k3s release tag; write it like v1.31.2+k3s1 (`/k3s upgrade <stack> <k3s version, e.g. v1.31.2+k3s1>`).",
        });
        assert.throws(() => parseCommand("constructor prod"), { name: "UsageError", message: '"constructor" is not a /k3s command. Try `/k3s help`.' });
    });
});
