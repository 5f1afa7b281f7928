// The cloud-init wait command against a fake cloud-init: success on done or recoverable errors, failure with the long status.
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { cloudInitWaitCommand } from "../../components/host";

describe("cloud-init wait command", () => {
    let fakeBin: string;

    before(() => {
        // A stand-in cloud-init: `status --wait` exits with $FAKE_STATUS, `status --long` explains.
        fakeBin = fs.mkdtempSync(path.join(os.tmpdir(), "fake-cloud-init-"));
        fs.writeFileSync(
            path.join(fakeBin, "cloud-init"),
            '#!/bin/sh\nif [ "$2" = "--long" ]; then echo "status: error (details)"; exit "$FAKE_STATUS"; fi\nexit "$FAKE_STATUS"\n',
            { mode: 0o755 },
        );
    });
    after(() => fs.rmSync(fakeBin, { recursive: true, force: true }));

    const run = (status: number) =>
        spawnSync("sh", ["-c", cloudInitWaitCommand], {
            env: { PATH: `${fakeBin}:${process.env.PATH}`, FAKE_STATUS: String(status) },
            encoding: "utf8",
        });

    it("succeeds when cloud-init is done, or done with recoverable errors (exit 2)", () => {
        assert.equal(run(0).status, 0);
        assert.equal(run(2).status, 0);
    });

    it("fails when cloud-init failed (exit 1), with its long status on stderr", () => {
        const result = run(1);
        assert.equal(result.status, 1);
        assert.match(result.stderr, /status: error \(details\)/);
    });
});
