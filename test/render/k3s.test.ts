// k3s renderers: flags and units checked as text and by systemd-analyze, scripts by shellcheck and
// by running them against a scratch ROOT with stub commands on PATH.
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import {
    deleteNodeCommand, drainCommand, K3sNodeFacts, k3sFlags, kubeconfigForMesh, renderDatastoreConfig,
    renderK3sInstallScript, renderK3sUnit, renderUninstallScript, uncordonCommand,
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
        version: "v1.31.1+k3s1",
        clusterInit: true,
        clusterCidr: "10.42.0.0/16",
        serviceCidr: "10.43.0.0/16",
        tlsSans: ["k3s.soh.re"],
        flannelBackend: "wireguard-native",
        extraFlags: [],
    };
    const joiningServer: K3sNodeFacts = { ...firstServer, nodeName: "k3s-two", meshAddress: "10.0.0.5", clusterInit: false, serverUrl: "https://10.0.0.4:6443" };
    const agent: K3sNodeFacts = {
        ...firstServer,
        nodeName: "black-intel",
        role: "agent",
        meshAddress: "10.0.0.7",
        arch: "arm64",
        clusterInit: undefined,
        serverUrl: "https://10.0.0.4:6443",
    };
    const zerotierAgent: K3sNodeFacts = { ...agent, nodeName: "aws-edge", meshAddress: "10.45.0.20", meshInterface: "ztyou2j6dw", meshUnit: "zerotier-one.service", arch: "amd64" };


    function writeExecutable(path: string, content: string): void {
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(path, content);
        chmodSync(path, 0o755);
    }

    function execStartFlags(unit: string): string[] {
        const execStart = /^ExecStart=([\s\S]*?[^\\])\n/m.exec(unit);
        assert.ok(execStart, "unit has an ExecStart");
        return [...execStart[1].matchAll(/'([^']*)'/g)].map((m) => m[1]);
    }

    describe("k3s flags", () => {
        function flagValues(flags: string[], name: string): string[] {
            return flags.filter((flag) => flag.startsWith(`${name}=`)).map((flag) => flag.slice(name.length + 1));
        }

        it("binds every server listener and advertisement to the mesh address", () => {
            const flags = k3sFlags(firstServer);
            for (const name of ["--node-ip", "--node-external-ip", "--advertise-address", "--bind-address"]) {
                assert.deepEqual(flagValues(flags, name), ["10.0.0.4"], name);
            }
            assert.deepEqual(flagValues(flags, "--flannel-iface"), ["wg0"]);
            assert.deepEqual(flagValues(flags, "--tls-san"), ["10.0.0.4", "k3s.soh.re"]);
            assert.deepEqual(flagValues(flags, "--disable"), ["traefik", "servicelb"]);
            for (const flag of ["--flannel-backend=wireguard-native", "--flannel-external-ip", "--cluster-init", "--write-kubeconfig-mode=0600", "--token-file=/etc/rancher/k3s/token", "--cluster-cidr=10.42.0.0/16", "--service-cidr=10.43.0.0/16"]) {
                assert.ok(flags.includes(flag), flag);
            }
            assert.ok(!flags.some((flag) => flag.startsWith("--server")), "the first server joins nobody");
        });

        it("gives agents the server, the token file and the mesh address, and no server flags", () => {
            const flags = k3sFlags(agent);
            assert.deepEqual(flags.slice(0, 7), [
                "--node-name=black-intel", "--node-ip=10.0.0.7", "--node-external-ip=10.0.0.7", "--bind-address=10.0.0.7",
                "--flannel-iface=wg0", "--token-file=/etc/rancher/k3s/token", "--server=https://10.0.0.4:6443",
            ]);
            assert.ok(!flags.some((flag) => /^--(advertise-address|cluster-init|disable|tls-san|flannel-backend)/.test(flag)));
        });

        it("makes a joining server join with --server instead of --cluster-init", () => {
            const flags = k3sFlags(joiningServer);
            assert.ok(flags.includes("--server=https://10.0.0.4:6443"));
            assert.ok(!flags.includes("--cluster-init"));
            assert.deepEqual(flagValues(flags, "--bind-address"), ["10.0.0.5"]);
        });

        it("uses no address but the node's own mesh address, and never a wildcard", () => {
            for (const node of [firstServer, joiningServer, agent, zerotierAgent]) {
                const flags = k3sFlags(node);
                const addresses = flags.map((flag) => flag.split("=")[1] ?? "").filter((value) => isIP(value) !== 0);
                assert.ok(addresses.length >= 3, node.nodeName);
                assert.ok(addresses.every((address) => address === node.meshAddress), `${node.nodeName}: ${addresses.join(" ")}`);
                assert.ok(!flags.join(" ").includes("0.0.0.0"), node.nodeName);
            }
        });

        it("appends labels, taints and harmless extra flags", () => {
            const extraFlags = ["--disable=local-storage", "--kubelet-arg=max-pods=200", "--kube-apiserver-arg=kubelet-preferred-address-types=InternalIP"];
            const flags = k3sFlags({ ...agent, nodeLabels: ["site=home"], nodeTaints: ["edge=true:NoSchedule"], extraFlags });
            assert.deepEqual(flags.slice(-5), ["--node-label=site=home", "--node-taint=edge=true:NoSchedule", ...extraFlags]);
            assert.doesNotThrow(() => k3sFlags({ ...firstServer, extraFlags: ["--agent-token-file=/etc/rancher/k3s/agent-token"] }), "a path to a secret is fine");
        });

        const refusedExtraFlags: [string, RegExp][] = [
            ["--bind-address=0.0.0.0", /would override --bind-address/],
            ["--advertise-address=203.0.113.9", /would override --advertise-address/],
            ["--node-ip=203.0.113.9", /would override --node-ip/],
            ["--node-external-ip=203.0.113.9", /would override/],
            ["--flannel-iface=eth0", /would override/],
            ["--token-file=/root/token", /would override --token-file/],
            ["--config=/tmp/other.yaml", /would override --config/],
            ["--token=K10abc::server:secret", /secret on the k3s command line/],
            ["--agent-token=abc", /secret on the k3s command line/],
            ["--datastore-endpoint=postgres://k3s:pw@db:5432/k3s", /secret on the k3s command line/],
            ["--etcd-s3-secret-key=abc", /secret on the k3s command line/],
            ["--etcd-s3-endpoint=https://user:pw@s3.example.com", /secret on the k3s command line/],
            ["--kube-apiserver-arg=bind-address=0.0.0.0", /rebinds kube-apiserver bind-address/],
            ["--kube-apiserver-arg=advertise-address=203.0.113.9", /rebinds kube-apiserver/],
            ["--kubelet-arg=address=0.0.0.0", /rebinds kubelet address/],
            ["--kube-proxy-arg=metrics-bind-address=0.0.0.0:10249", /rebinds kube-proxy/],
            ["--etcd-arg=listen-client-urls=https://0.0.0.0:2379", /rebinds etcd/],
            ["--kubelet-arg=healthz-bind-address=0.0.0.0", /rebinds kubelet/],
            ["--kube-proxy-arg=nodeport-addresses=0.0.0.0/0", /wildcard address/],
            ["--node-ip", /would override --node-ip/],
            ["-t", /--name or --name=value/],
            ["--disable traefik", /--name or --name=value/],
            ["--kubelet-arg=eviction-hard=$HOME", /systemd would re-interpret/],
        ];
        for (const [flag, reason] of refusedExtraFlags) {
            it(`refuses the extra flag ${flag}`, () => {
                assert.throws(() => k3sFlags({ ...firstServer, extraFlags: [flag] }), reason);
            });
        }

        it("refuses impossible topologies and addresses with a clear message", () => {
            assert.throws(() => k3sFlags({ ...agent, serverUrl: undefined }), /an agent needs serverUrl/);
            assert.throws(() => k3sFlags({ ...firstServer, serverUrl: "https://10.0.0.5:6443" }), /set only one/);
            assert.throws(() => k3sFlags({ ...firstServer, datastoreEndpointFile: "/etc/rancher/k3s/datastore.yaml" }), /external datastore/);
            assert.throws(() => k3sFlags({ ...firstServer, meshAddress: "0.0.0.0" }), /wildcard or loopback/);
            assert.throws(() => k3sFlags({ ...agent, serverUrl: "http://10.0.0.4:6443" }), /must look like https/);
            assert.throws(() => k3sFlags({ ...agent, serverUrl: "https://0.0.0.0:6443" }), /wildcard/);
            assert.throws(() => k3sFlags({ ...firstServer, nodeName: "Node_1" }), /RFC 1123/);
            assert.throws(() => k3sFlags({ ...firstServer, version: "1.31.1" }), /release tag/);
            assert.throws(() => k3sFlags({ ...firstServer, clusterCidr: "10.42.0.0" }), /not a CIDR/);
            assert.throws(() => k3sFlags({ ...firstServer, tlsSans: ["bad name"] }), /neither an IP address nor a DNS name/);
            assert.throws(() => k3sFlags({ ...firstServer, nodeLabels: ["note=two words"] }), /systemd would re-interpret/);
        });

        it("reads an external datastore endpoint from a config file, never from the command line", () => {
            const external: K3sNodeFacts = { ...firstServer, clusterInit: false, datastoreEndpointFile: "/etc/rancher/k3s/datastore.yaml" };
            const flags = k3sFlags(external);
            assert.ok(flags.includes("--config=/etc/rancher/k3s/datastore.yaml"));
            assert.ok(!flags.some((flag) => flag.includes("datastore-endpoint")));
            const endpoint = `postgres://k3s:p"a'ss$%\\word@db.internal:5432/k3s`;
            const config = renderDatastoreConfig(endpoint);
            assert.match(config, /^datastore-endpoint: /);
            assert.equal(JSON.parse(config.slice("datastore-endpoint: ".length)), endpoint, "quoted losslessly (JSON strings are YAML)");
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
            const inNamespace = 'mount -t tmpfs hybrid-k3s-stub /usr/local/bin && printf "#!/bin/sh\\n" > /usr/local/bin/k3s && chmod 0755 /usr/local/bin/k3s && exec systemd-analyze verify "$1"';
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

        it("starts after the mesh and the firewall, requires the mesh, and loads nftables first", () => {
            const { content } = renderK3sUnit(zerotierAgent);
            const unitSection = content.slice(content.indexOf("\n[Unit]\n"), content.indexOf("\n[Install]\n"));
            assert.match(unitSection, /^After=network-online\.target zerotier-one\.service nftables\.service$/m);
            assert.match(unitSection, /^Requires=zerotier-one\.service$/m);
            assert.match(unitSection, /^Wants=network-online\.target$/m);
            assert.match(content, /^Type=notify$/m);
            assert.ok(content.indexOf("ExecStartPre=/usr/sbin/nft -f /etc/nftables.conf") < content.indexOf("ExecStart="));
            assert.match(content, /^ExecStart=\/usr\/local\/bin\/k3s \\\n {4}agent \\\n {4}'--node-name=aws-edge' \\$/m);
            assert.deepEqual(execStartFlags(content), k3sFlags(zerotierAgent), "each flag quoted on its own line");
        });

        it("keeps the token out of ExecStart and the environment", () => {
            for (const node of [firstServer, joiningServer, agent]) {
                const { content } = renderK3sUnit(node);
                assert.ok(execStartFlags(content).includes("--token-file=/etc/rancher/k3s/token"));
                assert.doesNotMatch(content, /--token[= ]|--agent-token|K3S_TOKEN|^Environment=/m);
                assert.doesNotMatch(content, /k3s\.service\.env/, "the installer's env file, which carried K3S_TOKEN, is not read");
            }
        });
    });

    describe("k3s install and uninstall scripts", () => {
        function shellcheck(script: string): string {
            const run = spawnSync("shellcheck", ["-s", "sh", "-"], { input: script, encoding: "utf8" });
            return `${run.error ?? ""}${run.stdout}${run.stderr}`.trim();
        }

        const externalDatastoreServer: K3sNodeFacts = { ...firstServer, clusterInit: false, datastoreEndpointFile: "/etc/rancher/k3s/datastore.yaml" };
        for (const node of [firstServer, agent, externalDatastoreServer]) {
            it(`passes shellcheck -s sh for ${node.nodeName} (${node.role}${node.datastoreEndpointFile ? ", external datastore" : ""})`, () => {
                assert.equal(shellcheck(renderK3sInstallScript(node)), "");
                assert.equal(shellcheck(renderUninstallScript(node)), "");
            });
        }

        // A scratch ROOT and stub commands: curl serves a fake release directory, uname reports
        // FAKE_MACHINE, systemctl/ip/iptables/umount only log (so nothing touches this machine), and the
        // "k3s binary" in the fake release is a script reporting its version and the API's readiness.
        // sha256sum, mktemp, awk and the rest are the real ones.
        const releaseBase = "https://github.com/k3s-io/k3s/releases/download/";
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
            writeExecutable(join(shims, "curl"), `#!/bin/sh
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
`);
            writeExecutable(join(shims, "uname"), '#!/bin/sh\necho "$FAKE_MACHINE"\n');
            for (const logged of ["systemctl", "ip", "umount", "iptables-save", "iptables-restore", "ip6tables-save", "ip6tables-restore"]) {
                writeExecutable(join(shims, logged), '#!/bin/sh\necho "${0##*/} $*" >> "$CALL_LOG"\n');
            }
            stubbedPath = `${shims}:/usr/bin:/bin`;
        });

        function fakeK3s(version: string): string {
            return `#!/bin/sh
case "$1" in
    --version) echo "k3s version ${version} (0123abcd)"; echo "go version go1.22.6" ;;
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
            const sha = createHash("sha256").update(checksum === "right" ? binary : "something else").digest("hex");
            const decoy = createHash("sha256").update("images").digest("hex");
            writeFileSync(join(dir, `sha256sum-${arch}.txt`), `${decoy}  k3s-airgap-images-${arch}.tar\n${sha}  ${asset}\n`);
            return binary;
        }

        /** Ships what the file shipper would (unit and token) into the scratch root. */
        function shipFiles(node: K3sNodeFacts): void {
            const unit = renderK3sUnit(node);
            mkdirSync(dirname(join(root, unit.path)), { recursive: true });
            writeFileSync(join(root, unit.path), unit.content);
            mkdirSync(join(root, "etc/rancher/k3s"), { recursive: true });
            writeFileSync(join(root, "etc/rancher/k3s/token"), "K10-test-token\n", { mode: 0o644 });
        }

        function run(script: string, env: Record<string, string> = {}): { status: number | null; stderr: string; calls: string[] } {
            writeFileSync(callLog, "");
            const scriptFile = join(work, "script.sh");
            writeFileSync(scriptFile, script);
            const result = spawnSync("sh", [scriptFile], {
                env: { PATH: stubbedPath, ROOT: root, CALL_LOG: callLog, FAKE_RELEASES: releases, FAKE_MACHINE: "x86_64", K3S_VERSION: "v1.31.1+k3s1", ...env },
                encoding: "utf8",
            });
            return { status: result.status, stderr: result.stderr, calls: readFileSync(callLog, "utf8").split("\n").filter(Boolean) };
        }

        function filesUnder(dir: string): string[] {
            return readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((entry) => !statSync(join(dir, entry)).isDirectory()).sort();
        }

        const binaryPath = () => join(root, "usr/local/bin/k3s");

        it("refuses to run without a k3s release tag in K3S_VERSION, before any download", () => {
            shipFiles(firstServer);
            for (const version of ["", "latest", "1.31.1"]) {
                const refused = run(renderK3sInstallScript(firstServer), { K3S_VERSION: version });
                assert.notEqual(refused.status, 0);
                assert.match(refused.stderr, /is not a k3s release tag/);
                assert.deepEqual(refused.calls.filter((c) => c.startsWith("curl")), []);
            }
        });

        it("installs on the first run, and the second run downloads nothing and restarts nothing", () => {
            const binary = publishRelease("v1.31.1+k3s1", "amd64");
            shipFiles(firstServer);
            const first = run(renderK3sInstallScript(firstServer));
            assert.equal(first.status, 0, first.stderr);
            assert.deepEqual(first.calls, [
                `curl ${releaseBase}v1.31.1%2Bk3s1/sha256sum-amd64.txt`,
                `curl ${releaseBase}v1.31.1%2Bk3s1/k3s`,
                "systemctl daemon-reload",
                "systemctl enable k3s.service",
                "systemctl restart --no-block k3s.service",
                "systemctl is-active --quiet k3s.service",
                `k3s kubectl --kubeconfig ${root}/etc/rancher/k3s/k3s.yaml get --raw /readyz`,
            ]);
            assert.equal(readFileSync(binaryPath(), "utf8"), binary);
            assert.equal(statSync(binaryPath()).mode & 0o777, 0o755);
            assert.equal(statSync(join(root, "etc/rancher/k3s/token")).mode & 0o777, 0o600);
            assert.equal(statSync(join(root, "usr/local/bin/k3s-uninstall.sh")).mode & 0o777, 0o755);
            assert.deepEqual(readdirSync(join(root, "usr/local/bin")).sort(), ["k3s", "k3s-uninstall.sh"], "no download leftovers");

            const second = run(renderK3sInstallScript(firstServer));
            assert.equal(second.status, 0, second.stderr);
            assert.ok(!second.calls.some((call) => call.startsWith("curl")), second.calls.join("\n"));
            assert.ok(second.calls.includes("systemctl start --no-block k3s.service"));
            assert.ok(!second.calls.some((call) => call.includes("restart")));
        });

        it("restarts without downloading when only the unit changed", () => {
            publishRelease("v1.31.1+k3s1", "amd64");
            shipFiles(firstServer);
            assert.equal(run(renderK3sInstallScript(firstServer)).status, 0);
            const changed = { ...firstServer, extraFlags: ["--disable=local-storage"] };
            shipFiles(changed);
            const rerun = run(renderK3sInstallScript(changed));
            assert.equal(rerun.status, 0, rerun.stderr);
            assert.ok(!rerun.calls.some((call) => call.startsWith("curl")));
            assert.ok(rerun.calls.includes("systemctl restart --no-block k3s.service"));
        });

        it("downloads again and restarts on a version bump", () => {
            publishRelease("v1.31.1+k3s1", "amd64");
            const newer = publishRelease("v1.31.2+k3s1", "amd64");
            shipFiles(firstServer);
            assert.equal(run(renderK3sInstallScript(firstServer)).status, 0);
            const bump = run(renderK3sInstallScript(firstServer), { K3S_VERSION: "v1.31.2+k3s1" });
            assert.equal(bump.status, 0, bump.stderr);
            assert.ok(bump.calls.includes(`curl ${releaseBase}v1.31.2%2Bk3s1/k3s`));
            assert.ok(bump.calls.includes("systemctl restart --no-block k3s.service"));
            assert.equal(readFileSync(binaryPath(), "utf8"), newer);
        });

        it("aborts on a checksum mismatch and leaves the installed binary alone", () => {
            const installed = publishRelease("v1.31.1+k3s1", "amd64");
            publishRelease("v1.31.2+k3s1", "amd64", "wrong");
            shipFiles(firstServer);
            assert.equal(run(renderK3sInstallScript(firstServer)).status, 0);
            const bad = run(renderK3sInstallScript(firstServer), { K3S_VERSION: "v1.31.2+k3s1" });
            assert.notEqual(bad.status, 0);
            assert.match(bad.stderr, /checksum mismatch for k3s v1\.31\.2\+k3s1/);
            assert.equal(readFileSync(binaryPath(), "utf8"), installed);
            assert.ok(!bad.calls.some((call) => call.startsWith("systemctl")), "nothing restarted");
            assert.deepEqual(readdirSync(join(root, "usr/local/bin")).sort(), ["k3s", "k3s-uninstall.sh"], "no download leftovers");
        });

        it("fails clearly, before downloading, on a host of the wrong architecture", () => {
            publishRelease("v1.31.1+k3s1", "amd64");
            shipFiles(firstServer);
            const wrong = run(renderK3sInstallScript(firstServer), { FAKE_MACHINE: "aarch64" });
            assert.notEqual(wrong.status, 0);
            assert.match(wrong.stderr, /this host is aarch64 but the stack config declares it amd64/);
            assert.deepEqual(wrong.calls, []);
            assert.ok(!existsSync(binaryPath()));
        });

        it("installs an arm64 agent from k3s-arm64 and waits only for the unit", () => {
            const binary = publishRelease("v1.31.1+k3s1", "arm64");
            shipFiles(agent);
            const result = run(renderK3sInstallScript(agent), { FAKE_MACHINE: "aarch64" });
            assert.equal(result.status, 0, result.stderr);
            assert.deepEqual(result.calls, [
                `curl ${releaseBase}v1.31.1%2Bk3s1/sha256sum-arm64.txt`,
                `curl ${releaseBase}v1.31.1%2Bk3s1/k3s-arm64`,
                "systemctl daemon-reload",
                "systemctl enable k3s-agent.service",
                "systemctl restart --no-block k3s-agent.service",
                "systemctl is-active --quiet k3s-agent.service",
            ]);
            assert.equal(readFileSync(binaryPath(), "utf8"), binary);
            assert.ok(existsSync(join(root, "usr/local/bin/k3s-agent-uninstall.sh")));
        });

        it("fails when the API never becomes ready, and restarts again on the next run", () => {
            publishRelease("v1.31.1+k3s1", "amd64");
            shipFiles(firstServer);
            const stuck = run(renderK3sInstallScript(firstServer), { FAKE_API_READY: "no", READY_TIMEOUT_SECONDS: "2" });
            assert.notEqual(stuck.status, 0);
            assert.match(stuck.stderr, /timed out after 2s waiting for the API server to answer \/readyz/);
            const retry = run(renderK3sInstallScript(firstServer));
            assert.equal(retry.status, 0, retry.stderr);
            assert.ok(retry.calls.includes("systemctl restart --no-block k3s.service"), "the failed start was not recorded as applied");
        });

        it("uninstalls everything the install made, and can run twice", () => {
            publishRelease("v1.31.1+k3s1", "amd64");
            shipFiles(firstServer);
            assert.equal(run(renderK3sInstallScript(firstServer)).status, 0);
            // What a running k3s would have left behind.
            for (const leftover of ["var/lib/rancher/k3s/server/db/state.db", "var/lib/rancher/k3s/data/current/bin/containerd", "etc/rancher/k3s/k3s.yaml", "etc/rancher/node/password", "var/lib/kubelet/pods/x/volume", "var/lib/cni/networks/cbr0/10.42.0.5", "run/flannel/subnet.env"]) {
                mkdirSync(dirname(join(root, leftover)), { recursive: true });
                writeFileSync(join(root, leftover), "x");
            }

            const installedCopy = readFileSync(join(root, "usr/local/bin/k3s-uninstall.sh"), "utf8");
            assert.equal(installedCopy, renderUninstallScript(firstServer));
            const first = run(installedCopy);
            assert.equal(first.status, 0, first.stderr);
            assert.deepEqual(filesUnder(root), [], "only empty directories remain");
            assert.equal(first.calls[0], "systemctl disable --now k3s.service");
            assert.ok(first.calls.includes("ip link delete flannel-wg"));
            assert.equal(first.calls.at(-1), "systemctl daemon-reload");

            const second = run(installedCopy);
            assert.equal(second.status, 0, second.stderr);
            assert.ok(!second.calls.some((call) => call.startsWith("systemctl disable")), "nothing left to stop");
        });
    });

    describe("k3s node lifecycle commands", () => {
        // A stub k3s that knows the nodes in FAKE_NODES and fails every call when FAKE_API_DOWN is set.
        let shims: string;
        let callLog: string;
        before(() => {
            const dir = scratch("k3s-nodes-");
            shims = join(dir, "shims");
            callLog = join(dir, "calls.log");
            writeExecutable(join(shims, "k3s"), `#!/bin/sh
echo "k3s $*" >> "$CALL_LOG"
[ -z "\${FAKE_API_DOWN:-}" ] || exit 1
if [ "$2 $3" = "get node" ]; then
    case " $FAKE_NODES " in *" $4 "*) echo "node/$4" ;; esac
fi
`);
        });

        function runOnServer(command: string, env: Record<string, string>): { status: number | null; calls: string[] } {
            writeFileSync(callLog, "");
            const result = spawnSync("sh", ["-c", command], { env: { PATH: `${shims}:/usr/bin:/bin`, CALL_LOG: callLog, FAKE_NODES: "", ...env }, encoding: "utf8" });
            return { status: result.status, calls: readFileSync(callLog, "utf8").split("\n").filter(Boolean) };
        }

        it("drains a present node with the safe flags", () => {
            const result = runOnServer(drainCommand("white-amd"), { FAKE_NODES: "k3s-soh-re white-amd" });
            assert.equal(result.status, 0);
            assert.equal(result.calls.at(-1), "k3s kubectl drain white-amd --ignore-daemonsets --delete-emptydir-data --timeout=300s");
        });

        it("treats a node that is already gone as drained, but not an unreachable API", () => {
            const gone = runOnServer(drainCommand("white-amd"), { FAKE_NODES: "k3s-soh-re" });
            assert.equal(gone.status, 0);
            assert.ok(!gone.calls.some((call) => call.includes("drain")));
            const down = runOnServer(drainCommand("white-amd"), { FAKE_API_DOWN: "1" });
            assert.notEqual(down.status, 0);
            assert.ok(!down.calls.some((call) => call.includes("drain")));
        });

        it("deletes idempotently and uncordons by name", () => {
            assert.equal(deleteNodeCommand("white-amd"), "k3s kubectl delete node 'white-amd' --ignore-not-found");
            assert.equal(uncordonCommand("white-amd"), "k3s kubectl uncordon 'white-amd'");
            assert.equal(runOnServer(deleteNodeCommand("white-amd"), {}).status, 0);
        });

        it("refuses node names that are not RFC 1123 before they reach a shell", () => {
            for (const name of ["White-AMD", "a;reboot", "$(id)", "-rf", "", "a..b", `${"a".repeat(64)}`]) {
                for (const render of [drainCommand, uncordonCommand, deleteNodeCommand]) {
                    assert.throws(() => render(name), /RFC 1123/, `${render.name}(${JSON.stringify(name)})`);
                }
            }
        });
    });

    describe("kubeconfigForMesh", () => {
        const k3sYaml = `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTi0=
    server: https://127.0.0.1:6443
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

        it("points at the server's mesh address and names everything after the cluster", () => {
            const config = kubeconfigForMesh(k3sYaml, "10.0.0.4", "hybrid");
            assert.match(config, /^ {4}server: https:\/\/10\.0\.0\.4:6443$/m);
            assert.doesNotMatch(config, /127\.0\.0\.1|\bdefault\b/);
            assert.equal(config.match(/\bhybrid\b/g)?.length, 6);
            assert.match(config, /^current-context: hybrid$/m);
            assert.match(config, /client-key-data: a2V5/);
            assert.equal(config.split("\n").length, k3sYaml.split("\n").length);
        });

        it("brackets an IPv6 mesh address and refuses input that is not k3s's kubeconfig", () => {
            assert.match(kubeconfigForMesh(k3sYaml, "fd00::4", "hybrid"), /server: https:\/\/\[fd00::4\]:6443/);
            assert.throws(() => kubeconfigForMesh(kubeconfigForMesh(k3sYaml, "10.0.0.4", "hybrid"), "10.0.0.4", "hybrid"), /no `server: https:\/\/127\.0\.0\.1:6443` line/);
            assert.throws(() => kubeconfigForMesh(k3sYaml, "0.0.0.0", "hybrid"), /wildcard/);
            assert.throws(() => kubeconfigForMesh(k3sYaml, "10.0.0.4", "Hybrid Cluster"), /RFC 1123/);
        });
    });
});
