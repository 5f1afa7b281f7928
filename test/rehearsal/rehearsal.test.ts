// The rehearsal end to end (booted machines, stand-in k3s): the CLI as a user runs it, as root.
// It boots a machine per host, so it runs only when asked: HK3S_REHEARSAL=1 (.ci/run sets it).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { requireRoot } from "../net/netns";

const cli = join(__dirname, "..", "..", "rehearse", "cli.ts");

/** Runs the rehearsal CLI, echoing its output (the step log is the useful part when it fails). */
function rehearse(args: string[]): Promise<{ code: number | null; lastLine: string }> {
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, ["--import", "tsx", cli, ...args], { stdio: ["ignore", "pipe", "inherit"] });
        let output = "";
        child.stdout.on("data", (chunk: Buffer) => {
            output += chunk.toString();
            process.stdout.write(chunk);
        });
        child.on("error", reject);
        child.on("close", (code) => resolve({ code, lastLine: output.trimEnd().split("\n").pop() ?? "" }));
    });
}

const allPassed = (scenarios: string) => new RegExp(`^rehearsal: (\\d+)/\\1 checks passed \\(${scenarios}\\)$`);

describe("rehearsal (booted machines, stand-in k3s)", function () {
    this.timeout(20 * 60 * 1000);

    before(function () {
        if (process.env.HK3S_REHEARSAL !== "1") {
            console.log("    (set HK3S_REHEARSAL=1 to boot the machines; CI does)");
            this.skip();
        }
        requireRoot("the rehearsal");
    });

    it("prod: every scenario passes", async () => {
        const { code, lastLine } = await rehearse(["--stack", "prod", "--scenario", "all"]);
        assert.match(lastLine, allPassed("first-up, idle, hub-restart, reboot, upgrade, add-node, remove-node, existing-life"));
        assert.equal(code, 0);
    });

    it("ten (cloud hub, ten machines, four behind NAT): every scenario but existing-life (it has no shared VPS edge)", async () => {
        const { code, lastLine } = await rehearse(["--stack", "ten", "--scenario", "idle,hub-restart,reboot,upgrade,add-node,remove-node"]);
        assert.match(lastLine, allPassed("first-up, idle, hub-restart, reboot, upgrade, add-node, remove-node"));
        assert.equal(code, 0);
    });
});
