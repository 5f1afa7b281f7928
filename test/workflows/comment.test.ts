// The sticky PR comment, built from real plans of the prod stack (and one of 300 hosts).
import { strict as assert } from "assert";
import { diffPlans, emptySnapshot, PlanSnapshot, snapshotOf } from "../../plan/diff";
import { buildComment, commentMarker, githubCommentLimit } from "../../plan/comment";
import { PlannedResource, planVerdict, PlanResult, readStackConfig, runPlan } from "../../plan/plan";

type Config = Record<string, string>;
const prod = readStackConfig("prod");
const plan = (config: Config, secretKeys = prod.secretKeys) => runPlan("prod", config, secretKeys);
const nodes = () => JSON.parse(prod.config["hybrid-k3s:nodes"]) as Array<Record<string, unknown>>;

function comment(before: PlanSnapshot, after: PlanSnapshot, limit?: number): { text: string; diff: string; steps: number } {
    const diff = diffPlans(before, after, "main");
    return {
        text: buildComment({
            stack: "prod",
            diff: diff.markdown,
            steps: diff.records,
            artifactUrl: "https://github.com/o/r/actions/runs/1/artifacts/2",
            limit,
        }),
        diff: diff.markdown,
        steps: diff.records.length,
    };
}

/** The hosts a comment has a section for. */
const hostsIn = (text: string) => [...text.matchAll(/^### (\S+) \(/gm)].map((m) => m[1]);
/** The resources in a comment's step tables. */
const stepNames = (text: string) => [...text.matchAll(/^\| (?:\d+|–) \| [^|]+ \| `([^`]+)`/gm)].map((m) => m[1]);

describe("PR comment: one sticky comment per stack from diff.md", function () {
    this.timeout(120000);
    let base: PlanResult;
    before(async () => {
        base = await plan(prod.config);
    });

    it("adding a host behind NAT shows exactly the hub and the new host, summary first", async () => {
        const grown = await plan({
            ...prod.config,
            "hybrid-k3s:nodes": JSON.stringify([
                ...nodes(),
                {
                    name: "rpi4",
                    provider: "existing",
                    arch: "arm64",
                    roles: ["agent"],
                    behindNat: true,
                    hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
                    enrolled: true,
                },
            ]),
        });
        const { text } = comment(snapshotOf(base), snapshotOf(grown));
        assert.ok(text.startsWith(`${commentMarker("prod")}\n## hybrid-k3s plan`), "the marker, then the summary");
        assert.deepEqual(hostsIn(text), ["phy01", "rpi4"]);
        assert.match(text, /\*\*Hosts\*\*: 2 change, 6 unchanged/);
        assert.match(text, /\| ~ update \| `phy01-mesh` \(Command\) \| its `create` script \(stdin changed\) \|/);
        assert.match(text, /\+# rpi4\n\+PublicKey = /, "the hub's new peer in its wg0.conf diff");
        assert.ok(text.length < githubCommentLimit);
        // Under a tighter limit the new host keeps its step table and drops its (long) file diffs.
        const tight = comment(snapshotOf(base), snapshotOf(grown), 5000).text;
        assert.ok(tight.length <= 5000, `${tight.length}`);
        assert.deepEqual(hostsIn(tight), ["phy01", "rpi4"]);
        assert.match(tight, /### rpi4 \(new host\)[\s\S]*`rpi4-k3s-files`[\s\S]*_file diffs in the artifact_/);
    });

    it("a k3s bump shows only upgrade steps and the version file, on every k3s node", async () => {
        const bumped = await plan({ ...prod.config, "hybrid-k3s:k3sVersion": "v1.36.2+k3s1" });
        const { text } = comment(snapshotOf(base), snapshotOf(bumped));
        const k3sNodes = base.spec.nodes.filter((n) => n.roles.includes("server") || n.roles.includes("agent")).map((n) => n.name);
        assert.deepEqual(hostsIn(text).sort(), [...k3sNodes].sort());
        const names = stepNames(text);
        assert.equal(names.length, 4 * k3sNodes.length);
        assert.ok(
            names.every((n) => /-k3s-(files|drain|upgrade|uncordon)$/.test(n)),
            names.join(", "),
        );
        assert.match(text, /\*\*24 steps\*\*: 0 create, 24 update, 0 replace, 0 delete/);
        const fileDiffs = [...text.matchAll(/^```diff\n([\s\S]*?)^```/gm)].map((m) => m[1]);
        assert.equal(fileDiffs.length, k3sNodes.length, "one file diff per k3s node");
        assert.ok(
            fileDiffs.every((d) => /^-v1\.36\.1\+k3s1$/m.test(d) && /^\+v1\.36\.2\+k3s1$/m.test(d)),
            "the version file, and nothing else",
        );
    });

    it("a change that opens 6443 shows the mandatory policy violation first", () => {
        // The config refuses 6443 in publicTcpPorts, so the change is made to a planned resource, as a hand edit would.
        const resources = base.resources.map((r): PlannedResource => {
            if (r.type !== "aws:ec2/securityGroup:SecurityGroup" || r.name !== "aws-arm") return r;
            const inputs = r.inputs as { ingress: object[] };
            return { ...r, inputs: { ...inputs, ingress: [...inputs.ingress, { protocol: "tcp", fromPort: 6443, toPort: 6443, cidrBlocks: ["0.0.0.0/0"] }] } };
        });
        const opened = { ...snapshotOf(base), resources, violations: planVerdict(resources) };
        const { text } = comment(snapshotOf(base), opened);
        const policy = text.split("\n").filter((l) => /^- (\*\*MANDATORY\*\*|advisory)/.test(l) || /\*\*Policy/.test(l));
        assert.match(policy[0], /\*\*Policy: FAILED\*\*, 1 mandatory violation/);
        assert.match(policy[1], /^- \*\*MANDATORY\*\* `no-api-port-open-to-internet` aws-arm: .*6443\/tcp/);
        assert.ok(policy.slice(2).every((l) => l.startsWith("- advisory")));
        assert.ok(text.indexOf("MANDATORY") < text.indexOf("### "), "before any host");
        assert.match(text, /\| ~ update \| `aws-arm` \(SecurityGroup\) \| provider call \(ingress changed\) \|/);
    });

    it("a secret change shows its label, never a value", async () => {
        const key = "hybrid-k3s:k3sDatastoreEndpoint";
        const endpoint = (password: string) => plan({ ...prod.config, [key]: `postgres://k3s:${password}@db.soh.re:5432/k3s` }, [...prod.secretKeys, key]);
        const [old, next] = [await endpoint("first-password-1234"), await endpoint("second-password-5678")];
        const { text, diff } = comment(snapshotOf(old), snapshotOf(next));
        for (const out of [text, diff]) {
            assert.ok(!out.includes("first-password-1234") && !out.includes("second-password-5678"), "no value");
            for (const [value] of next.secrets) assert.ok(!out.includes(value), "no generated secret either");
        }
        assert.match(text, /^-datastore-endpoint: "<secret: config hybrid-k3s:k3sDatastoreEndpoint>"$/m);
        assert.match(text, /^\+datastore-endpoint: "<secret: config hybrid-k3s:k3sDatastoreEndpoint \(changed\)>"$/m);
        assert.deepEqual(hostsIn(text), ["k3s-soh-re"], "the one server");
    });

    it("a 300-host change is cut below GitHub's limit at host boundaries, counts intact, the full diff linked", async () => {
        const address = (i: number) => `10.100.${Math.floor(i / 250)}.${(i % 250) + 2}`;
        const hosts = [
            {
                name: "hub",
                provider: "existing",
                arch: "amd64",
                roles: ["hub", "edge"],
                address: "203.0.113.10",
                meshAddress: address(0),
                hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
                enrolled: true,
            },
            {
                name: "server",
                provider: "existing",
                arch: "amd64",
                roles: ["server", "ingress"],
                address: "203.0.113.11",
                meshAddress: address(1),
                hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
                enrolled: true,
            },
            ...Array.from({ length: 298 }, (_, i) => ({
                name: `home-${i + 2}`,
                provider: "existing",
                arch: "amd64",
                roles: ["agent"],
                behindNat: true,
                meshAddress: address(i + 2),
                hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
                enrolled: true,
            })),
        ];
        const big = await runPlan(
            "big",
            { "hybrid-k3s:clusterName": "big", "hybrid-k3s:meshCidr": "10.100.0.0/16", "hybrid-k3s:nodes": JSON.stringify(hosts) },
            [],
        );
        // Its first `pulumi up`: a new stack, every host created.
        const { text, diff, steps } = comment(emptySnapshot("big"), snapshotOf(big));
        assert.ok(diff.length > githubCommentLimit, `the full diff (${diff.length} characters) needs cutting`);
        assert.ok(text.length < githubCommentLimit, `${text.length} characters`);
        const summary = diff.slice(0, diff.indexOf("<!-- section -->")).trim();
        assert.ok(text.includes(summary), "the whole summary, counts included");
        assert.match(summary, /\*\*Hosts\*\*: 300 change, 0 unchanged/);
        assert.match(text, new RegExp(`more section\\(s\\) with \\d+ more step row\\(s\\) not shown here; the counts above cover all ${steps} steps`));
        assert.match(text, /\[Full diff\.md and steps\.json\]\(https:\/\/github\.com\/o\/r\/actions\/runs\/1\/artifacts\/2\)/);
        assert.ok(hostsIn(text).length > 0 && hostsIn(text).length < 300);
        assert.equal((text.match(/```/g) ?? []).length % 2, 0, "no code block left open");
    });
});
