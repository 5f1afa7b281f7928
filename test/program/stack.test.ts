// Whole stacks under Pulumi's mock runtime, through the same runPlan the offline plan uses.
import { parseBundle } from "../../components/render/bundle";
import { firewallRulesetPath } from "../../components/paths";
import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { isSecretValue } from "../../plan/mocks";
import { PlannedResource, planVerdict, PlanResult, redactSecretInputs, unwrapSecrets } from "../../plan/plan";
import { planExitCode, writePlan } from "../../plan/cli";
import { enrolledHomeAgent, plan, prodConfig, withNodes } from "./stackhelpers";

const key = (r: PlannedResource) => `${r.type}::${r.name}`;
const commands = (p: PlanResult) => p.resources.filter((r) => r.type === "command:remote:Command");
const inputsOf = (r: PlannedResource) => r.inputs as Record<string, unknown>;

/** The inputs the engine diffs: everything but what ignoreChanges names. */
function diffedInputs(r: PlannedResource): string {
    const inputs = { ...(unwrapSecrets(r.inputs) as Record<string, unknown>) };
    for (const ignored of r.ignoreChanges) delete inputs[ignored];
    return JSON.stringify(inputs);
}

/** Custom (real, provider-managed) resources that a second plan of one stack would update. */
function changedResources(before: PlanResult, after: PlanResult): string[] {
    const old = new Map(before.resources.map((r) => [key(r), diffedInputs(r)]));
    return after.resources
        .filter((r) => !r.type.startsWith("hybrid-k3s:") && !r.type.startsWith("pulumi:"))
        .filter((r) => old.has(key(r)) && old.get(key(r)) !== diffedInputs(r))
        .map((r) => r.name)
        .sort();
}

describe("program: the prod stack under mocks", function () {
    this.timeout(120000);
    let prod: PlanResult;
    before(async () => {
        const { config, secretKeys } = prodConfig();
        prod = await plan(config, secretKeys);
    });

    it("creates every layer: hosts, mesh, firewall, k3s, ingress, edge", () => {
        const count = (type: string) => prod.resources.filter((r) => r.type === type).length;
        assert.equal(count("hybrid-k3s:host:AwsHost"), 2);
        assert.equal(count("hybrid-k3s:host:AzureHost"), 1);
        assert.equal(count("hybrid-k3s:host:ExistingHost"), 4);
        assert.equal(count("aws:ec2/instance:Instance"), 2);
        assert.equal(count("azure-native:compute:VirtualMachine"), 1);
        assert.equal(count("hybrid-k3s:k3s:K3sNode"), 6);
        assert.equal(count("kubernetes:helm.sh/v3:Release"), 4, "istio base, istiod, gateway and cert-manager");
        assert.equal(count("hybrid-k3s:edge:Edge"), 1);
        for (const node of prod.spec.nodes) {
            const files = prod.nodeFiles[node.name];
            assert.ok(files["/etc/wireguard/wg0.conf"], `${node.name} gets its wg config`);
            assert.ok(files[firewallRulesetPath], `${node.name} gets its ruleset`);
            const inCluster = node.roles.includes("server") || node.roles.includes("agent");
            const unit = node.roles.includes("server") ? "k3s.service" : "k3s-agent.service";
            assert.equal(Boolean(files[`/etc/systemd/system/${unit}`]), inCluster, `${node.name} k3s unit`);
            assert.equal(Boolean(files["/etc/haproxy/haproxy.cfg"]), node.roles.includes("edge"), `${node.name} edge config`);
        }
    });

    it("gives every resource a unique URN", () => {
        const seen = new Set<string>();
        for (const r of prod.resources) {
            assert.ok(!seen.has(key(r)), `duplicate ${key(r)}`);
            seen.add(key(r));
        }
    });

    it("keeps secrets secret: outputs, the token's journey, and what the plan writes", () => {
        for (const name of ["kubeconfig", "operatorConfigs", "bootstrapScripts"]) assert.ok(prod.secretOutputs.includes(name), `${name} is secret`);
        assert.ok(!prod.secretOutputs.includes("nodes"));
        const tokenOf = (label: string) => [...prod.secrets].find(([, l]) => l.includes(label))![0];
        const token = tokenOf("k3s-token.result");
        const agentToken = tokenOf("k3s-agent-token.result");
        assert.ok(token.length >= 32 && agentToken.length >= 32 && token !== agentToken);
        const receivers = (secret: string) =>
            commands(prod)
                .filter((command) => {
                    const inputs = inputsOf(command);
                    for (const field of ["create", "update", "delete", "environment", "triggers"]) {
                        assert.ok(!JSON.stringify(unwrapSecrets(inputs[field]) ?? "").includes(secret), `a token in ${command.name}.${field}`);
                    }
                    const files = parseBundle(String(unwrapSecrets(inputs.stdin) ?? ""));
                    if (!files.some((f) => f.content.includes(secret))) return false;
                    assert.ok(isSecretValue(inputs.stdin), `${command.name} ships a token on a stdin that is not secret`);
                    return true;
                })
                .map((c) => c.name)
                .sort();
        // The server token is cluster admin: servers only. Agents get the agent token, which joins and nothing more.
        assert.deepEqual(receivers(token), ["k3s-soh-re-k3s-files"]);
        const k3sNodes = prod.spec.nodes
            .filter((n) => n.roles.includes("server") || n.roles.includes("agent"))
            .map((n) => `${n.name}-k3s-files`)
            .sort();
        assert.deepEqual(receivers(agentToken), k3sNodes);
        assert.ok(!JSON.stringify(prod.resources.map((r) => redactSecretInputs(r.inputs))).includes(token));
        const out = fs.mkdtempSync(path.join(os.tmpdir(), "hk3s-plan-"));
        try {
            const dir = writePlan(prod, out, false);
            const written = fs
                .readdirSync(dir, { recursive: true, encoding: "utf8" })
                .map((f) => path.join(dir, f))
                .filter((f) => fs.statSync(f).isFile());
            for (const file of written) assert.ok(!fs.readFileSync(file, "utf8").includes(token), `token in ${file}`);
            assert.match(
                fs.readFileSync(path.join(dir, "nodes/white-amd/etc/rancher/k3s/agent-token"), "utf8"),
                /^K10[0-9a-f]{64}::node:<secret: .*k3s-agent-token/,
            );
            assert.ok(!fs.existsSync(path.join(dir, "nodes/white-amd/etc/rancher/k3s/token")), "an agent never holds the server token");
            assert.equal(fs.statSync(path.join(dir, "nodes/white-amd/etc/wireguard/wg0.conf")).mode & 0o777, 0o600);
        } finally {
            fs.rmSync(out, { recursive: true, force: true });
        }
    });

    it("passes the policy pack", () => {
        assert.deepEqual(
            prod.violations.filter((v) => v.enforcement === "mandatory"),
            [],
        );
        for (const v of prod.violations) assert.equal(v.policy, "ssh-open-to-internet", "only the advisory SSH warning (seed 002 leaves SSH open)");
    });

    it("adding a node re-runs only the hub's mesh step (blast radius)", async () => {
        const grown = await plan(withNodes((n) => n.push({ ...enrolledHomeAgent })));
        assert.deepEqual(changedResources(prod, grown), ["phy01-mesh"]);
        assert.ok(grown.nodeFiles.rpi4["/etc/wireguard/wg0.conf"]);
    });

    it("a k3s version bump changes only the rolling upgrade steps and the version file, servers first, agents one at a time", async () => {
        const bumped = await plan({ ...prodConfig().config, "hybrid-k3s:k3sVersion": "v1.36.2+k3s1" });
        const k3sNodes = prod.spec.nodes.filter((n) => n.roles.includes("server") || n.roles.includes("agent")).map((n) => n.name);
        const expected = k3sNodes.flatMap((n) => ["files", "drain", "upgrade", "uncordon"].map((step) => `${n}-k3s-${step}`)).sort();
        // The files step only ships the new version file (its install keeps the running release; the upgrade step moves it).
        for (const node of k3sNodes) {
            const changed = Object.keys(bumped.nodeFiles[node]).filter((f) => bumped.nodeFiles[node][f].content !== prod.nodeFiles[node][f]?.content);
            assert.deepEqual(changed, ["/etc/hybrid-k3s/k3s-version"], node);
        }
        assert.deepEqual(changedResources(prod, bumped), expected);
        // The rolling order: each node's drain waits for the previous node's uncordon.
        const drains = commands(bumped).filter((c) => c.name.endsWith("-k3s-drain"));
        const previousOf = (c: PlannedResource) =>
            c.dependsOn.filter((d) => d.endsWith("-k3s-uncordon")).map((d) => d.split("::")[1].replace(/-k3s-uncordon$/, ""));
        const order: string[] = [];
        let next = drains.find((d) => previousOf(d).length === 0);
        while (next) {
            const node = next.name.replace(/-k3s-drain$/, "");
            order.push(node);
            next = drains.find((d) => previousOf(d).includes(node));
        }
        assert.deepEqual(order.length, k3sNodes.length, `one chain through every node, got ${order.join(" → ")}`);
        assert.equal(order[0], "k3s-soh-re", "the server goes first");
        const drainScript = String(unwrapSecrets(inputsOf(drains.find((d) => d.name === "white-amd-k3s-drain")!).update));
        assert.match(drainScript, /v1\.36\.2\+k3s1/);
        assert.match(drainScript, /kubectl drain '\\''white-amd'\\''/, "drains the node, its name quoted inside the sh -c script");
        assert.equal(inputsOf(drains[0]).create, undefined, "nothing runs on first install");
    });

    it("agents install in parallel: none waits for another agent", () => {
        const installs = commands(prod).filter((c) => c.name.endsWith("-k3s-files"));
        const agents = prod.spec.nodes.filter((n) => n.roles.includes("agent")).map((n) => n.name);
        const componentDeps = prod.resources.filter((r) => r.type === "hybrid-k3s:host:HostFiles" && r.name.endsWith("-k3s-files"));
        assert.equal(installs.length, 6);
        for (const agent of agents) {
            const deps = [...installs, ...componentDeps].filter((c) => c.name === `${agent}-k3s-files`).flatMap((c) => c.dependsOn);
            for (const other of agents) assert.ok(!deps.some((d) => d.includes(`${other}-k3s`)), `${agent} waits for ${other}`);
        }
    });

    it("removing a node drains it, deletes its Node object, then uninstalls k3s on it", async () => {
        const remove = commands(prod).find((c) => c.name === "lenovo-laptop-k3s-remove")!;
        const deleteScript = String(unwrapSecrets(inputsOf(remove).delete));
        assert.ok(deleteScript.indexOf("drain") < deleteScript.indexOf("delete node"), deleteScript);
        assert.ok(
            remove.dependsOn.some((d) => d.endsWith("lenovo-laptop-k3s-files")),
            "deleted before the files step, whose delete uninstalls",
        );
        const files = commands(prod).find((c) => c.name === "lenovo-laptop-k3s-files")!;
        assert.match(String(unwrapSecrets(inputsOf(files).delete)), /uninstall-k3s\.sh/);
        const shrunk = await plan(
            withNodes((n) =>
                n.splice(
                    n.findIndex((x) => x.name === "lenovo-laptop"),
                    1,
                ),
            ),
        );
        assert.ok(!shrunk.resources.some((r) => r.name.startsWith("lenovo-laptop")));
        assert.deepEqual(changedResources(prod, shrunk), ["phy01-mesh"]);
    });

    it("decommissioning a node behind NAT tears it down while it is still on the mesh, and leaves nothing to run when it is dropped", async () => {
        const leaving = await plan(
            withNodes((n) => {
                n.find((x) => x.name === "lenovo-laptop")!.decommission = true;
            }),
        );
        const byName = new Map(commands(leaving).map((c) => [c.name, c]));
        const remove = byName.get("lenovo-laptop-k3s-remove")!;
        assert.match(String(unwrapSecrets(inputsOf(remove).create)), /drain[\s\S]*delete node/, "drained and deleted now, on the server");
        const teardown = byName.get("lenovo-laptop-k3s-files")!;
        assert.ok(
            teardown.dependsOn.includes("command:remote:Command::lenovo-laptop-k3s-remove") ||
                leaving.resources.some(
                    (r) =>
                        r.name === "lenovo-laptop-k3s-files" &&
                        r.type === "hybrid-k3s:host:HostFiles" &&
                        r.dependsOn.some((d) => d.endsWith("lenovo-laptop-k3s-remove")),
                ),
        );
        assert.match(String(unwrapSecrets(inputsOf(teardown).stdin)), /uninstall-k3s\.sh/);
        const leave = byName.get("lenovo-laptop-leave")!;
        for (const step of ["mesh", "firewall", "k3s-files"])
            assert.ok(
                leave.dependsOn.some((d) => d.endsWith(`lenovo-laptop-${step}`)),
                `leaves after its ${step} step`,
            );
        assert.match(String(unwrapSecrets(inputsOf(leave).create)), /nft delete table inet hybrid_k3s[\s\S]*systemd-run --quiet --on-active=5/);
        // The hub still lists it (the teardown reaches it through the hub), and nobody else changes.
        assert.match(leaving.nodeFiles.phy01["/etc/wireguard/wg0.conf"].content, /# lenovo-laptop/);
        assert.deepEqual(
            changedResources(prod, leaving).filter((name) => !name.startsWith("lenovo-laptop")),
            [],
        );
        // Dropped afterwards: none of its steps has a delete script left to run on a host that is gone.
        for (const command of commands(leaving).filter((c) => c.name.startsWith("lenovo-laptop"))) {
            assert.equal(inputsOf(command).delete, undefined, `${command.name} would run a delete on a host that left`);
        }
        assert.ok(!leaving.resources.some((r) => /^lenovo-laptop-k3s-(drain|upgrade|uncordon)$/.test(r.name)));
    });

    it("decommissioning with purge deletes the k3s data in that same up; the leaving host's cleanup runs from a file", async () => {
        const teardownOf = async (purge: boolean) => {
            const p = await plan(
                withNodes((n) => {
                    Object.assign(
                        n.find((x) => x.name === "lenovo-laptop")!,
                        { decommission: true, ...(purge ? { purge: true } : {}) },
                    );
                }),
            );
            const byName = new Map(commands(p).map((c) => [c.name, c]));
            return {
                files: String(unwrapSecrets(inputsOf(byName.get("lenovo-laptop-k3s-files")!).stdin)),
                leave: String(unwrapSecrets(inputsOf(byName.get("lenovo-laptop-leave")!).create)),
            };
        };
        // The uninstall runs as this up renders it: the copy on the host predates the purge.
        const purged = await teardownOf(true);
        assert.match(purged.files, /# purge: the node's data goes too[\s\S]*rm -rf "\$data_dir"/);
        assert.match((await teardownOf(false)).files, /kept \$data_dir \(volumes, images\)/);
        // systemd expands $VAR in a unit's command line, so the delayed cleanup's text goes to a file first.
        assert.match(purged.leave, /cat > \/run\/hybrid-k3s-cleanup\.sh <<'\\''HK3S_CLEANUP'\\''/);
        const delayed = purged.leave.split("\n").filter((line) => line.startsWith("systemd-run"));
        assert.deepEqual(
            delayed.map((line) => line.replace(/ \/bin\/sh.*/, "")),
            ["systemd-run --quiet --on-active=5", "systemd-run --quiet --on-active=15"],
        );
        for (const line of delayed) assert.doesNotMatch(line, /\$/, `no shell variable for systemd to expand: ${line}`);
    });

    it("the policy verdict fails a plan whose edge security group opens the API port", () => {
        // The config refuses such a port before any resource exists (test/program/config-refusals.test.ts);
        // the pack is the second wall, for changes made around the config (a hand edit, another program).
        const opened = prod.resources.map((r) =>
            r.type === "aws:ec2/securityGroup:SecurityGroup" && r.name === "aws-arm"
                ? {
                      ...r,
                      inputs: {
                          ...inputsOf(r),
                          ingress: [...(inputsOf(r).ingress as object[]), { protocol: "tcp", fromPort: 6443, toPort: 6443, cidrBlocks: ["0.0.0.0/0"] }],
                      },
                  }
                : r,
        );
        const mandatory = planVerdict(opened).filter((v) => v.enforcement === "mandatory");
        assert.equal(mandatory.length, 1, JSON.stringify(mandatory));
        assert.match(mandatory[0].message, /SecurityGroup "aws-arm" ingress\[\d+\] opens API port 6443\/tcp to the whole internet \(source 0\.0\.0\.0\/0\)/);
        assert.equal(planExitCode(mandatory), 1);
        assert.equal(planExitCode(prod.violations), 0);
    });

    it("installs Istio from its charts in order, at the pinned version, with the gateway on fixed NodePorts", () => {
        const releases = prod.resources.filter((r) => r.type === "kubernetes:helm.sh/v3:Release");
        const release = (chart: string) => releases.find((r) => inputsOf(r).chart === chart)!;
        for (const chart of ["base", "istiod", "gateway"]) {
            assert.equal(inputsOf(release(chart)).version, prod.spec.ingress.istioVersion, chart);
            assert.equal((inputsOf(release(chart)).repositoryOpts as { repo: string }).repo, "https://istio-release.storage.googleapis.com/charts");
            assert.equal(inputsOf(release(chart)).namespace, "istio-system");
        }
        assert.ok(release("istiod").dependsOn.includes(key(release("base"))), "istiod after base");
        assert.ok(release("gateway").dependsOn.includes(key(release("istiod"))), "gateway after istiod");
        assert.equal(inputsOf(release("cert-manager")).version, prod.spec.ingress.certManagerVersion);
        const service = (inputsOf(release("gateway")).values as { service: { type: string; ports: Array<{ name: string; nodePort?: number }> } }).service;
        assert.equal(service.type, "NodePort");
        assert.deepEqual(
            service.ports.filter((p) => p.nodePort).map((p) => [p.name, p.nodePort]),
            [
                ["http2", 30080],
                ["https", 30443],
            ],
        );
    });

    it("routes each app through its own Gateway and VirtualService, with a certificate", () => {
        const objects = prod.resources
            .filter((r) => (r.type.startsWith("kubernetes:") && r.type.endsWith(":Gateway")) || /:(VirtualService|Certificate|ClusterIssuer)$/.test(r.type))
            .map(inputsOf);
        const kinds = objects.map((o) => o.kind).sort();
        assert.deepEqual(kinds, ["Certificate", "ClusterIssuer", "Gateway", "VirtualService"]);
        const route = objects.find((o) => o.kind === "VirtualService") as {
            spec: { hosts: string[]; http: Array<{ route?: Array<{ destination: { host: string; port: { number: number } } }> }> };
        };
        assert.deepEqual(route.spec.hosts, ["zot.soh.re"]);
        assert.deepEqual(
            route.spec.http.flatMap((h) => h.route ?? []).map((r) => [r.destination.host, r.destination.port.number]),
            [["zot.zot.svc.cluster.local", 5000]],
        );
    });

    it("points every edge proxy at exactly the ingress nodes' mesh addresses and gateway NodePorts", () => {
        const ingress = prod.spec.nodes.filter((n) => n.roles.includes("ingress")).map((n) => n.meshAddress);
        const others = prod.spec.nodes.filter((n) => !n.roles.includes("ingress")).map((n) => n.meshAddress);
        for (const edge of prod.spec.nodes.filter((n) => n.roles.includes("edge"))) {
            const config = prod.nodeFiles[edge.name]["/etc/haproxy/haproxy.cfg"].content;
            const servers = [...config.matchAll(/^\s*server \S+ ([\d.]+):(\d+)/gm)].map((m) => `${m[1]}:${m[2]}`).sort();
            assert.deepEqual(servers, [...ingress.map((a) => `${a}:30080`), ...ingress.map((a) => `${a}:30443`)].sort(), edge.name);
            for (const address of others) assert.ok(!config.includes(`${address}:`), `${edge.name} forwards to non-ingress ${address}`);
        }
    });

    it("publishes each app host as one round-robin A record over every edge's public address", async () => {
        const { config } = prodConfig();
        const withDns = await plan({ ...config, "hybrid-k3s:dnsProvider": "route53", "hybrid-k3s:dnsZone": "soh.re" });
        const records = withDns.resources.filter((r) => r.type === "aws:route53/record:Record").map(inputsOf);
        const edges = (withDns.outputs.nodes as Array<{ roles: string[]; publicAddress: string }>).filter((n) => n.roles.includes("edge"));
        assert.equal(records.length, 1);
        assert.equal(records[0].name, "zot.soh.re");
        assert.deepEqual(records[0].records, edges.map((e) => e.publicAddress).sort());
        assert.equal(edges.length, 2);
    });

    it("plans a ZeroTier stack through the same Mesh interface", async () => {
        const zt = await plan(
            withNodes(
                (n) =>
                    n.forEach((x, i) => {
                        x.roles = (x.roles as string[]).filter((r) => r !== "hub");
                        // What each NAT host's bootstrap printed: Central authorizes it before Pulumi reaches it.
                        if (x.behindNat) x.zerotierMemberId = `a1b2c3d4e${i}`;
                    }),
                {
                    "hybrid-k3s:meshKind": "zerotier",
                    "hybrid-k3s:zerotierNetworkId": "8056c2e21c000001",
                    "hybrid-k3s:zerotierApiToken": "test-token",
                },
            ),
            ["hybrid-k3s:zerotierApiToken"],
        );
        assert.match(zt.nodeFiles["white-amd"]["/var/lib/zerotier-one/local.conf"].content, /"flannel",\s*"cni"/);
        assert.match(zt.nodeFiles["white-amd"]["/etc/rancher/k3s/config.yaml"].content, /^flannel-iface: "zt0"$/m);
        assert.match(
            zt.nodeFiles["white-amd"]["/etc/hybrid-k3s/firewall.nft"].content,
            /iifname "zt0" accept/,
            "the firewall trusts the interface the mesh really uses",
        );
        assert.ok(!zt.resources.some((r) => r.type === "random:index/randomBytes:RandomBytes"), "no WireGuard keys for ZeroTier");
    });
});

describe("plan CLI", function () {
    this.timeout(120000);
    it("exits 1 with every validation error on a bad stack config", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hk3s-stack-"));
        try {
            const doc = parseYaml(fs.readFileSync(path.join(__dirname, "../../Pulumi.prod.yaml"), "utf8"));
            doc.config["hybrid-k3s:meshCidr"] = "10.42.0.0/24";
            doc.config["hybrid-k3s:nodes"][1].name = "phy01";
            fs.writeFileSync(path.join(dir, "Pulumi.bad.yaml"), stringifyYaml(doc));
            const { spawnSync } = require("child_process") as typeof import("child_process");
            const result = spawnSync(
                process.execPath,
                ["--import=tsx", path.join(__dirname, "../../plan/cli.ts"), "--stack", "bad", "--dir", dir, "--out", path.join(dir, "out")],
                { encoding: "utf8" },
            );
            assert.equal(result.status, 1, result.stderr);
            assert.match(result.stderr, /meshCidr: 10\.42\.0\.0\/24 overlaps clusterCidr/);
            assert.match(result.stderr, /nodes\[1\]\.name: "phy01" is already the name of nodes\[0\]/);
            assert.ok(!fs.existsSync(path.join(dir, "out")), "nothing is written");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
