// k3s install and uninstall scripts: shellcheck, and runs against a scratch ROOT with stub commands on PATH.
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { k3sConfigPath, k3sInstallScriptPath, k3sUninstallScriptPath, k3sVersionPath } from "../../components/paths";
import { K3sNodeFacts, renderK3sConfig, renderK3sInstallScript, renderK3sUnit, renderUninstallScript, serverCaLinePrefix } from "../../components/render/k3s";
import { agent, externalDatastoreServer, firstServer, removeScratchDirs, scratch, writeExecutable } from "./k3s-helpers";

describe("render/k3s", () => {
    after(removeScratchDirs);

    describe("k3s install and uninstall scripts", () => {
        function shellcheck(script: string): string {
            const run = spawnSync("shellcheck", ["-s", "sh", "-"], { input: script, encoding: "utf8" });
            return `${run.error ?? ""}${run.stdout}${run.stderr}`.trim();
        }

        for (const node of [firstServer, agent, externalDatastoreServer]) {
            it(`passes shellcheck -s sh for ${node.nodeName} (${node.role}${node.externalDatastore ? ", external datastore" : ""})`, () => {
                assert.equal(shellcheck(renderK3sInstallScript(node)), "");
                assert.equal(shellcheck(renderUninstallScript(node)), "");
            });
        }

        // A scratch ROOT and stub commands: curl serves a fake release directory, uname reports
        // FAKE_MACHINE, systemctl/ip/iptables/umount only log (so nothing touches this machine), and the
        // "k3s binary" in the fake release is a script reporting its version and the API's readiness.
        // sha256sum, mktemp, awk and the rest are the real ones.
        const releaseBase = "https://mirror.example.net/k3s/";
        let work: string;
        let root: string;
        let releases: string;
        let callLog: string;
        let stubbedPath: string;

        beforeEach(() => {
            work = scratch("k3s-install-");
            root = join(work, "root");
            releases = join(work, "releases");
            callLog = join(work, "calls.log");
            writeFileSync(callLog, "");
            const shims = join(work, "shims");
            writeExecutable(
                join(shims, "curl"),
                `#!/bin/sh
out= url=
while [ $# -gt 0 ]; do
    case "$1" in
        -o | --retry) [ "$1" = -o ] && out=$2; shift 2 ;;
        -*) shift ;;
        *) url=$1; shift ;;
    esac
done
echo "curl $url" >> "$CALL_LOG"
src="$FAKE_RELEASES/\${url#${releaseBase}}"
[ -f "$src" ] || exit 22
cp "$src" "$out"
`,
            );
            writeExecutable(join(shims, "uname"), '#!/bin/sh\necho "$FAKE_MACHINE"\n');
            for (const logged of ["systemctl", "ip", "umount", "iptables-save", "iptables-restore", "ip6tables-save", "ip6tables-restore"]) {
                writeExecutable(join(shims, logged), '#!/bin/sh\necho "${0##*/} $*" >> "$CALL_LOG"\n');
            }
            stubbedPath = `${shims}:/usr/bin:/bin`;
        });

        function fakeK3s(version: string): string {
            return `#!/bin/sh
case "$1" in
    --version) echo "k3s version ${version} (0123abcd)"; echo "go version go1.25.9" ;;
    kubectl) echo "k3s $*" >> "$CALL_LOG"; [ "\${FAKE_API_READY:-yes}" = yes ] ;;
    *) exit 2 ;;
esac
`;
        }

        function publishRelease(version: string, arch: K3sNodeFacts["arch"], checksum: "right" | "wrong" = "right"): string {
            const dir = join(releases, encodeURIComponent(version));
            mkdirSync(dir, { recursive: true });
            const asset = arch === "arm64" ? "k3s-arm64" : "k3s";
            const binary = fakeK3s(version);
            writeFileSync(join(dir, asset), binary);
            const sha = createHash("sha256")
                .update(checksum === "right" ? binary : "something else")
                .digest("hex");
            const decoy = createHash("sha256").update("images").digest("hex");
            writeFileSync(join(dir, `sha256sum-${arch}.txt`), `${decoy}  k3s-airgap-images-${arch}.tar\n${sha}  ${asset}\n`);
            return binary;
        }

        /** Ships what the bundle would (unit, config.yaml, tokens, version file, scripts) into the scratch root. */
        function shipFiles(node: K3sNodeFacts, version = node.version): void {
            const put = (path: string, content: string, mode = 0o644) => {
                mkdirSync(dirname(join(root, path)), { recursive: true });
                writeFileSync(join(root, path), content, { mode });
            };
            const unit = renderK3sUnit(node);
            put(unit.path, unit.content);
            put(k3sConfigPath, renderK3sConfig(node), 0o600);
            put(k3sVersionPath, `${version}\n`);
            if (node.role === "server") put("/etc/rancher/k3s/token", "server-token\n");
            put("/etc/rancher/k3s/agent-token", "K10abc::node:agent-token\n");
            put(k3sInstallScriptPath, renderK3sInstallScript({ ...node, version }), 0o700);
            put(k3sUninstallScriptPath, renderUninstallScript(node), 0o700);
        }

        function run(
            script: string,
            args: string[] = [],
            env: Record<string, string> = {},
        ): { status: number | null; stdout: string; stderr: string; calls: string[] } {
            writeFileSync(callLog, "");
            const scriptFile = join(work, "script.sh");
            writeFileSync(scriptFile, script);
            const result = spawnSync("sh", [scriptFile, ...args], {
                env: { PATH: stubbedPath, ROOT: root, CALL_LOG: callLog, FAKE_RELEASES: releases, FAKE_MACHINE: "x86_64", ...env },
                encoding: "utf8",
            });
            return { status: result.status, stdout: result.stdout, stderr: result.stderr, calls: readFileSync(callLog, "utf8").split("\n").filter(Boolean) };
        }
        const install = (_node: K3sNodeFacts, mode = "install", env: Record<string, string> = {}) =>
            run(readFileSync(join(root, k3sInstallScriptPath), "utf8"), [mode], env);

        function filesUnder(dir: string): string[] {
            return readdirSync(dir, { recursive: true, encoding: "utf8" })
                .filter((entry) => !statSync(join(dir, entry)).isDirectory())
                .sort();
        }

        const binaryPath = () => join(root, "usr/local/bin/k3s");

        it("refuses to run without a k3s release tag in the version file, before any download", () => {
            shipFiles(firstServer);
            for (const version of ["", "latest", "1.36.1"]) {
                writeFileSync(join(root, k3sVersionPath), version);
                const refused = install(firstServer);
                assert.notEqual(refused.status, 0);
                assert.match(refused.stderr, /not a k3s release tag/);
                assert.deepEqual(
                    refused.calls.filter((c) => c.startsWith("curl")),
                    [],
                );
            }
        });

        it("installs the version file's release from the configured mirror, then downloads and restarts nothing", () => {
            const binary = publishRelease("v1.36.1+k3s1", "amd64");
            shipFiles(firstServer);
            const first = install(firstServer);
            assert.equal(first.status, 0, first.stderr);
            assert.deepEqual(first.calls, [
                `curl ${releaseBase}v1.36.1%2Bk3s1/sha256sum-amd64.txt`,
                `curl ${releaseBase}v1.36.1%2Bk3s1/k3s`,
                "systemctl daemon-reload",
                "systemctl enable k3s.service",
                "systemctl restart --no-block k3s.service",
                "systemctl is-active --quiet k3s.service",
                `k3s kubectl --kubeconfig ${root}/etc/rancher/k3s/k3s.yaml get --raw /readyz`,
            ]);
            assert.equal(readFileSync(binaryPath(), "utf8"), binary);
            assert.equal(statSync(binaryPath()).mode & 0o777, 0o755);
            assert.equal(statSync(join(root, "etc/rancher/k3s/token")).mode & 0o777, 0o600);
            assert.deepEqual(readdirSync(join(root, "usr/local/bin")).sort(), ["k3s"], "no download leftovers, no second uninstall script");

            const second = install(firstServer);
            assert.equal(second.status, 0, second.stderr);
            assert.ok(!second.calls.some((call) => call.startsWith("curl")), second.calls.join("\n"));
            assert.ok(second.calls.includes("systemctl start --no-block k3s.service"));
            assert.ok(!second.calls.some((call) => call.includes("restart")));
        });

        it("prints the server CA hash the agents pin, after the API answers", () => {
            publishRelease("v1.36.1+k3s1", "amd64");
            shipFiles(firstServer);
            const ca = join(root, "var/lib/rancher/k3s/server/tls/server-ca.crt");
            mkdirSync(dirname(ca), { recursive: true });
            writeFileSync(ca, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
            const result = install(firstServer);
            assert.equal(result.status, 0, result.stderr);
            assert.ok(result.stdout.includes(`${serverCaLinePrefix}${createHash("sha256").update(readFileSync(ca)).digest("hex")}\n`), result.stdout);
        });

        it("restarts without downloading when only config.yaml changed", () => {
            publishRelease("v1.36.1+k3s1", "amd64");
            shipFiles(firstServer);
            assert.equal(install(firstServer).status, 0);
            shipFiles({ ...firstServer, extraFlags: ["--disable=local-storage"] });
            const rerun = install(firstServer);
            assert.equal(rerun.status, 0, rerun.stderr);
            assert.ok(!rerun.calls.some((call) => call.startsWith("curl")));
            assert.ok(rerun.calls.includes("systemctl restart --no-block k3s.service"));
        });

        it("on a version bump, install keeps the running release and only upgrade moves it", () => {
            const installed = publishRelease("v1.36.1+k3s1", "amd64");
            const newer = publishRelease("v1.36.2+k3s1", "amd64");
            shipFiles(firstServer);
            assert.equal(install(firstServer).status, 0);
            shipFiles(firstServer, "v1.36.2+k3s1");
            const kept = install(firstServer);
            assert.equal(kept.status, 0, kept.stderr);
            assert.match(kept.stdout, /k3s v1\.36\.1\+k3s1 runs here; the rolling upgrade step moves it to v1\.36\.2\+k3s1/);
            assert.ok(!kept.calls.some((call) => call.startsWith("curl")));
            assert.equal(readFileSync(binaryPath(), "utf8"), installed);
            const upgraded = install(firstServer, "upgrade");
            assert.equal(upgraded.status, 0, upgraded.stderr);
            assert.ok(upgraded.calls.includes(`curl ${releaseBase}v1.36.2%2Bk3s1/k3s`));
            assert.ok(upgraded.calls.includes("systemctl restart --no-block k3s.service"));
            assert.equal(readFileSync(binaryPath(), "utf8"), newer);
        });

        it("a replaced machine (no binary) installs the current release, not the one it first had", () => {
            const current = publishRelease("v1.36.2+k3s1", "amd64");
            shipFiles(firstServer, "v1.36.2+k3s1");
            const fresh = install(firstServer);
            assert.equal(fresh.status, 0, fresh.stderr);
            assert.equal(readFileSync(binaryPath(), "utf8"), current);
        });

        it("refuses to downgrade a running node", () => {
            publishRelease("v1.36.2+k3s1", "amd64");
            publishRelease("v1.36.1+k3s1", "amd64");
            shipFiles(firstServer, "v1.36.2+k3s1");
            assert.equal(install(firstServer).status, 0);
            shipFiles(firstServer, "v1.36.1+k3s1");
            const down = install(firstServer, "upgrade");
            assert.notEqual(down.status, 0);
            assert.match(down.stderr, /k3s v1\.36\.2\+k3s1 runs here and k3s does not support downgrades to v1\.36\.1\+k3s1/);
            assert.ok(!down.calls.some((call) => call.startsWith("curl")));
        });

        it("aborts on a checksum mismatch and leaves the installed binary alone", () => {
            const installed = publishRelease("v1.36.1+k3s1", "amd64");
            publishRelease("v1.36.2+k3s1", "amd64", "wrong");
            shipFiles(firstServer);
            assert.equal(install(firstServer).status, 0);
            shipFiles(firstServer, "v1.36.2+k3s1");
            const bad = install(firstServer, "upgrade");
            assert.notEqual(bad.status, 0);
            assert.match(bad.stderr, /checksum mismatch for k3s v1\.36\.2\+k3s1/);
            assert.equal(readFileSync(binaryPath(), "utf8"), installed);
            assert.ok(!bad.calls.some((call) => call.startsWith("systemctl")), "nothing restarted");
            assert.deepEqual(readdirSync(join(root, "usr/local/bin")).sort(), ["k3s"], "no download leftovers");
        });

        it("fails clearly, before downloading, on a host of the wrong architecture", () => {
            publishRelease("v1.36.1+k3s1", "amd64");
            shipFiles(firstServer);
            const wrong = install(firstServer, "install", { FAKE_MACHINE: "aarch64" });
            assert.notEqual(wrong.status, 0);
            assert.match(wrong.stderr, /this host is aarch64 but the stack config declares it amd64/);
            assert.deepEqual(wrong.calls, []);
            assert.ok(!existsSync(binaryPath()));
        });

        it("installs an arm64 agent from k3s-arm64 and waits only for the unit", () => {
            const binary = publishRelease("v1.36.1+k3s1", "arm64");
            shipFiles(agent);
            const result = install(agent, "install", { FAKE_MACHINE: "aarch64" });
            assert.equal(result.status, 0, result.stderr);
            assert.deepEqual(result.calls, [
                `curl ${releaseBase}v1.36.1%2Bk3s1/sha256sum-arm64.txt`,
                `curl ${releaseBase}v1.36.1%2Bk3s1/k3s-arm64`,
                "systemctl daemon-reload",
                "systemctl enable k3s-agent.service",
                "systemctl restart --no-block k3s-agent.service",
                "systemctl is-active --quiet k3s-agent.service",
            ]);
            assert.equal(readFileSync(binaryPath(), "utf8"), binary);
        });

        it("fails when the API never becomes ready, and restarts again on the next run", () => {
            publishRelease("v1.36.1+k3s1", "amd64");
            shipFiles(firstServer);
            const stuck = install(firstServer, "install", { FAKE_API_READY: "no", READY_TIMEOUT_SECONDS: "2" });
            assert.notEqual(stuck.status, 0);
            assert.match(stuck.stderr, /timed out after 2s waiting for the API server to answer \/readyz/);
            const retry = install(firstServer);
            assert.equal(retry.status, 0, retry.stderr);
            assert.ok(retry.calls.includes("systemctl restart --no-block k3s.service"), "the failed start was not recorded as applied");
        });

        it("uninstalls everything the install made but the node's data, and can run twice; purge deletes the data too", () => {
            publishRelease("v1.36.1+k3s1", "amd64");
            shipFiles(firstServer);
            assert.equal(run(renderK3sInstallScript(firstServer)).status, 0);
            // What a running k3s would have left behind.
            for (const leftover of [
                "var/lib/rancher/k3s/server/db/state.db",
                "var/lib/rancher/k3s/data/current/bin/containerd",
                "etc/rancher/k3s/k3s.yaml",
                "etc/rancher/node/password",
                "var/lib/kubelet/pods/x/volume",
                "var/lib/cni/networks/cbr0/10.42.0.5",
                "run/flannel/subnet.env",
            ]) {
                mkdirSync(dirname(join(root, leftover)), { recursive: true });
                writeFileSync(join(root, leftover), "x");
            }

            const installedCopy = readFileSync(join(root, "usr/local/lib/hybrid-k3s/uninstall-k3s.sh"), "utf8");
            assert.equal(installedCopy, renderUninstallScript(firstServer), "shipped once, as the plan shows it");
            const first = run(installedCopy);
            assert.equal(first.status, 0, first.stderr);
            assert.deepEqual(
                filesUnder(root),
                ["var/lib/rancher/k3s/data/current/bin/containerd", "var/lib/rancher/k3s/server/db/state.db"],
                "only the data directory remains (volumes, images, datastore)",
            );
            assert.match(first.stdout, /kept \S*\/var\/lib\/rancher\/k3s \(volumes, images\); set purge: true on the node to delete it/);
            assert.equal(first.calls[0], "systemctl disable --now k3s.service");
            assert.ok(first.calls.includes("ip link delete flannel-wg"));
            assert.equal(first.calls.at(-1), "systemctl daemon-reload");

            const second = run(installedCopy);
            assert.equal(second.status, 0, second.stderr);
            assert.ok(!second.calls.some((call) => call.startsWith("systemctl disable")), "nothing left to stop");

            const purged = run(renderUninstallScript({ ...firstServer, purge: true }));
            assert.equal(purged.status, 0, purged.stderr);
            assert.deepEqual(filesUnder(root), [], "purge: only empty directories remain");
        });
    });
});
