// k3s renderers: config.yaml and units checked as text, by a YAML parser and by systemd-analyze;
// scripts by shellcheck and by running them against a scratch ROOT with stub commands on PATH.
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parse as parseYaml } from "yaml";
import { k3sConfigPath, k3sInstallScriptPath, k3sUninstallScriptPath, k3sVersionPath } from "../../components/paths";
import {
    agentJoinToken,
    drainAndDeleteCommand,
    drainForUpgradeCommand,
    K3sNodeFacts,
    k3sFlags,
    k3sSettings,
    kubeconfigForMesh,
    renderDatastoreConfig,
    renderK3sConfig,
    renderK3sInstallScript,
    renderK3sUnit,
    renderUninstallScript,
    serverCaLinePrefix,
    uncordonAfterUpgradeCommand,
} from "../../components/render/k3s";

describe("render/k3s", () => {
    const scratchDirs: string[] = [];
    function scratch(prefix: string): string {
        const dir = mkdtempSync(join(tmpdir(), prefix));
        scratchDirs.push(dir);
        return dir;
    }
    after(() => scratchDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

    const firstServer: K3sNodeFacts = {
        nodeName: "k3s-soh-re",
        role: "server",
        meshAddress: "10.0.0.4",
        meshInterface: "wg0",
        meshUnit: "wg-quick@wg0.service",
        arch: "amd64",
        version: "v1.36.1+k3s1",
        releaseBaseUrl: "https://mirror.example.net/k3s",
        clusterInit: true,
        clusterCidr: "10.42.0.0/16",
        serviceCidr: "10.43.0.0/16",
        tlsSans: ["k3s.soh.re"],
        flannelBackend: "wireguard-native",
        extraFlags: [],
    };
    const joiningServer: K3sNodeFacts = {
        ...firstServer,
        nodeName: "k3s-two",
        meshAddress: "10.0.0.5",
        clusterInit: false,
        serverUrl: "https://10.0.0.4:6443",
    };
    const agent: K3sNodeFacts = {
        ...firstServer,
        nodeName: "black-intel",
        role: "agent",
        meshAddress: "10.0.0.7",
        arch: "arm64",
        clusterInit: undefined,
        serverUrl: "https://10.0.0.4:6443",
    };
    const zerotierAgent: K3sNodeFacts = {
        ...agent,
        nodeName: "aws-edge",
        meshAddress: "10.45.0.20",
        meshInterface: "zt0",
        meshUnit: "zerotier-one.service",
        arch: "amd64",
    };
    const externalDatastoreServer: K3sNodeFacts = { ...firstServer, clusterInit: false, externalDatastore: true };

    function writeExecutable(path: string, content: string): void {
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(path, content);
        chmodSync(path, 0o755);
    }

    /** config.yaml as k3s reads it: a YAML map of flag names to values. */
    function configOf(node: K3sNodeFacts): Record<string, unknown> {
        return parseYaml(renderK3sConfig(node)) as Record<string, unknown>;
    }

    describe("k3s config.yaml", () => {
        it("binds every server listener and advertisement to the mesh address", () => {
            const config = configOf(firstServer);
            for (const key of ["node-ip", "node-external-ip", "advertise-address", "bind-address"]) assert.equal(config[key], "10.0.0.4", key);
            assert.equal(config["flannel-iface"], "wg0");
            assert.deepEqual(config["tls-san"], ["10.0.0.4", "k3s.soh.re"]);
            assert.deepEqual(config.disable, ["traefik", "servicelb"]);
            assert.equal(config["flannel-backend"], "wireguard-native");
            assert.equal(config["flannel-external-ip"], true);
            assert.equal(config["cluster-init"], true);
            assert.equal(config["write-kubeconfig-mode"], "0600");
            assert.equal(config["token-file"], "/etc/rancher/k3s/token");
            assert.equal(config["agent-token-file"], "/etc/rancher/k3s/agent-token", "servers accept agents by the agent token");
            assert.equal(config["cluster-cidr"], "10.42.0.0/16");
            assert.equal(config["service-cidr"], "10.43.0.0/16");
            assert.equal(config.server, undefined, "the first server joins nobody");
        });

        it("gives agents the server, the agent token file and the mesh address, and no server settings", () => {
            assert.deepEqual(configOf(agent), {
                "node-name": "black-intel",
                "node-ip": "10.0.0.7",
                "node-external-ip": "10.0.0.7",
                "bind-address": "10.0.0.7",
                "flannel-iface": "wg0",
                "token-file": "/etc/rancher/k3s/agent-token",
                server: "https://10.0.0.4:6443",
            });
        });

        it("makes a joining server join with server instead of cluster-init", () => {
            const config = configOf(joiningServer);
            assert.equal(config.server, "https://10.0.0.4:6443");
            assert.equal(config["cluster-init"], undefined);
            assert.equal(config["bind-address"], "10.0.0.5");
        });

        it("uses no address but the node's own mesh address, and never a wildcard", () => {
            for (const node of [firstServer, joiningServer, agent, zerotierAgent]) {
                const values = Object.values(configOf(node)).flat().map(String);
                const addresses = values.filter((value) => isIP(value) !== 0);
                assert.equal(addresses.length, node.role === "server" ? 5 : 3, node.nodeName);
                assert.ok(
                    addresses.every((address) => address === node.meshAddress),
                    `${node.nodeName}: ${addresses.join(" ")}`,
                );
                assert.ok(!renderK3sConfig(node).includes("0.0.0.0"), node.nodeName);
            }
        });

        it("adds labels, taints and harmless extra flags as config keys, repeated ones as lists", () => {
            const extraFlags = [
                "--disable=local-storage",
                "--kubelet-arg=max-pods=200",
                "--kubelet-arg=image-gc-high-threshold=80",
                "--protect-kernel-defaults",
            ];
            const config = configOf({ ...firstServer, nodeLabels: ["site=home"], nodeTaints: ["edge=true:NoSchedule"], extraFlags });
            assert.deepEqual(config["node-label"], ["site=home"]);
            assert.deepEqual(config["node-taint"], ["edge=true:NoSchedule"]);
            assert.deepEqual(config.disable, ["traefik", "servicelb", "local-storage"]);
            assert.deepEqual(config["kubelet-arg"], ["max-pods=200", "image-gc-high-threshold=80"]);
            assert.equal(config["protect-kernel-defaults"], true);
            assert.deepEqual(
                k3sFlags(firstServer).filter((f) => f.startsWith("--tls-san")),
                ["--tls-san=10.0.0.4", "--tls-san=k3s.soh.re"],
                "the policy reads the same settings as flags",
            );
        });

        it("keeps every value inside its key, whatever characters it holds", () => {
            const tricky = `a"b\\c\n--- !x #y`;
            const config = configOf({ ...agent, extraFlags: [`--node-name-suffix-note=${tricky.replace("\n", "")}`] });
            assert.equal(config["node-name-suffix-note"], tricky.replace("\n", ""));
            assert.throws(() => k3sSettings({ ...agent, extraFlags: [`--kubelet-arg=x=${"\n"}token: stolen`] }), /control character/);
        });

        const refusedExtraFlags: [string, RegExp][] = [
            ["--bind-address=0.0.0.0", /would override bind-address/],
            ["--advertise-address=203.0.113.9", /would override advertise-address/],
            ["--node-ip=203.0.113.9", /would override node-ip/],
            ["--node-external-ip=203.0.113.9", /would override/],
            ["--flannel-iface=eth0", /would override/],
            ["--token-file=/root/token", /would override token-file/],
            ["--agent-token-file=/root/token", /would override agent-token-file/],
            ["--config=/tmp/other.yaml", /would override config/],
            ["--token=K10abc::server:secret", /would override token/],
            ["--agent-token=abc", /would override agent-token/],
            ["--datastore-endpoint=postgres://k3s:pw@db:5432/k3s", /would override datastore-endpoint/],
            ["--etcd-s3-secret-key=abc", /would put a secret in the k3s config/],
            ["--etcd-s3-endpoint=https://user:pw@s3.example.com", /would put a secret in the k3s config/],
            ["--kube-apiserver-arg=bind-address=0.0.0.0", /rebinds kube-apiserver bind-address/],
            ["--kube-apiserver-arg=advertise-address=203.0.113.9", /rebinds kube-apiserver/],
            ["--kubelet-arg=address=0.0.0.0", /rebinds kubelet address/],
            ["--kube-proxy-arg=metrics-bind-address=0.0.0.0:10249", /rebinds kube-proxy/],
            ["--etcd-arg=listen-client-urls=https://0.0.0.0:2379", /rebinds etcd/],
            ["--kubelet-arg=healthz-bind-address=0.0.0.0", /rebinds kubelet/],
            ["--kube-proxy-arg=nodeport-addresses=0.0.0.0/0", /wildcard address/],
            ["--node-ip", /would override node-ip/],
            ["-t", /--name or --name=value/],
            ["--disable traefik", /--name or --name=value/],
        ];
        for (const [flag, reason] of refusedExtraFlags) {
            it(`refuses the extra flag ${flag}`, () => {
                assert.throws(() => k3sSettings({ ...firstServer, extraFlags: [flag] }), reason);
            });
        }

        it("refuses impossible topologies and addresses with a clear message", () => {
            assert.throws(() => k3sSettings({ ...agent, serverUrl: undefined }), /an agent needs serverUrl/);
            assert.throws(() => k3sSettings({ ...firstServer, serverUrl: "https://10.0.0.5:6443" }), /set only one/);
            assert.throws(() => k3sSettings({ ...firstServer, externalDatastore: true }), /external datastore/);
            assert.throws(() => k3sSettings({ ...firstServer, meshAddress: "0.0.0.0" }), /wildcard or loopback/);
            assert.throws(() => k3sSettings({ ...agent, serverUrl: "http://10.0.0.4:6443" }), /must look like https/);
            assert.throws(() => k3sSettings({ ...agent, serverUrl: "https://0.0.0.0:6443" }), /wildcard/);
            assert.throws(() => k3sSettings({ ...firstServer, nodeName: "Node_1" }), /RFC 1123/);
            assert.throws(() => k3sSettings({ ...firstServer, version: "1.36.1" }), /release tag/);
            assert.throws(() => k3sSettings({ ...firstServer, releaseBaseUrl: "https://x/'; reboot; '" }), /releaseBaseUrl/);
            assert.throws(() => k3sSettings({ ...firstServer, clusterCidr: "10.42.0.0" }), /not a CIDR/);
            assert.throws(() => k3sSettings({ ...firstServer, tlsSans: ["bad name"] }), /neither an IP address nor a DNS name/);
        });

        it("reads an external datastore endpoint from its own 0600 drop-in, never from config.yaml", () => {
            assert.ok(!renderK3sConfig(externalDatastoreServer).includes("datastore"));
            const endpoint = `postgres://k3s:p"a'ss$%\\word@db.internal:5432/k3s`;
            const config = renderDatastoreConfig(endpoint);
            assert.equal((parseYaml(config) as Record<string, string>)["datastore-endpoint"], endpoint, "quoted losslessly (JSON strings are YAML)");
        });

        it("pins the server's CA in an agent's join token", () => {
            const hash = createHash("sha256").update("ca").digest("hex");
            assert.equal(agentJoinToken(hash, "abc123"), `K10${hash}::node:abc123`);
            assert.throws(() => agentJoinToken("not-a-hash", "abc123"), /SHA256/);
        });
    });

    describe("k3s systemd unit", () => {
        // systemd-analyze verify checks that ExecStart's binary exists, and /usr/local/bin/k3s exists
        // on no test machine. A private mount namespace (in a user namespace, so no root needed) puts a
        // stub k3s on a tmpfs over /usr/local/bin that nobody else sees; everything else (modprobe, nft,
        // network-online.target, wg-quick@.service) is the real system's. ZeroTier is not packaged in
        // Debian, so a stub zerotier-one.service comes from SYSTEMD_UNIT_PATH (trailing ':' keeps the
        // default search path). systemd only warns about bad lines and still exits 0, so any output fails.
        function systemdVerify(unitPath: string, content: string): string {
            const dir = scratch("k3s-unit-");
            const unitFile = join(dir, unitPath.split("/").pop()!);
            writeFileSync(unitFile, content);
            const stubUnits = join(dir, "stub-units");
            mkdirSync(stubUnits);
            writeFileSync(join(stubUnits, "zerotier-one.service"), "[Unit]\nDescription=stub ZeroTier\n\n[Service]\nExecStart=/bin/true\n");
            const inNamespace =
                'mount -t tmpfs hybrid-k3s-stub /usr/local/bin && printf "#!/bin/sh\\n" > /usr/local/bin/k3s && chmod 0755 /usr/local/bin/k3s && exec systemd-analyze verify "$1"';
            const run = spawnSync("unshare", ["--user", "--map-root-user", "--mount", "sh", "-c", inNamespace, "verify", unitFile], {
                env: { ...process.env, SYSTEMD_UNIT_PATH: `${stubUnits}:` },
                encoding: "utf8",
            });
            return `${run.error ?? ""}${run.stdout}${run.stderr}`.trim() + (run.status === 0 ? "" : `\n(exit status ${run.status})`);
        }

        const units: [string, K3sNodeFacts, string][] = [
            ["first server", firstServer, "/etc/systemd/system/k3s.service"],
            ["joining HA server", joiningServer, "/etc/systemd/system/k3s.service"],
            ["agent", agent, "/etc/systemd/system/k3s-agent.service"],
            ["agent on ZeroTier", zerotierAgent, "/etc/systemd/system/k3s-agent.service"],
        ];
        for (const [title, node, path] of units) {
            it(`renders a ${title} unit that systemd-analyze verify accepts without a word`, () => {
                const unit = renderK3sUnit(node);
                assert.equal(unit.path, path);
                assert.equal(systemdVerify(unit.path, unit.content), "");
            });
        }

        it("fails verification on a broken line (the check above can fail)", () => {
            const unit = renderK3sUnit(firstServer);
            const broken = unit.content.replace("KillMode=process", "KillMode process");
            assert.match(systemdVerify(unit.path, broken), /Missing '='/);
        });

        it("starts after our firewall and the mesh, requires the mesh, loads our ruleset first, and keeps ExecStart short", () => {
            const { content } = renderK3sUnit(zerotierAgent);
            const unitSection = content.slice(content.indexOf("\n[Unit]\n"), content.indexOf("\n[Install]\n"));
            assert.match(unitSection, /^After=network-online\.target hybrid-k3s-firewall\.service zerotier-one\.service$/m);
            assert.match(unitSection, /^Requires=zerotier-one\.service$/m);
            assert.match(content, /^Type=notify$/m);
            assert.ok(content.indexOf("ExecStartPre=/usr/sbin/nft -f /etc/hybrid-k3s/firewall.nft") < content.indexOf("ExecStart="));
            assert.match(content, /^ExecStart=\/usr\/local\/bin\/k3s agent$/m, "settings live in config.yaml");
        });

        it("keeps tokens out of the unit and the environment", () => {
            for (const node of [firstServer, joiningServer, agent]) {
                const { content } = renderK3sUnit(node);
                assert.doesNotMatch(content, /--token|token-file|\/etc\/rancher\/k3s\/(agent-)?token|K3S_TOKEN|^Environment=/m);
            }
        });
    });

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

    describe("kubeconfigForMesh", () => {
        // What k3s writes with bind-address set: the server at that address (writeKubeConfig).
        const k3sYaml = `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTi0=
    server: https://10.0.0.4:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
    client-certificate-data: Y2VydA==
    client-key-data: a2V5
`;

        it("keeps the bind address k3s wrote, and names everything after the cluster", () => {
            const config = kubeconfigForMesh(k3sYaml, "10.0.0.4", "hybrid");
            assert.match(config, /^ {4}server: https:\/\/10\.0\.0\.4:6443$/m);
            assert.doesNotMatch(config, /\bdefault\b/);
            assert.equal(config.match(/\bhybrid\b/g)?.length, 6);
            assert.match(config, /^current-context: hybrid$/m);
            assert.match(config, /client-key-data: a2V5/);
            assert.equal(config.split("\n").length, k3sYaml.split("\n").length);
        });

        it("rewrites a loopback server to the mesh address", () => {
            const loopback = k3sYaml.replace("https://10.0.0.4:6443", "https://127.0.0.1:6443");
            assert.match(kubeconfigForMesh(loopback, "10.0.0.4", "hybrid"), /^ {4}server: https:\/\/10\.0\.0\.4:6443$/m);
        });

        it("refuses a kubeconfig from another server, or input that is not k3s's", () => {
            assert.throws(() => kubeconfigForMesh(k3sYaml, "10.0.0.5", "hybrid"), /no `server: https:\/\/10\.0\.0\.5:6443` line/);
            assert.throws(
                () => kubeconfigForMesh(kubeconfigForMesh(k3sYaml, "10.0.0.4", "hybrid"), "10.0.0.4", "hybrid"),
                /names no cluster, context or user "default"/,
            );
            assert.throws(() => kubeconfigForMesh(k3sYaml, "0.0.0.0", "hybrid"), /wildcard/);
            assert.throws(() => kubeconfigForMesh(k3sYaml, "10.0.0.4", "Hybrid Cluster"), /RFC 1123/);
        });
    });
});
