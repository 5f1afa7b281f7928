import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { parse as parseYaml } from "yaml";
import { ClusterSpec, ConfigError, parseClusterConfig, rawConfigFromPulumi, scalarSettings } from "../../components/config";
import { readStackConfig } from "../../plan/plan";

type RawNode = Record<string, unknown>;

/** The prod stack's config as parseClusterConfig sees it: the baseline every bad case mutates. */
function prodRaw(): Record<string, unknown> {
    return rawConfigFromPulumi(readStackConfig("prod").config);
}

/** The prod config with every mesh address left to derivation. */
function unpinnedRaw(meshCidr: string): Record<string, unknown> {
    const raw = withNodes((n) => n.forEach((x) => delete x.meshAddress));
    return { ...raw, meshCidr, operators: (raw.operators as RawNode[]).map(({ name }) => ({ name })) };
}

function withNodes(edit: (nodes: RawNode[]) => void, base = prodRaw()): Record<string, unknown> {
    const nodes = structuredClone(base.nodes) as RawNode[];
    edit(nodes);
    return { ...base, nodes };
}

function problemsOf(raw: Record<string, unknown>): string[] {
    try {
        parseClusterConfig(raw);
    } catch (err) {
        if (err instanceof ConfigError) return err.problems;
        throw err;
    }
    assert.fail("expected the config to be rejected");
}

/** Exactly one problem, which names the field and matches the expected text. */
function assertOneProblem(raw: Record<string, unknown>, field: string, text: RegExp): void {
    const problems = problemsOf(raw);
    assert.equal(problems.length, 1, `expected one problem, got:\n${problems.join("\n")}`);
    assert.ok(problems[0].startsWith(field) || problems[0].includes(`${field}:`), `"${problems[0]}" should name ${field}`);
    assert.match(problems[0], text);
}

const node = (name: string, nodes: RawNode[]) => nodes.find((n) => n.name === name)!;

describe("stack config", () => {
    it("accepts the prod stack and describes the seeds' cluster", () => {
        const spec = parseClusterConfig(prodRaw());
        assert.equal(spec.mesh.kind, "wireguard");
        assert.deepEqual(spec.nodes.filter((n) => n.roles.includes("hub")).map((n) => n.name), ["phy01"]);
        assert.deepEqual(spec.nodes.filter((n) => n.existing?.behindNat).map((n) => n.name).sort(), ["black-intel", "lenovo-laptop", "white-amd"]);
        const providersByArch = (arch: string) => spec.nodes.filter((n) => n.arch === arch).map((n) => n.provider).sort();
        assert.deepEqual([...new Set(providersByArch("arm64"))], ["aws"]);
        assert.ok(providersByArch("amd64").includes("azure"));
        assert.equal(spec.k3s.datastore, "sqlite");
        assert.equal(spec.ingress.apps[0].host, "zot.soh.re");
    });

    const cases: Array<[string, () => Record<string, unknown>, string, RegExp]> = [
        ["duplicate node names", () => withNodes((n) => { n[2].name = n[1].name; }), "nodes[2].name", /already the name of nodes\[1\]/],
        ["a name that is not a hostname", () => withNodes((n) => { n[6].name = "Black_Intel"; }), "nodes[6].name", /not a valid hostname/],
        ["an invalid mesh CIDR", () => ({ ...prodRaw(), meshCidr: "10.0.0.1/24" }), "meshCidr", /network address/],
        ["an invalid mesh address", () => withNodes((n) => { n[4].meshAddress = "10.0.0.300"; }), "nodes[4].meshAddress", /not an IPv4 address/],
        ["an invalid SSH source CIDR", () => ({ ...prodRaw(), sshSourceCidrs: ["0.0.0.0/33"] }), "sshSourceCidrs[0]", /not an IPv4 CIDR/],
        ["a mesh address outside the mesh CIDR", () => withNodes((n) => { n[4].meshAddress = "10.1.0.2"; }), "nodes[4].meshAddress", /not a host address of meshCidr 10.0.0.0\/24/],
        ["a mesh address used twice", () => withNodes((n) => { n[5].meshAddress = "10.0.0.2"; }), "nodes[5].meshAddress", /already used by node white-amd; pin a free address/],
        ["a mesh CIDR overlapping the cluster CIDR", () => unpinnedRaw("10.42.0.0/24"), "meshCidr", /overlaps clusterCidr 10.42.0.0\/16/],
        ["a mesh CIDR overlapping the service CIDR", () => unpinnedRaw("10.43.128.0/24"), "meshCidr", /overlaps serviceCidr/],
        ["no server", () => withNodes((n) => { node("k3s-soh-re", n).roles = ["agent", "ingress"]; }), "nodes", /no node has role server/],
        ["two embedded-etcd servers", () => withNodes((n) => { node("aws-arm", n).roles = ["server", "edge", "ingress"]; }), "nodes", /2 servers with embedded etcd .* odd number/],
        ["embedded-etcd servers in different sites", () => withNodes((n) => {
            node("aws-arm", n).roles = ["server", "edge", "ingress"];
            node("azure-amd", n).roles = ["server"];
        }), "nodes", /span sites .*aws:us-east-1.*azure:eastus|span sites/],
        ["a wireguard mesh without a hub", () => withNodes((n) => { node("phy01", n).roles = ["edge"]; }), "nodes", /exactly one node with role hub \(found 0\)/],
        ["a wireguard mesh with two hubs", () => ({ ...withNodes((n) => { node("aws-arm", n).roles = ["agent", "edge", "ingress", "hub"]; }), meshListenPort: "51830" }), "nodes", /exactly one .* \(found 2: phy01, aws-arm\)/],
        ["a hub without a public address", () => withNodes((n) => { delete node("phy01", n).address; }), "nodes[0].address", /required for a reachable existing host/],
        ["a host behind NAT as hub or edge", () => withNodes((n) => { node("white-amd", n).roles = ["agent", "edge"]; }), "nodes[4].roles", /behind NAT and cannot take role edge/],
        ["an arm64 node on an x86 instance type", () => withNodes((n) => { node("aws-arm", n).instanceType = "t3.small"; }), "nodes[2].arch", /arm64 contradicts instanceType t3.small, which is amd64/],
        ["an amd64 node on a Graviton type", () => withNodes((n) => { node("k3s-soh-re", n).arch = "amd64"; }), "nodes[1].arch", /amd64 contradicts instanceType t4g.medium, which is arm64/],
        ["an arm64 node on an x86 Azure size", () => withNodes((n) => { node("azure-amd", n).arch = "arm64"; }), "nodes[3].arch", /arm64 contradicts size Standard_B2s.*Standard_D2ps_v5/],
        ["an unknown top-level key", () => ({ ...prodRaw(), meshCdir: "10.0.0.0/24" }), "hybrid-k3s:meshCdir", /unknown setting; did you mean "meshCidr"\?/],
        ["an unknown node key", () => withNodes((n) => { node("aws-arm", n).instanceTyp = "t4g.small"; }), "nodes[2].instanceTyp", /unknown key; did you mean "instanceType"\?/],
        ["an API port opened to the internet on an edge host", () => withNodes((n) => { node("aws-arm", n).publicTcpPorts = [8080, 6443]; }), "nodes[2].publicTcpPorts", /6443 is the Kubernetes API, reachable only over the mesh/],
        ["the etcd range opened to the internet", () => withNodes((n) => { node("phy01", n).publicTcpPorts = [2380]; }), "nodes[0].publicTcpPorts", /2380 is etcd/],
        ["an SSH port a cloud image does not use", () => withNodes((n) => { node("aws-arm", n).sshPort = 2222; }), "nodes[2].sshPort", /cloud images run sshd on 22/],
        ["an admin user Azure refuses", () => withNodes((n) => { node("azure-amd", n).sshUser = "admin"; }), "nodes[3].sshUser", /a name Azure refuses/],
        ["a mesh CIDR inside the AWS VPC", () => unpinnedRaw("10.250.8.0/24"), "meshCidr", /overlaps the AWS VPC 10.250.0.0\/16/],
        ["a key of another provider", () => withNodes((n) => { node("azure-amd", n).region = "us-east-1"; }), "nodes[3].region", /belongs to provider aws/],
    ];
    for (const [label, raw, field, text] of cases) {
        it(`rejects ${label}, naming ${field}`, () => assertOneProblem(raw(), field, text));
    }

    it("reports every problem at once", () => {
        const raw = withNodes((n) => {
            n[2].name = n[1].name;
            node("white-amd", n).roles = ["agent", "hub"];
        });
        const problems = problemsOf({ ...raw, meshMtu: "90000" });
        assert.ok(problems.length >= 4, problems.join("\n"));
    });

    it("derives stable mesh addresses: adding or removing a node never moves another", () => {
        const unpinned = unpinnedRaw("10.100.0.0/16");
        const addressOf = (spec: ClusterSpec) => Object.fromEntries(spec.nodes.map((n) => [n.name, n.meshAddress]));
        const before = addressOf(parseClusterConfig(unpinned));
        const added = addressOf(parseClusterConfig(
            withNodes((n) => n.push({ name: "new-pi", provider: "existing", arch: "arm64", roles: ["agent"], behindNat: true }), unpinned)));
        const removed = addressOf(parseClusterConfig(withNodes((n) => n.splice(5, 1), unpinned)));
        for (const [name, address] of Object.entries(before)) {
            assert.equal(added[name], address, `${name} moved when a node was added`);
            if (name !== "lenovo-laptop") assert.equal(removed[name], address, `${name} moved when a node was removed`);
        }
        assert.ok(added["new-pi"].startsWith("10.100."));
        assert.equal(new Set(Object.values(added)).size, Object.keys(added).length);
        // Reordering the list changes nothing either.
        const reversed = addressOf(parseClusterConfig(withNodes((n) => n.reverse(), unpinned)));
        assert.deepEqual(reversed, before);
    });

    it("explicit addresses win over derived ones", () => {
        const spec = parseClusterConfig(prodRaw());
        assert.equal(spec.nodes.find((n) => n.name === "phy01")!.meshAddress, "10.0.0.1");
    });

    it("Pulumi.yaml declares every scalar setting with the schema's type and default", () => {
        const project = parseYaml(fs.readFileSync(path.join(__dirname, "../../Pulumi.yaml"), "utf8")) as { config: Record<string, { type: string; default: unknown; description: string }> };
        for (const setting of scalarSettings) {
            const declared = project.config[setting.key];
            assert.ok(declared, `Pulumi.yaml lacks ${setting.key}`);
            assert.equal(declared.type, setting.kind, setting.key);
            assert.deepEqual(declared.default, setting.default ?? "", setting.key);
            assert.ok(declared.description.length > 10, setting.key);
        }
        assert.deepEqual(Object.keys(project.config).sort(), scalarSettings.map((s) => s.key).sort());
    });
});
