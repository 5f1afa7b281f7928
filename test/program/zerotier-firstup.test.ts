// The first up of the ZeroTier example's hosts behind NAT: their bootstrap script joins the network
// and prints the member id (run here against a scratch root with shims), and the up authorizes that
// member in Central, from the machine running Pulumi, before the first SSH step reaches the host.
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { zerotierHome } from "../../components/paths";
import { parseBundle } from "../../components/render/bundle";
import { zerotierSigningKeyFingerprint } from "../../components/render/zerotier";
import { PlannedResource, readStackConfig, runPlan, PlanResult } from "../../plan/plan";

const dir = path.join(__dirname, "../../examples/zerotier");

describe("ZeroTier first up: hosts behind NAT (planned)", function () {
    this.timeout(120000);
    let plan: PlanResult;
    const scratch: string[] = [];
    before(async () => {
        const { config, secretKeys } = readStackConfig("zerotier", dir);
        plan = await runPlan("zerotier", config, secretKeys, "firstup");
    });
    after(() => scratch.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

    const natNodes = () => plan.spec.nodes.filter((n) => n.existing?.behindNat);
    const resource = (type: string, name: string): PlannedResource => {
        const found = plan.resources.find((r) => r.type === type && r.name === name);
        assert.ok(found, `${type}::${name} is planned`);
        return found;
    };

    it("authorizes each NAT host's configured member id before its first SSH step, from the machine running Pulumi", () => {
        assert.equal(natNodes().length, 3);
        for (const node of natNodes()) {
            const authorize = resource("command:local:Command", `${node.name}-mesh-authorize`);
            const create = String((authorize.inputs as Record<string, unknown>).create);
            assert.match(create, new RegExp(`/api/v1/network/${plan.spec.mesh.zerotierNetworkId}/member/${node.existing!.zerotierMemberId}'`));
            assert.ok(create.includes(`"ipAssignments":["${node.meshAddress}"]`) && create.includes(`"name":"${node.name}"`));
            assert.ok(create.startsWith("set -eu") && create.includes("https://api.zerotier.com/api/v1/network/"));
            // Every command that reaches the host over SSH waits for it, the first one (the mesh bundle) included.
            const sshSteps = plan.resources.filter((r) => r.type === "command:remote:Command" && r.name.startsWith(`${node.name}-`));
            assert.ok(sshSteps.length > 2, node.name);
            const first = resource("command:remote:Command", `${node.name}-mesh`);
            assert.ok(first.dependencies.includes(authorize.urn), `${node.name}-mesh waits for the authorization`);
            assert.ok(!authorize.dependencies.some((urn) => sshSteps.some((s) => s.urn === urn)), "the authorization needs nothing from the host");
        }
        // A public host is authorized with the id its own join step prints.
        const edge = resource("command:local:Command", "aws-edge-mesh-authorize");
        assert.ok(edge.dependencies.includes(resource("command:remote:Command", "aws-edge-mesh").urn));
    });

    it("a NAT host's bootstrap installs ZeroTier (pinned key), joins, and prints the member id its owner puts in zerotierMemberId", () => {
        const scripts = plan.outputs.bootstrapScripts as Record<string, string>;
        assert.deepEqual(Object.keys(scripts).sort(), ["rack-1", "rack-2", "rack-3"]);
        const script = scripts["rack-1"];
        assert.ok(script.includes(zerotierSigningKeyFingerprint), "installs from the signed repository");
        assert.deepEqual(
            parseBundle(script).map((f) => f.path),
            [`${zerotierHome}/local.conf`, `${zerotierHome}/devicemap`],
        );

        const root = fs.mkdtempSync(path.join(os.tmpdir(), "hk3s-zt-bootstrap-"));
        scratch.push(root);
        const bin = path.join(root, "shims");
        fs.mkdirSync(bin);
        const log = path.join(root, "calls");
        const shim = (name: string, body: string) =>
            fs.writeFileSync(path.join(bin, name), `#!/bin/sh\necho "${name} $*" >> ${log}\n${body}\n`, { mode: 0o755 });
        // As on a host where the package is in: the CLI answers `info` with its address.
        shim("zerotier-cli", 'if [ "$1" = info ]; then echo "200 info 3a4f0c21b7 1.14.2 ONLINE"; fi');
        shim("systemctl", "");
        const run = spawnSync("sh", ["-s"], { input: script, env: { PATH: `${bin}:/usr/bin:/bin`, ROOT: root }, encoding: "utf8" });
        assert.equal(run.status, 0, run.stderr);
        assert.match(run.stdout, /^hybrid-k3s: zerotier member 3a4f0c21b7$/m);
        const calls = fs.readFileSync(log, "utf8").trim().split("\n");
        assert.ok(calls.includes(`zerotier-cli join ${plan.spec.mesh.zerotierNetworkId}`), calls.join("\n"));
        assert.equal(fs.readFileSync(path.join(root, zerotierHome, "devicemap"), "utf8"), `${plan.spec.mesh.zerotierNetworkId}=zt0\n`);
        assert.match(fs.readFileSync(path.join(root, "root/.ssh/authorized_keys"), "utf8"), /^ssh-ed25519 /);
    });

    it("holds NAT hosts back, saying why, until the machine running Pulumi is on ZeroTier", async () => {
        const { config, secretKeys } = readStackConfig("zerotier", dir);
        const offMesh = { ...config, "hybrid-k3s:operators": JSON.stringify([{ name: "ops-laptop", meshAddress: "10.147.17.100", runsPulumi: true }]) };
        const first = await runPlan("zerotier", offMesh, secretKeys, "firstup");
        assert.ok(
            (first.outputs.heldBack as string[]).includes(
                "hosts behind NAT on ZeroTier are reached over ZeroTier: join the machine running Pulumi to the network, add it to operators with runsPulumi: true, enrolled: true",
            ),
            String(first.outputs.heldBack),
        );
        assert.ok((first.outputs.heldBack as string[]).includes("edge: no ingress node is reachable yet, so the edge proxies wait"));
        const meshSteps = first.resources.filter((r) => r.type === "command:remote:Command" && r.name.endsWith("-mesh")).map((r) => r.name);
        assert.deepEqual(meshSteps.sort(), ["aws-edge-mesh", "azure-edge-mesh"], "only the public hosts are reached");
    });
});
