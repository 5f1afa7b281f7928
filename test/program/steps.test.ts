// The step model: what a real `pulumi up` would run between two plans of the prod stack, and in
// which order, and what the program does about the engine's order (decommission, deleteBeforeReplace,
// version-aware rolling steps, a kubeconfig read again when its server is replaced).
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PlanResult, readStackConfig, runPlan } from "../../plan/plan";
import { changes, ModelResource, Step, stepsBetween, waves } from "../../plan/steps";
import { enrolledHomeAgent, withNodes } from "./stackhelpers";

type Config = Record<string, string>;
type Node = Record<string, unknown>;

const prod = readStackConfig("prod");
const plan = (config: Config, secretKeys = prod.secretKeys) => runPlan("prod", config, secretKeys);

function node(nodes: Node[], name: string): Node {
    const found = nodes.find((n) => n.name === name);
    assert.ok(found, `no node ${name} in the prod config`);
    return found;
}

const without = (name: string) => withNodes((nodes) => nodes.splice(nodes.indexOf(node(nodes, name)), 1));

/** Steps on provider-managed resources (components run nothing and are bookkeeping). */
function realChanges(before: PlanResult, after: PlanResult): Step[] {
    const custom = new Set([...before.resources, ...after.resources].filter((r) => r.custom).map((r) => r.urn));
    return changes(stepsBetween(before.resources, after.resources)).filter((s) => custom.has(s.urn));
}

const describeStep = (s: Step) => `${s.op} ${s.name}${s.host ? `@${s.host}` : ""} runs ${s.runs}`;
const indexOf = (steps: Step[], op: Step["op"], name: string) => {
    const i = steps.findIndex((s) => s.op === op && s.name === name && s.type === "command:remote:Command");
    assert.ok(i >= 0, `no ${op} of ${name} in ${steps.map(describeStep).join(", ")}`);
    return i;
};
const waveOf = (steps: Step[], name: string) => waves(steps).findIndex((w) => w.some((s) => s.name === name && s.type === "command:remote:Command"));

describe("step model: the engine's steps between two plans of prod", function () {
    this.timeout(120000);
    let base: PlanResult;
    before(async () => {
        base = await plan(prod.config);
    });

    it("no change: two plans of one config are identical and give no step", async () => {
        const again = await plan(prod.config);
        assert.equal(JSON.stringify(again.resources), JSON.stringify(base.resources), "same seed, same resources byte for byte");
        const steps = stepsBetween(base.resources, again.resources);
        assert.deepEqual(changes(steps), []);
        assert.equal(steps.length, base.resources.length, "every resource is a same step");
        assert.deepEqual(waves(steps), []);
    });

    it("a first up creates everything, no step in a wave before a step it waits for; tearing down reverses it", () => {
        const up = stepsBetween([], base.resources);
        assert.ok(up.every((s) => s.op === "create"));
        const waveIndex = new Map(waves(up).flatMap((wave, i) => wave.map((s) => [s.urn, i] as const)));
        for (const [urn, i] of waveIndex) {
            const step = up.find((s) => s.urn === urn)!;
            for (const dep of step.after) assert.ok((waveIndex.get(dep) ?? -1) < i, `${step.name} runs with or before ${dep}`);
        }
        assert.ok(
            waveIndex.get(up.find((s) => s.name === "phy01-mesh" && s.type === "command:remote:Command")!.urn)! <
                waveIndex.get(up.find((s) => s.name === "white-amd-mesh" && s.type === "command:remote:Command")!.urn)!,
            "the hub's mesh first",
        );
        const down = stepsBetween(base.resources, []);
        const position = new Map(down.map((s, i) => [s.urn, i]));
        for (const step of down)
            for (const dep of step.after) assert.ok(position.get(step.urn)! < (position.get(dep) ?? Infinity), `${step.name} deleted before ${dep}`);
    });

    it("adding a node behind NAT: only the hub's mesh step and the new host's own steps, in order", async () => {
        const grown = await plan(withNodes((n) => n.push({ ...enrolledHomeAgent })));
        const steps = realChanges(base, grown);
        const updates = steps.filter((s) => s.op === "update");
        assert.deepEqual(updates.map(describeStep), ["update phy01-mesh@phy01 runs create"], "the hub re-runs its mesh bundle, nothing else changes");
        const elsewhere = steps.filter((s) => s.op === "create" && s.host !== "rpi4");
        assert.deepEqual(
            elsewhere.map((s) => s.name),
            ["soh-wg-rpi4"],
            "besides the new host's steps only its WireGuard key is created",
        );
        assert.deepEqual(
            steps.filter((s) => s.host === "rpi4" && s.runs !== "nothing").map((s) => s.name),
            ["rpi4-mesh", "rpi4-firewall", "rpi4-k3s-files"],
        );
        for (const step of ["drain", "upgrade", "uncordon", "remove"])
            assert.equal(steps.find((s) => s.name === `rpi4-k3s-${step}`)?.runs, "nothing", `${step} has no create script`);
        // The new host is reached through the hub: its mesh step waits for the hub's update.
        const all = changes(stepsBetween(base.resources, grown.resources));
        assert.ok(waveOf(all, "phy01-mesh") < waveOf(all, "rpi4-mesh"));
        assert.ok(waveOf(all, "rpi4-mesh") < waveOf(all, "rpi4-firewall") && waveOf(all, "rpi4-firewall") < waveOf(all, "rpi4-k3s-files"));
        assert.deepEqual(JSON.parse(JSON.stringify(all)), all, "steps are plain JSON");
    });

    it("removing a node behind NAT: decommissioned while the hub still routes it, then dropped with nothing left to run on it", async () => {
        const decommissioned = await plan(
            withNodes((n) => {
                node(n, "lenovo-laptop").decommission = true;
            }),
        );
        const leaving = changes(stepsBetween(base.resources, decommissioned.resources));
        assert.ok(!leaving.some((s) => s.name === "phy01-mesh"), "the hub keeps its peer during the teardown");
        const remove = indexOf(leaving, "update", "lenovo-laptop-k3s-remove");
        const uninstall = indexOf(leaving, "update", "lenovo-laptop-k3s-files");
        const leave = indexOf(leaving, "create", "lenovo-laptop-leave");
        assert.ok(remove < uninstall && uninstall < leave, "drain and delete the Node, then uninstall, then take the firewall and the mesh down");
        assert.equal(leaving[remove].runs, "create", "the drain runs on the server now, not at delete time");
        assert.ok(
            waveOf(leaving, "lenovo-laptop-k3s-remove") < waveOf(leaving, "lenovo-laptop-k3s-files") &&
                waveOf(leaving, "lenovo-laptop-k3s-files") < waveOf(leaving, "lenovo-laptop-leave"),
        );
        assert.ok(
            leaving.filter((s) => s.host && s.host !== "lenovo-laptop").every((s) => s.name === "lenovo-laptop-k3s-remove"),
            "nobody else is touched",
        );
        // Dropped from the config afterwards: the hub drops the peer, and no delete runs a script on the host that left.
        const dropped = realChanges(decommissioned, await plan(without("lenovo-laptop")));
        assert.deepEqual(dropped.filter((s) => s.op !== "delete").map(describeStep), ["update phy01-mesh@phy01 runs create"]);
        const scripts = dropped.filter((s) => s.op === "delete" && s.type === "command:remote:Command" && s.runs !== "nothing");
        assert.deepEqual(scripts.map(describeStep), [], "every delete of the node's steps runs nothing");
    });

    it("dropping a node without decommission: deletes run last, after the hub's update, so only a host reachable on its own address can be torn down", async () => {
        const steps = changes(stepsBetween(base.resources, (await plan(without("azure-amd"))).resources));
        const at = (type: string, name: string) => steps.findIndex((s) => s.op === "delete" && s.type === type && s.name === name);
        const vm = at("azure-native:compute:VirtualMachine", "azure-amd");
        assert.ok(vm > 0, steps.map(describeStep).join(", "));
        assert.ok(at("command:remote:Command", "azure-amd-k3s-files") < vm && at("command:remote:Command", "azure-amd-cloud-init") < vm);
        assert.ok(vm < at("azure-native:network:NetworkInterface", "azure-amd"));
        assert.ok(steps.filter((s) => s.op !== "delete").every((s) => steps.indexOf(s) < at("command:remote:Command", "azure-amd-k3s-remove")));
        assert.ok(
            indexOf(steps, "update", "phy01-mesh") < at("command:remote:Command", "azure-amd-k3s-remove"),
            "the engine's order: the hub drops the peer first",
        );
        // Harmless for a cloud VM: the teardown reaches it on its public address, not through the hub (NAT hosts decommission first).
        const files = base.resources.find((r) => r.type === "command:remote:Command" && r.name === "azure-amd-k3s-files")!;
        const connection = (files.inputs as { connection: { value?: { proxy?: unknown; host?: string } } }).connection;
        const target = (connection.value ?? connection) as { proxy?: unknown; host?: string };
        assert.equal(target.proxy, undefined);
        assert.match(String(target.host), /^198\.18\./);
    });

    it("a k3s version bump: the version file everywhere at once, then the upgrade steps of every k3s node, one node after another", async () => {
        const bumped = await plan({ ...prod.config, "hybrid-k3s:k3sVersion": "v1.36.2+k3s1" });
        const steps = realChanges(base, bumped);
        const k3sNodes = base.spec.nodes.filter((n) => n.roles.includes("server") || n.roles.includes("agent")).map((n) => n.name);
        const expected = k3sNodes.flatMap((n) => [
            `update ${n}-k3s-files@${n} runs create`,
            ...["drain", "upgrade", "uncordon"].map((step) => `update ${n}-k3s-${step}@${n} runs update`),
        ]);
        assert.deepEqual(steps.map(describeStep).sort(), expected.sort());
        const rolling = steps.filter((s) => !s.name.endsWith("-k3s-files"));
        const order = waves(rolling).map((w) => w.map((s) => s.name));
        assert.ok(
            order.every((w) => w.length === 1),
            "one upgrade step at a time (batch size 1)",
        );
        assert.deepEqual(order.flat().slice(0, 3), ["k3s-soh-re-k3s-drain", "k3s-soh-re-k3s-upgrade", "k3s-soh-re-k3s-uncordon"], "the server first");
        // The files step ships the new version file only; its install keeps the running release (test/render/k3s-install.test.ts).
        for (const n of k3sNodes)
            assert.deepEqual(
                Object.keys(bumped.nodeFiles[n]).filter((f) => bumped.nodeFiles[n][f].content !== base.nodeFiles[n][f].content),
                ["/etc/hybrid-k3s/k3s-version"],
            );
    });

    it("SSH key rotation is a connection change: every command on existing hosts updates, and the rolling steps find nothing to do", async () => {
        const keyKey = "hybrid-k3s:sshPrivateKey";
        const rotated = await plan(
            { ...prod.config, [keyKey]: `-----BEGIN OPENSSH ${"PRIVATE"} KEY-----\nrotated\n-----END OPENSSH ${"PRIVATE"} KEY-----\n` },
            [...prod.secretKeys, keyKey],
        );
        const steps = realChanges(base, rotated);
        const existing = base.spec.nodes.filter((n) => n.provider === "existing").map((n) => n.name);
        assert.ok(steps.length > 0 && steps.every((s) => s.op === "update" && s.changed!.includes("connection")), steps.map(describeStep).join(", "));
        assert.ok(
            steps.every((s) => existing.includes(s.host!)),
            "cloud hosts and the server-side drains keep the generated key",
        );
        assert.deepEqual(
            steps
                .filter((s) => s.name.endsWith("-k3s-upgrade"))
                .map((s) => s.host)
                .sort(),
            existing.filter((n) => n !== "phy01").sort(),
        );
        const upgrade = steps.find((s) => s.name === "white-amd-k3s-upgrade");
        // The engine re-runs an update-only step on any input change; each of these scripts checks the
        // running version first and does nothing when it already is the target (test/render/k3s-install.test.ts, k3s-lifecycle.test.ts).
        assert.equal(upgrade?.runs, "update");
        const scriptOf = (name: string) => JSON.stringify(rotated.resources.find((r) => r.type === "command:remote:Command" && r.name === name)!.inputs);
        assert.match(scriptOf("white-amd-k3s-upgrade"), /install-k3s\.sh upgrade/);
        assert.match(scriptOf("white-amd-k3s-drain"), /kubeletVersion/);
        assert.equal(steps.find((s) => s.name === "white-amd-k3s-files")?.runs, "create", "the bundle re-runs its create script");
        assert.ok(!steps.some((s) => s.op === "replace"), "no connection change replaces anything");
    });

    it("VM replacement: the old machine goes first, its successor gets every file again and the kubeconfig is read again", async () => {
        const pinned = (ami: string) =>
            withNodes((n) => {
                node(n, "k3s-soh-re").ami = ami;
            });
        const [old, next] = [await plan(pinned("ami-0123456789abcdef0")), await plan(pinned("ami-0fedcba9876543210"))];
        const steps = changes(stepsBetween(old.resources, next.resources));
        const instance = steps.find((s) => s.type === "aws:ec2/instance:Instance" && s.name === "k3s-soh-re" && !s.replaced)!;
        assert.equal(instance.op, "replace");
        assert.deepEqual(instance.replaceKeys, ["ami"]);
        assert.equal(instance.deleteBeforeReplace, true, "old and new never share a name, mesh address and WireGuard key");
        const oldHalf = steps.findIndex((s) => s.op === "delete" && s.urn === instance.urn);
        assert.ok(oldHalf >= 0 && oldHalf < steps.indexOf(instance), "the old instance is deleted before the new one is created");
        const fed = steps
            .filter((s) => s.becauseOf?.includes(instance.urn))
            .map((s) => `${s.op} ${s.name}`)
            .sort();
        assert.ok(fed.includes("replace k3s-soh-re-cloud-init"), `cloud-init waited for again: ${fed.join(", ")}`);
        for (const concern of ["mesh", "firewall", "k3s-files"])
            assert.ok(
                steps.some((s) => s.op === "update" && s.name === `k3s-soh-re-${concern}`),
                `${concern} re-ships to the new machine`,
            );
        assert.ok(
            steps.some((s) => s.op === "replace" && s.name === "k3s-soh-re-k3s-kubeconfig"),
            "the kubeconfig is read from the new server",
        );
    });

    it("an app added: its namespace, gateway, route and certificate are created, nothing on a host changes; removed: the namespace stays", async () => {
        const apps = JSON.parse(prod.config["hybrid-k3s:apps"]) as Node[];
        const added = await plan({
            ...prod.config,
            "hybrid-k3s:apps": JSON.stringify([...apps, { host: "grafana.soh.re", namespace: "grafana", service: "grafana", port: 3000 }]),
        });
        const steps = realChanges(base, added);
        assert.deepEqual(
            steps.map((s) => `${s.op} ${s.type.split(":").pop()}`).sort(),
            ["create Certificate", "create Gateway", "create NamespacePatch", "create VirtualService"],
            steps.map(describeStep).join(", "),
        );
        assert.ok(steps.every((s) => s.host === undefined && s.runs === "provider"));
        // Removing it again: the objects go; the namespace is a server-side-apply patch, whose delete
        // only gives up our fields (pulumi-kubernetes Patch resources), so the namespace itself stays.
        const removed = realChanges(added, base);
        assert.deepEqual(removed.map((s) => `${s.op} ${s.type.split(":").pop()} ${s.runs}`).sort(), [
            "delete Certificate provider",
            "delete Gateway provider",
            "delete NamespacePatch provider",
            "delete VirtualService provider",
        ]);
    });
});

describe("step model: engine rules on small graphs", () => {
    const command = (name: string, inputs: Record<string, unknown>, extra: Partial<ModelResource> = {}): ModelResource => ({
        urn: `urn:pulumi:s::p::command:remote:Command::${name}`,
        type: "command:remote:Command",
        name,
        custom: true,
        dependencies: [],
        propertyDependencies: {},
        ignoreChanges: [],
        inputs,
        options: { replaceOnChanges: ["triggers[*]"], protect: false, retainOnDelete: false },
        ...extra,
    });
    const a = (trigger: string, dbr?: boolean) =>
        command(
            "a",
            { create: "make a", delete: "rm a", triggers: [trigger] },
            { options: { replaceOnChanges: ["triggers[*]"], protect: false, retainOnDelete: false, deleteBeforeReplace: dbr } },
        );
    const b = (from: string) =>
        command("b", { create: "make b", triggers: [from] }, { dependencies: [a("").urn], propertyDependencies: { triggers: [a("").urn] } });

    it("a triggers change replaces create-before-delete: the old half is deleted after everything else", () => {
        const steps = changes(stepsBetween([a("1"), b("a1")], [a("2"), b("a1")]));
        assert.deepEqual(
            steps.map((s) => `${s.op}${s.replaced ? "-replaced" : ""} ${s.name} ${s.runs}`),
            ["replace a create", "replace b create", "delete-replaced b nothing", "delete-replaced a delete"],
        );
        assert.deepEqual(steps[1].becauseOf, [a("").urn], "b's trigger comes from the replaced a");
    });

    it("deleteBeforeReplace deletes the dependents that would be replaced, then the old one, then creates", () => {
        const steps = changes(stepsBetween([a("1", true), b("a1")], [a("2", true), b("a1")]));
        assert.deepEqual(
            steps.map((s) => `${s.op} ${s.name}`),
            ["delete b", "delete a", "replace a", "replace b"],
        );
        assert.deepEqual(
            waves(steps).map((w) => w.map((s) => `${s.op} ${s.name}`)),
            [["delete a"], ["replace a"], ["replace b"]],
            "b's delete runs nothing",
        );
    });

    it("ignoreChanges keeps the old script for an update, update wins over create, protect refuses a delete, retainOnDelete skips it", () => {
        const before = command("c", { create: "old", stdin: "1" }, { ignoreChanges: ["create"] });
        const after = command("c", { create: "new", stdin: "2" }, { ignoreChanges: ["create"] });
        const [update] = changes(stepsBetween([before], [after]));
        assert.deepEqual([update.op, update.runs, update.changed], ["update", "create", ["stdin"]]);
        const withUpdate = command("c", { create: "x", update: "u", stdin: "2" });
        assert.equal(changes(stepsBetween([command("c", { create: "x", update: "u", stdin: "1" })], [withUpdate]))[0].runs, "update");
        const protectedOne = command("c", { create: "x" }, { options: { replaceOnChanges: [], protect: true, retainOnDelete: false } });
        assert.match(changes(stepsBetween([protectedOne], []))[0].refused ?? "", /protected/);
        const retained = command("c", { create: "x", delete: "rm" }, { options: { replaceOnChanges: [], protect: false, retainOnDelete: true } });
        assert.equal(changes(stepsBetween([retained], []))[0].runs, "nothing", "retainOnDelete skips the delete script");
    });
});

describe("plan CLI --base", function () {
    this.timeout(60000);
    it("--base HEAD on an unchanged tree lists no step", function () {
        // Uncommitted program edits would rightly show up as steps; the claim is about a clean tree.
        const dirty = spawnSync("git", ["status", "--porcelain", "--", "components", "index.ts", "Pulumi.yaml", "Pulumi.prod.yaml"], {
            cwd: path.join(__dirname, "../.."),
            encoding: "utf8",
        });
        if (dirty.status !== 0 || dirty.stdout.trim() !== "") this.skip();
        const out = fs.mkdtempSync(path.join(os.tmpdir(), "hk3s-base-test-"));
        try {
            const result = spawnSync(
                process.execPath,
                ["--import=tsx", path.join(__dirname, "../../plan/cli.ts"), "--stack", "prod", "--base", "HEAD", "--out", out],
                { encoding: "utf8" },
            );
            assert.equal(result.status, 0, result.stderr);
            assert.deepEqual(JSON.parse(fs.readFileSync(path.join(out, "prod/steps.json"), "utf8")), []);
            assert.match(fs.readFileSync(path.join(out, "prod/diff.md"), "utf8"), /\*\*No changes\*\*/);
        } finally {
            fs.rmSync(out, { recursive: true, force: true });
        }
    });
});
