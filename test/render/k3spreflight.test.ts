// The k3s step's prepare, run as shipped (inside the rendered bundle) against a scratch ROOT with
// shims for uname and df: a k3s we did not install is refused unless adopted (and never downgraded),
// and a first install stops in seconds, with the fix, where k3s could not run.
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { k3sBinaryPath, k3sConfigPath, k3sVersionPath } from "../../components/paths";
import { renderBundle } from "../../components/render/bundle";
import { K3sNodeFacts, k3sSettings, k3sTokenFiles, renderK3sPreflight } from "../../components/render/k3s";

const pi: K3sNodeFacts = {
    nodeName: "pi4",
    role: "server",
    meshAddress: "10.0.0.4",
    meshInterface: "wg0",
    meshUnit: "wg-quick@wg0.service",
    arch: "arm64",
    version: "v1.36.1+k3s1",
    releaseBaseUrl: "https://github.com/k3s-io/k3s/releases/download",
    clusterCidr: "10.42.0.0/16",
    serviceCidr: "10.43.0.0/16",
    tlsSans: [],
    flannelBackend: "wireguard-native",
    extraFlags: [],
};

describe("render/k3s preflight (the k3s step's prepare)", () => {
    let root: string;
    let shims: string;
    beforeEach(() => {
        root = mkdtempSync(join(tmpdir(), "hk3s-k3s-preflight-"));
        shims = join(root, ".shims");
        mkdirSync(shims);
        write(".shims/uname", '#!/bin/sh\necho "$FAKE_MACHINE"\n', 0o755);
        // df -Pk as coreutils prints it; FAKE_FREE_KB is the Available column.
        write(
            ".shims/df",
            '#!/bin/sh\necho "Filesystem 1024-blocks Used Available Capacity Mounted on"\necho "/dev/root 30000000 1000 $FAKE_FREE_KB 1% /"\n',
            0o755,
        );
        // A healthy host: systemd, cgroup v2 with the memory controller, /var/lib/rancher absent.
        mkdirSync(join(root, "run/systemd/system"), { recursive: true });
        write("sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
    });
    afterEach(() => rmSync(root, { recursive: true, force: true }));

    function write(path: string, content: string, mode = 0o644): void {
        mkdirSync(dirname(join(root, path)), { recursive: true });
        writeFileSync(join(root, path), content);
        chmodSync(join(root, path), mode);
    }
    const handBuiltK3s = (version: string) => {
        write(k3sBinaryPath, `#!/bin/sh\n[ "$1" = --version ] && echo "k3s version ${version} (abcdef12)"\n`, 0o755);
        write("/etc/systemd/system/k3s.service", "[Service]\nExecStart=/usr/local/bin/k3s server\n");
    };

    function runStep(facts: K3sNodeFacts, env: Record<string, string> = {}) {
        const bundle = renderBundle("pi4-k3s-files", "test", [{ path: k3sVersionPath, mode: "0644", content: `${facts.version}\n` }], {
            prepare: renderK3sPreflight(facts),
            apply: "echo applied",
        });
        const started = Date.now();
        const result = spawnSync("sh", ["-s"], {
            input: bundle,
            env: { PATH: `${shims}:/usr/bin:/bin`, ROOT: root, FAKE_MACHINE: "aarch64", FAKE_FREE_KB: String(20 * 1024 * 1024), ...env },
            encoding: "utf8",
        });
        return { ...result, ms: Date.now() - started };
    }

    it("a healthy new host passes and the step goes on", () => {
        const result = runStep(pi);
        assert.equal(result.status, 0, result.stderr);
        assert.match(result.stdout, /applied/);
    });

    it("refuses a k3s someone else installed, naming what it found, its version and the field to set; writes nothing", () => {
        handBuiltK3s("v1.35.4+k3s1");
        const result = runStep(pi);
        assert.notEqual(result.status, 0);
        assert.equal(
            result.stderr,
            "hybrid-k3s: pi4: a k3s this project did not install is here (v1.35.4+k3s1: /usr/local/bin/k3s, /etc/systemd/system/k3s.service); " +
                "set nodes[pi4].adopt: true to take it over (its data in /var/lib/rancher/k3s and its token stay), or remove it first (k3s-uninstall.sh)\n",
        );
        assert.equal(existsSync(join(root, k3sVersionPath)), false);
    });

    it("adopts it when the node says so, keeping its own server token; never moves it to an older release", () => {
        handBuiltK3s("v1.35.4+k3s1");
        const adopted = runStep({ ...pi, adopt: true });
        assert.equal(adopted.status, 0, adopted.stderr);
        assert.match(adopted.stdout, /adopting the k3s already here \(v1\.35\.4\+k3s1: \/usr\/local\/bin\/k3s, \/etc\/systemd\/system\/k3s\.service\)/);
        assert.deepEqual(k3sTokenFiles({ role: "server", adopt: true }), ["/var/lib/rancher/k3s/server/token", "/etc/rancher/k3s/agent-token"]);
        assert.deepEqual(
            k3sSettings({ ...pi, adopt: true }).find(([key]) => key === "token-file"),
            ["token-file", "/var/lib/rancher/k3s/server/token"],
            `${k3sConfigPath} points k3s at the token it wrote itself`,
        );
        // Ours from now on: the next run sees our version file and checks nothing again.
        assert.equal(runStep(pi).status, 0);

        rmSync(join(root, k3sVersionPath));
        handBuiltK3s("v1.37.0+k3s1");
        const newer = runStep({ ...pi, adopt: true });
        assert.notEqual(newer.status, 0);
        assert.equal(
            newer.stderr,
            "hybrid-k3s: pi4: k3s v1.37.0+k3s1 runs here, newer than k3sVersion v1.36.1+k3s1, and k3s does not support downgrades; set k3sVersion to v1.37.0+k3s1 or newer\n",
        );
    });

    it("a Raspberry Pi without the memory cgroup fails in seconds with the cmdline.txt fix (cgroup v2 and v1)", () => {
        write("sys/fs/cgroup/cgroup.controllers", "cpuset cpu io pids\n");
        const v2 = runStep(pi);
        assert.notEqual(v2.status, 0);
        assert.match(
            v2.stderr,
            /without the memory cgroup.*add cgroup_memory=1 cgroup_enable=memory to the one line of \/boot\/firmware\/cmdline\.txt.*then reboot\n$/,
        );
        assert.ok(v2.ms < 5000, `took ${v2.ms} ms`);
        rmSync(join(root, "sys"), { recursive: true });
        // cgroup v1: subsys_name hierarchy num_cgroups enabled
        write("proc/cgroups", "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpu\t2\t1\t1\nmemory\t0\t1\t0\n");
        assert.match(runStep(pi).stderr, /without the memory cgroup/);
        write("proc/cgroups", "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpu\t2\t1\t1\nmemory\t3\t1\t1\n");
        assert.equal(runStep(pi).status, 0);
    });

    it("refuses an architecture k3s does not ship, a host without systemd, and less than 2 GiB free for /var/lib/rancher", () => {
        assert.match(runStep(pi, { FAKE_MACHINE: "riscv64" }).stderr, /this is a riscv64 machine; k3s runs on x86_64, aarch64, armv7l only\n$/);
        assert.equal(runStep(pi, { FAKE_MACHINE: "armv7l" }).status, 0);
        assert.match(
            runStep(pi, { FAKE_FREE_KB: String(1024 * 1024) }).stderr,
            /only 1024 MiB free for \/var\/lib\/rancher \(on \/var\/lib\); k3s needs at least 2048 MiB/,
        );
        rmSync(join(root, "run/systemd"), { recursive: true });
        assert.match(runStep(pi).stderr, /systemd is not running here/);
    });

    it("passes shellcheck inside its bundle, adopting or not", () => {
        for (const facts of [pi, { ...pi, adopt: true }]) {
            const script = renderBundle("k", "k", [], { prepare: renderK3sPreflight(facts), apply: "true" });
            const result = spawnSync("shellcheck", ["-s", "sh", "-"], { input: script, encoding: "utf8" });
            assert.equal(result.status, 0, result.stdout);
        }
    });
});
