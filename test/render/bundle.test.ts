import { strict as assert } from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseBundle, renderBundle, renderHostCleanup } from "../../components/render/bundle";
import { authorizeKey, installPackages } from "../../components/render/hostsetup";

function requireTool(tool: string, debianPackage: string): void {
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) assert.fail(`${tool} is missing: apt-get install -y ${debianPackage}`);
}

const files = [
    { path: "/etc/wireguard/wg0.conf", mode: "0600", content: "[Interface]\nPrivateKey = secret'quote\"$HOME`x`\n" },
    { path: "/etc/hybrid-k3s/firewall.nft", mode: "0644", content: "table inet t {}\n" },
];

/** Runs a bundle the way a host does (`sh -s` with the script on stdin), rooted in a scratch directory. */
function runBundle(script: string, root: string): string {
    return execFileSync("sh", ["-s"], { input: script, env: { ...process.env, ROOT: root }, encoding: "utf8" });
}

describe("render/bundle", () => {
    let root: string;
    beforeEach(() => {
        root = fs.mkdtempSync(path.join(os.tmpdir(), "hk3s-bundle-"));
    });
    afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

    it("reads back exactly the files it ships (what the offline plan shows)", () => {
        assert.deepEqual(parseBundle(renderBundle("test", "test", files, { apply: "true" })), files);
    });

    it("writes each file with its mode, and the apply step sees only what changed", () => {
        const apply = 'for f in /etc/wireguard/wg0.conf /etc/hybrid-k3s/firewall.nft; do if hk3s_changed "$f"; then echo "changed $f"; fi; done';
        const first = runBundle(renderBundle("test", "test", files, { apply }), root);
        assert.match(first, /changed \/etc\/wireguard\/wg0.conf/);
        assert.match(first, /changed \/etc\/hybrid-k3s\/firewall.nft/);
        for (const f of files) {
            const onDisk = path.join(root, f.path);
            assert.equal(fs.readFileSync(onDisk, "utf8"), f.content);
            assert.equal((fs.statSync(onDisk).mode & 0o777).toString(8).padStart(4, "0"), f.mode);
        }
        const edited = [files[0], { ...files[1], content: "table inet t { }\n" }];
        const second = runBundle(renderBundle("test", "test", edited, { apply }), root);
        assert.doesNotMatch(second, /changed \/etc\/wireguard/);
        assert.match(second, /changed \/etc\/hybrid-k3s\/firewall.nft/);
        const third = runBundle(renderBundle("test", "test", edited, { apply }), root);
        assert.doesNotMatch(third, /^changed/m);
        assert.deepEqual(
            fs.readdirSync(path.join(root, "etc/hybrid-k3s")).filter((n) => n.includes(".hk3s-new")),
            [],
        );
    });

    it("stops at the first failing step", () => {
        const result = spawnSync("sh", ["-s"], {
            input: renderBundle("test", "test", files, { apply: "false\necho after" }),
            env: { ...process.env, ROOT: root },
            encoding: "utf8",
        });
        assert.notEqual(result.status, 0);
        assert.doesNotMatch(result.stdout, /after/);
    });

    it("refuses relative paths and bad modes", () => {
        assert.throws(() => renderBundle("t", "t", [{ path: "etc/x", mode: "0600", content: "" }], { apply: "true" }), /must be absolute/);
        assert.throws(() => renderBundle("t", "t", [{ path: "/etc/x", mode: "600", content: "" }], { apply: "true" }), /four octal digits/);
        assert.throws(
            () => renderBundle("t", "t", [{ path: "/etc/$(reboot)", mode: "0600", content: "" }], { apply: "true" }),
            /must be absolute and use only/,
        );
    });

    it("passes shellcheck, with the shared install and key snippets as apply steps", () => {
        requireTool("shellcheck", "shellcheck");
        const script = renderBundle(
            "test",
            "test",
            files.map((f) => ({ ...f, check: 'nft -c -f "$1"' })),
            {
                prepare: installPackages({ apt: ["nftables"], dnf: ["nftables"] }, "nft"),
                apply: authorizeKey("admin", "ssh-ed25519 AAAAC3Nza test"),
            },
        );
        const result = spawnSync("shellcheck", ["-s", "sh", "-"], { input: script, encoding: "utf8" });
        assert.equal(result.status, 0, result.stdout);
    });

    it("authorizes the cluster key once, however often it runs", () => {
        const script = renderBundle("bootstrap", "bootstrap", [], { apply: authorizeKey("root", "ssh-ed25519 AAAAC3Nza cluster") });
        runBundle(script, root);
        runBundle(script, root);
        assert.equal(fs.readFileSync(path.join(root, "root/.ssh/authorized_keys"), "utf8"), "ssh-ed25519 AAAAC3Nza cluster\n");
    });

    it("a run that fails after replacing files still reports them changed on the retry", () => {
        const apply = 'if hk3s_changed /etc/hybrid-k3s/firewall.nft; then echo "reload firewall"; fi\n[ -f "$ROOT/ok" ]';
        const failed = spawnSync("sh", ["-s"], { input: renderBundle("fw", "fw", files, { apply }), env: { ...process.env, ROOT: root }, encoding: "utf8" });
        assert.notEqual(failed.status, 0);
        assert.match(failed.stdout, /reload firewall/);
        fs.writeFileSync(path.join(root, "ok"), "");
        // Same files: nothing differs on disk now, yet the reload the failed run never finished happens.
        assert.match(runBundle(renderBundle("fw", "fw", files, { apply }), root), /reload firewall/);
        assert.doesNotMatch(runBundle(renderBundle("fw", "fw", files, { apply }), root), /reload firewall/);
    });

    it("keeps a file that fails its check out, and the old one in place", () => {
        runBundle(renderBundle("c", "c", [files[1]], { apply: "true" }), root);
        const refused = { ...files[1], content: "broken\n", check: 'grep -q "^table" "$1"' };
        const result = spawnSync("sh", ["-s"], {
            input: renderBundle("c", "c", [refused], { apply: "echo applied" }),
            env: { ...process.env, ROOT: root },
            encoding: "utf8",
        });
        assert.notEqual(result.status, 0);
        assert.match(result.stderr, /refused by its check; the old one stays/);
        assert.doesNotMatch(result.stdout, /applied/);
        assert.equal(fs.readFileSync(path.join(root, files[1].path), "utf8"), files[1].content);
    });

    it("keeps the owner's file beside ours the first time it replaces it, and only then", () => {
        const owned = path.join(root, "etc/haproxy/haproxy.cfg");
        fs.mkdirSync(path.dirname(owned), { recursive: true });
        fs.writeFileSync(owned, "frontend other_sites\n");
        const ours = (content: string) => renderBundle("e", "e", [{ path: "/etc/haproxy/haproxy.cfg", mode: "0644", content }], { apply: "true" });
        assert.match(runBundle(ours("ours 1\n"), root), /kept the original \/etc\/haproxy\/haproxy.cfg as \/etc\/haproxy\/haproxy.cfg.hk3s-orig/);
        assert.doesNotMatch(runBundle(ours("ours 2\n"), root), /kept the original/);
        assert.equal(fs.readFileSync(`${owned}.hk3s-orig`, "utf8"), "frontend other_sites\n");
        assert.equal(fs.readFileSync(owned, "utf8"), "ours 2\n");
    });

    it("runs one bundle at a time on a host (a second run waits for the lock)", () => {
        requireTool("flock", "util-linux");
        const slow = renderBundle("a", "a", [], { apply: 'echo "a start $(date +%s%N)"; sleep 1; echo "a end $(date +%s%N)"' });
        const quick = renderBundle("b", "b", [], { apply: 'echo "b start $(date +%s%N)"' });
        const first = require("child_process").spawn("sh", ["-s"], { env: { ...process.env, ROOT: root } });
        let out = "";
        first.stdout.on("data", (d: Buffer) => (out += d.toString()));
        first.stdin.end(slow);
        return new Promise<void>((resolve) => setTimeout(resolve, 300)).then(() => {
            const second = runBundle(quick, root);
            return new Promise<void>((resolve) => first.on("close", () => resolve())).then(() => {
                const at = (label: string, text: string) => Number(new RegExp(`${label} (\\d+)`).exec(text)![1]);
                assert.ok(at("b start", second) >= at("a end", out), "the second bundle started before the first finished");
            });
        });
    });
});

describe("render/bundle host cleanup (the last step of a leaving host)", () => {
    let root: string;
    beforeEach(() => {
        root = fs.mkdtempSync(path.join(os.tmpdir(), "hk3s-cleanup-"));
    });
    afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

    it("removes every file we wrote, gives the owner's originals back, reloads or stops the edge proxy, and leaves nothing of ours", () => {
        const owned = path.join(root, "etc/haproxy/haproxy.cfg");
        fs.mkdirSync(path.dirname(owned), { recursive: true });
        fs.writeFileSync(owned, "frontend other_sites\n");
        fs.writeFileSync(path.join(root, "etc/unrelated.conf"), "the owner's\n");
        const ours = [
            { path: "/etc/haproxy/haproxy.cfg", mode: "0644", content: "ours\n" },
            { path: "/etc/hybrid-k3s/firewall.nft", mode: "0644", content: "table inet hybrid_k3s {}\n" },
            { path: "/etc/systemd/system/hybrid-k3s-firewall.service", mode: "0644", content: "[Unit]\n" },
        ];
        runBundle(renderBundle("e", "e", ours, { apply: "true" }), root);
        const shims = path.join(root, ".shims");
        fs.mkdirSync(shims);
        fs.writeFileSync(path.join(shims, "systemctl"), '#!/bin/sh\necho "systemctl $*" >> "$ROOT/.calls"\n', { mode: 0o755 });
        const result = spawnSync("sh", ["-c", renderHostCleanup()], { env: { PATH: `${shims}:/usr/bin:/bin`, ROOT: root }, encoding: "utf8" });
        assert.equal(result.status, 0, result.stderr);
        assert.equal(result.stdout, "hybrid-k3s: restored the original /etc/haproxy/haproxy.cfg\n");
        assert.equal(fs.readFileSync(owned, "utf8"), "frontend other_sites\n");
        assert.equal(fs.readFileSync(path.join(root, ".calls"), "utf8"), "systemctl try-reload-or-restart haproxy\nsystemctl daemon-reload\n");
        const left = execFileSync("find", [root, "-type", "f", "-not", "-path", `${shims}/*`, "-not", "-name", ".calls"], { encoding: "utf8" })
            .split("\n")
            .filter(Boolean)
            .map((f) => path.relative(root, f))
            .sort();
        assert.deepEqual(left, ["etc/haproxy/haproxy.cfg", "etc/unrelated.conf"]);
        for (const dir of ["etc/hybrid-k3s", "usr/local/lib/hybrid-k3s", "var/lib/hybrid-k3s"]) assert.equal(fs.existsSync(path.join(root, dir)), false, dir);
    });

    it("passes shellcheck", () => {
        const result = spawnSync("shellcheck", ["-s", "sh", "-"], { input: `#!/bin/sh\n${renderHostCleanup()}\n`, encoding: "utf8" });
        assert.equal(result.status, 0, result.stdout);
    });
});
