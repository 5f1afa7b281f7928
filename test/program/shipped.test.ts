// Everything the prod plan would ship, checked by the program that consumes it on the host.
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseBundle } from "../../components/render/bundle";
import { PlanResult, readStackConfig, runPlan, unwrapSecrets } from "../../plan/plan";

function requireTool(tool: string, debianPackage: string): void {
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) assert.fail(`${tool} is missing: apt-get install -y ${debianPackage}`);
}

function check(command: string, args: string[], input?: string): { status: number | null; output: string } {
    const result = spawnSync(command, args, { input, encoding: "utf8" });
    return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe("what the prod plan ships, checked by its consumers", function () {
    this.timeout(120000);
    let plan: PlanResult;
    let dir: string;
    const filesNamed = (pattern: RegExp) =>
        Object.entries(plan.nodeFiles).flatMap(([node, files]) =>
            Object.entries(files)
                .filter(([file]) => pattern.test(file))
                .map(([file, { content }]) => ({ node, file, content })),
        );
    const written = (node: string, file: string, content: string) => {
        const target = path.join(dir, node, file);
        fs.mkdirSync(path.dirname(target), { recursive: true });
        fs.writeFileSync(target, content);
        return target;
    };

    before(async () => {
        const { config, secretKeys } = readStackConfig("prod");
        plan = await runPlan("prod", config, secretKeys);
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "hk3s-shipped-"));
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("every bundle sent to a host, and every script in it, passes shellcheck", () => {
        requireTool("shellcheck", "shellcheck");
        const scripts = plan.resources
            .filter((r) => r.type === "command:remote:Command")
            .map((r) => ({ name: r.name, stdin: unwrapSecrets((r.inputs as Record<string, unknown>).stdin) }))
            .filter((c): c is { name: string; stdin: string } => typeof c.stdin === "string" && c.stdin.length > 0);
        // One bundle per host and concern: 7 mesh, 7 firewall, 6 k3s and 2 edge steps in prod.
        assert.equal(scripts.length, plan.resources.filter((r) => r.type === "hybrid-k3s:host:HostFiles").length);
        assert.equal(scripts.length, 22);
        const shipped = scripts.flatMap((s) =>
            parseBundle(s.stdin)
                .filter((f) => f.content.startsWith("#!/bin/sh"))
                .map((f) => ({ name: `${s.name}:${f.path}`, stdin: f.content })),
        );
        const bootstraps = Object.entries(plan.outputs.bootstrapScripts as Record<string, string>).map(([node, stdin]) => ({
            name: `bootstrap ${node}`,
            stdin,
        }));
        for (const script of [...scripts, ...shipped, ...bootstraps]) {
            const result = check("shellcheck", ["-s", "sh", "-"], script.stdin);
            assert.equal(result.status, 0, `${script.name}:\n${result.output}`);
        }
    });

    it("every nftables ruleset passes nft -c", () => {
        requireTool("nft", "nftables");
        const rulesets = filesNamed(/^\/etc\/hybrid-k3s\/firewall\.nft$/);
        assert.equal(rulesets.length, plan.spec.nodes.length);
        for (const { node, file, content } of rulesets) {
            const result = check("nft", ["-c", "-f", written(node, file, content)]);
            assert.equal(result.status, 0, `${node}${file}:\n${result.output}`);
        }
    });

    it("every wg-quick config is accepted by wg-quick strip (the form wg setconf loads)", () => {
        requireTool("wg-quick", "wireguard-tools");
        for (const { node, file, content } of filesNamed(/^\/etc\/wireguard\/wg0\.conf$/)) {
            const result = check("wg-quick", ["strip", written(node, file, content)]);
            assert.equal(result.status, 0, `${node}${file}:\n${result.output}`);
            assert.match(result.output, /^PrivateKey = /m);
        }
    });

    it("every HAProxy edge config passes haproxy -c", () => {
        requireTool("haproxy", "haproxy");
        const configs = filesNamed(/^\/etc\/haproxy\/haproxy\.cfg$/);
        assert.deepEqual(
            configs.map((c) => c.node).sort(),
            plan.spec.nodes
                .filter((n) => n.roles.includes("edge"))
                .map((n) => n.name)
                .sort(),
        );
        for (const { node, file, content } of configs) {
            const result = check("haproxy", ["-c", "-f", written(node, file, content)]);
            assert.equal(result.status, 0, `${node}${file}:\n${result.output}`);
        }
    });

    it("every systemd unit passes systemd-analyze verify", () => {
        requireTool("systemd-analyze", "systemd");
        // k3s units name /usr/local/bin/k3s, which only exists on a node: test/render/k3s.test.ts verifies those
        // in a private mount namespace. Here: the units whose binaries this machine has.
        const units = filesNamed(/^\/etc\/systemd\/system\/hybrid-k3s-firewall\.service$/);
        assert.equal(units.length, plan.spec.nodes.length);
        for (const { node, file, content } of units) {
            const result = check("systemd-analyze", ["verify", written(node, file, content)]);
            assert.equal(result.status, 0, `${node}${file}:\n${result.output}`);
            assert.equal(result.output.trim(), "", `${node}${file}: ${result.output}`);
        }
    });
});
