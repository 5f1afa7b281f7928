import { strict as assert } from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseBundle, renderBundle } from "../../components/render/bundle";
import { authorizeKey, installPackages } from "../../components/render/hostsetup";

function requireTool(tool: string, debianPackage: string): void {
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) assert.fail(`${tool} is missing: apt-get install -y ${debianPackage}`);
}

const files = [
    { path: "/etc/wireguard/wg0.conf", mode: "0600", content: "[Interface]\nPrivateKey = secret'quote\"$HOME`x`\n" },
    { path: "/etc/nftables.conf", mode: "0644", content: "table inet t {}\n" },
];

/** Runs a bundle the way a host does (`sh -s` with the script on stdin), rooted in a scratch directory. */
function runBundle(script: string, root: string): string {
    return execFileSync("sh", ["-s"], { input: script, env: { ...process.env, ROOT: root }, encoding: "utf8" });
}

describe("render/bundle", () => {
    let root: string;
    beforeEach(() => { root = fs.mkdtempSync(path.join(os.tmpdir(), "hk3s-bundle-")); });
    afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

    it("reads back exactly the files it ships (what the offline plan shows)", () => {
        assert.deepEqual(parseBundle(renderBundle("test", files, "true")), files);
    });

    it("writes each file with its mode, and the apply step sees only what changed", () => {
        const apply = 'for f in /etc/wireguard/wg0.conf /etc/nftables.conf; do if hk3s_changed "$f"; then echo "changed $f"; fi; done';
        const first = runBundle(renderBundle("test", files, apply), root);
        assert.match(first, /changed \/etc\/wireguard\/wg0.conf/);
        assert.match(first, /changed \/etc\/nftables.conf/);
        for (const f of files) {
            const onDisk = path.join(root, f.path);
            assert.equal(fs.readFileSync(onDisk, "utf8"), f.content);
            assert.equal((fs.statSync(onDisk).mode & 0o777).toString(8).padStart(4, "0"), f.mode);
        }
        const edited = [files[0], { ...files[1], content: "table inet t { }\n" }];
        const second = runBundle(renderBundle("test", edited, apply), root);
        assert.doesNotMatch(second, /changed \/etc\/wireguard/);
        assert.match(second, /changed \/etc\/nftables.conf/);
        const third = runBundle(renderBundle("test", edited, apply), root);
        assert.doesNotMatch(third, /^changed/m);
        assert.equal(fs.readdirSync(path.join(root, "etc")).filter((n) => n.endsWith(".hk3s-new")).length, 0);
    });

    it("stops at the first failing step", () => {
        const result = spawnSync("sh", ["-s"], { input: renderBundle("test", files, "false\necho after"), env: { ...process.env, ROOT: root }, encoding: "utf8" });
        assert.notEqual(result.status, 0);
        assert.doesNotMatch(result.stdout, /after/);
    });

    it("refuses relative paths and bad modes", () => {
        assert.throws(() => renderBundle("t", [{ path: "etc/x", mode: "0600", content: "" }], "true"), /must be absolute/);
        assert.throws(() => renderBundle("t", [{ path: "/etc/x", mode: "600", content: "" }], "true"), /four octal digits/);
        assert.throws(() => renderBundle("t", [{ path: "/etc/$(reboot)", mode: "0600", content: "" }], "true"), /must be absolute and use only/);
    });

    it("passes shellcheck, with the shared install and key snippets as apply steps", () => {
        requireTool("shellcheck", "shellcheck");
        const script = renderBundle("test", files, [installPackages({ apt: ["nftables"], dnf: ["nftables"] }, "nft"), authorizeKey("admin", "ssh-ed25519 AAAAC3Nza test")].join("\n"));
        const result = spawnSync("shellcheck", ["-s", "sh", "-"], { input: script, encoding: "utf8" });
        assert.equal(result.status, 0, result.stdout);
    });

    it("authorizes the cluster key once, however often it runs", () => {
        const script = renderBundle("bootstrap", [], authorizeKey("root", "ssh-ed25519 AAAAC3Nza cluster"));
        runBundle(script, root);
        runBundle(script, root);
        assert.equal(fs.readFileSync(path.join(root, "root/.ssh/authorized_keys"), "utf8"), "ssh-ed25519 AAAAC3Nza cluster\n");
    });
});
