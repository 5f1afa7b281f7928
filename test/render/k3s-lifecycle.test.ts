// k3s node lifecycle commands (drain, delete, upgrade, uncordon) run against a stub k3s.
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { drainAndDeleteCommand, drainForUpgradeCommand, uncordonAfterUpgradeCommand } from "../../components/render/k3s";
import { removeScratchDirs, scratch, writeExecutable } from "./k3s-helpers";

describe("render/k3s", () => {
    after(removeScratchDirs);

    describe("k3s node lifecycle commands", () => {
        // A stub k3s: FAKE_NODES lists name=version of the nodes it knows, FAKE_API_DOWN fails every
        // call, annotations live in a file.
        let shims: string;
        let callLog: string;
        let annotations: string;
        before(() => {
            const dir = scratch("k3s-nodes-");
            shims = join(dir, "shims");
            callLog = join(dir, "calls.log");
            annotations = join(dir, "annotations");
            writeExecutable(
                join(shims, "k3s"),
                `#!/bin/sh
echo "k3s $*" >> "$CALL_LOG"
[ -z "\${FAKE_API_DOWN:-}" ] || exit 1
version=$(printf '%s\\n' $FAKE_NODES | sed -n "s/^$4=//p")
case "$2 $3" in
    "get node")
        case "$*" in
            *kubeletVersion*) printf '%s' "$version" ;;
            *drained-for*) grep -q "^$4$" "$ANNOTATIONS" 2>/dev/null && printf 'v' || true ;;
            *) [ -n "$version" ] && echo "node/$4" ;;
        esac ;;
    "annotate node") case "$*" in *drained-for-*) sed -i "/^$4$/d" "$ANNOTATIONS" ;; *) echo "$4" >> "$ANNOTATIONS" ;; esac ;;
esac
exit 0
`,
            );
        });

        function runOnServer(command: string, env: Record<string, string>): { status: number | null; calls: string[] } {
            writeFileSync(callLog, "");
            const result = spawnSync("sh", ["-c", command], {
                env: { PATH: `${shims}:/usr/bin:/bin`, CALL_LOG: callLog, ANNOTATIONS: annotations, FAKE_NODES: "", ...env },
                encoding: "utf8",
            });
            return { status: result.status, calls: readFileSync(callLog, "utf8").split("\n").filter(Boolean) };
        }
        beforeEach(() => writeFileSync(annotations, ""));

        it("drains a node for its upgrade with the safe flags, and marks it as ours", () => {
            const result = runOnServer(drainForUpgradeCommand("white-amd", "v1.36.2+k3s1"), { FAKE_NODES: "k3s-soh-re=v1.36.2+k3s1 white-amd=v1.36.1+k3s1" });
            assert.equal(result.status, 0);
            assert.equal(result.calls.at(-1), "k3s kubectl drain white-amd --ignore-daemonsets --delete-emptydir-data --timeout=300s");
            assert.equal(readFileSync(annotations, "utf8"), "white-amd\n");
        });

        it("does nothing for a node that already runs the target or is not in the cluster, but fails on an unreachable API", () => {
            for (const nodes of ["white-amd=v1.36.2+k3s1", "k3s-soh-re=v1.36.2+k3s1"]) {
                const done = runOnServer(drainForUpgradeCommand("white-amd", "v1.36.2+k3s1"), { FAKE_NODES: nodes });
                assert.equal(done.status, 0);
                assert.ok(!done.calls.some((call) => /drain|annotate/.test(call)), nodes);
            }
            const down = runOnServer(drainForUpgradeCommand("white-amd", "v1.36.2+k3s1"), { FAKE_API_DOWN: "1" });
            assert.notEqual(down.status, 0);
            assert.ok(!down.calls.some((call) => call.includes("drain")));
        });

        it("uncordons only a node it drained itself", () => {
            const notOurs = runOnServer(uncordonAfterUpgradeCommand("white-amd"), { FAKE_NODES: "white-amd=v1.36.2+k3s1" });
            assert.equal(notOurs.status, 0);
            assert.ok(!notOurs.calls.some((call) => call.includes("uncordon")), "an operator's own cordon stays");
            writeFileSync(annotations, "white-amd\n");
            const ours = runOnServer(uncordonAfterUpgradeCommand("white-amd"), { FAKE_NODES: "white-amd=v1.36.2+k3s1" });
            assert.ok(ours.calls.includes("k3s kubectl uncordon white-amd"));
            assert.equal(readFileSync(annotations, "utf8"), "", "the mark is gone");
        });

        it("drains and deletes a leaving node, and treats one already gone as done", () => {
            const present = runOnServer(drainAndDeleteCommand("white-amd"), { FAKE_NODES: "white-amd=v1.36.1+k3s1" });
            assert.equal(present.status, 0);
            assert.deepEqual(present.calls.slice(-2), [
                "k3s kubectl drain white-amd --ignore-daemonsets --delete-emptydir-data --timeout=300s",
                "k3s kubectl delete node white-amd --ignore-not-found",
            ]);
            const gone = runOnServer(drainAndDeleteCommand("white-amd"), {});
            assert.equal(gone.status, 0);
            assert.ok(!gone.calls.some((call) => /drain|delete/.test(call)));
        });

        it("refuses node names that are not RFC 1123 before they reach a shell", () => {
            for (const name of ["White-AMD", "a;reboot", "$(id)", "-rf", "", "a..b", `${"a".repeat(64)}`]) {
                for (const render of [(n: string) => drainForUpgradeCommand(n, "v1.36.1+k3s1"), uncordonAfterUpgradeCommand, drainAndDeleteCommand]) {
                    assert.throws(() => render(name), /RFC 1123/, JSON.stringify(name));
                }
            }
        });
    });
});
