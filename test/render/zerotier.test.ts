// ZeroTier's install from its signed package repository, run against a scratch root with shims for
// the network and the package managers (curl, apt-get, dnf, rpm) and the real gpg, which reads the
// real ZeroTier key (fixtures/, as github zerotier/ZeroTierOne doc/contact@zerotier.com.gpg has it).
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
    zerotierAptKeyring,
    zerotierAptSource,
    zerotierDnfRepo,
    zerotierInstallScript,
    zerotierRpmKey,
    zerotierSigningKeyFingerprint,
    zerotierSigningKeyUrl,
} from "../../components/render/zerotier";

const realKey = fs.readFileSync(path.join(__dirname, "fixtures/zerotier-signing-key.asc"), "utf8");
/** The only commands the script may find besides the shims: no real apt-get, dnf or curl. */
const hostTools = ["sh", "gpg", "awk", "cat", "mkdir", "mktemp", "rm", "cp", "chmod", "tr", "sed", "cut"];

function requireTool(tool: string, debianPackage: string): void {
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) assert.fail(`${tool} is missing: apt-get install -y ${debianPackage}`);
}

/** A throwaway key that is not ZeroTier's (what a tampered download would carry). */
function strangerKey(): string {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "hk3s-gpg-"));
    try {
        const gpg = (...args: string[]) =>
            execFileSync("gpg", ["--homedir", home, "--batch", ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
        gpg("--passphrase", "", "--quick-gen-key", "Mallory <mallory@example.invalid>", "ed25519", "sign", "never");
        return gpg("--armor", "--export");
    } finally {
        fs.rmSync(home, { recursive: true, force: true });
    }
}

interface Run {
    status: number | null;
    stdout: string;
    stderr: string;
    /** Shim calls, one line each: `<command> <args>`. */
    calls: string[];
    root: string;
}

describe("render/zerotier: install from the signed package repository", function () {
    this.timeout(60000);
    const dirs: string[] = [];
    before(() => {
        requireTool("gpg", "gpg");
        requireTool("shellcheck", "shellcheck");
    });
    after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

    function install(osRelease: string, packageManager: "apt-get" | "dnf", served: string, installed = false): Run {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hk3s-zt-install-"));
        dirs.push(dir);
        const root = path.join(dir, "root");
        const bin = path.join(dir, "bin");
        fs.mkdirSync(path.join(root, "etc"), { recursive: true });
        fs.mkdirSync(bin);
        fs.writeFileSync(path.join(root, "etc/os-release"), osRelease);
        fs.writeFileSync(path.join(dir, "served.asc"), served);
        for (const tool of hostTools) {
            const real = execFileSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).trim();
            fs.symlinkSync(real, path.join(bin, tool));
        }
        const log = path.join(dir, "calls");
        const shim = (name: string, body = "") => fs.writeFileSync(path.join(bin, name), `#!/bin/sh\necho "${name} $*" >> ${log}\n${body}\n`, { mode: 0o755 });
        // curl serves the key to whatever -o names.
        shim("curl", `while [ $# -gt 0 ]; do if [ "$1" = -o ]; then cat ${path.join(dir, "served.asc")} > "$2"; fi; shift; done`);
        shim(packageManager);
        if (packageManager === "dnf") shim("rpm");
        if (installed) shim("zerotier-cli");
        const result = spawnSync("/bin/sh", ["-c", `set -eu\n${zerotierInstallScript()}`], { env: { PATH: bin, ROOT: root, TMPDIR: dir }, encoding: "utf8" });
        const calls = fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n") : [];
        return { status: result.status, stdout: result.stdout, stderr: result.stderr, calls, root };
    }

    const debian = 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n';
    const ubuntu = 'ID=ubuntu\nVERSION_ID="24.04"\nVERSION_CODENAME=noble\n';
    const fedora = "ID=fedora\nVERSION_ID=41\n";
    const rocky = 'ID="rocky"\nVERSION_ID="9.4"\n';

    it("passes shellcheck", () => {
        const result = spawnSync("shellcheck", ["-s", "sh", "-"], { input: `#!/bin/sh\nROOT="\${ROOT:-}"\n${zerotierInstallScript()}\n`, encoding: "utf8" });
        assert.equal(result.status, 0, result.stdout);
    });

    for (const [name, release, codename] of [
        ["Debian 12", debian, "bookworm"],
        ["Ubuntu 24.04", ubuntu, "noble"],
    ] as const) {
        it(`${name}: trusts ZeroTier's key for its own apt source only (signed-by), then installs`, () => {
            const run = install(release, "apt-get", realKey);
            assert.equal(run.status, 0, run.stderr);
            assert.deepEqual(run.calls, [
                `curl -fsSL --proto =https -o ${run.calls[0].split(" -o ")[1].split(" ")[0]} ${zerotierSigningKeyUrl}`,
                "apt-get update -qq",
                "apt-get install -y -qq --no-install-recommends zerotier-one",
            ]);
            assert.equal(
                fs.readFileSync(path.join(run.root, zerotierAptSource), "utf8"),
                `deb [signed-by=${zerotierAptKeyring}] https://download.zerotier.com/debian/${codename} ${codename} main\n`,
            );
            // The keyring is the binary form of exactly that key.
            const home = fs.mkdtempSync(path.join(os.tmpdir(), "hk3s-gpg-"));
            dirs.push(home);
            const shown = execFileSync("gpg", ["--homedir", home, "--batch", "--show-keys", "--with-colons", path.join(run.root, zerotierAptKeyring)], {
                encoding: "utf8",
            });
            assert.deepEqual(
                shown
                    .split("\n")
                    .filter((l) => l.startsWith("fpr:"))
                    .map((l) => l.split(":")[9])[0],
                zerotierSigningKeyFingerprint,
            );
            assert.ok(!fs.readFileSync(path.join(run.root, zerotierAptKeyring)).toString("latin1").includes("BEGIN PGP"), "apt reads a dearmored keyring");
        });
    }

    for (const [name, release, repoPath] of [
        ["Fedora 41", fedora, "fc/41"],
        ["Rocky 9", rocky, "el/9"],
    ] as const) {
        it(`${name}: a .repo with gpgcheck and ZeroTier's key, imported only after the fingerprint check`, () => {
            const run = install(release, "dnf", realKey);
            assert.equal(run.status, 0, run.stderr);
            assert.deepEqual(run.calls.slice(1), [`rpm --import ${run.root}${zerotierRpmKey}`, "dnf install -y -q zerotier-one"]);
            assert.equal(
                fs.readFileSync(path.join(run.root, zerotierDnfRepo), "utf8"),
                [
                    "[zerotier]",
                    "name=ZeroTier, Inc. RPM Release Repository",
                    `baseurl=https://download.zerotier.com/redhat/${repoPath}`,
                    "enabled=1",
                    "gpgcheck=1",
                    `gpgkey=file://${zerotierRpmKey}`,
                    "",
                ].join("\n"),
            );
            assert.equal(fs.readFileSync(path.join(run.root, zerotierRpmKey), "utf8"), realKey);
        });
    }

    for (const [what, served] of [
        ["another key", () => strangerKey()],
        ["ZeroTier's key with another one beside it", () => realKey + strangerKey()],
        ["no key at all", () => "<html>not found</html>\n"],
    ] as const) {
        for (const packageManager of ["apt-get", "dnf"] as const) {
            it(`refuses ${what} (${packageManager}): nothing is trusted or installed`, () => {
                const run = install(packageManager === "dnf" ? fedora : debian, packageManager, served());
                assert.notEqual(run.status, 0);
                assert.match(
                    run.stderr,
                    new RegExp(`hybrid-k3s: the ZeroTier signing key from .* is not the pinned one \\(fingerprint ${zerotierSigningKeyFingerprint}; `),
                );
                assert.deepEqual(
                    run.calls.map((c) => c.split(" ")[0]),
                    ["curl"],
                );
                for (const file of [zerotierAptKeyring, zerotierAptSource, zerotierRpmKey, zerotierDnfRepo])
                    assert.ok(!fs.existsSync(path.join(run.root, file)), file);
            });
        }
    }

    it("does nothing where ZeroTier is already installed", () => {
        const run = install(debian, "apt-get", realKey, true);
        assert.equal(run.status, 0, run.stderr);
        assert.deepEqual(run.calls, []);
    });
});
