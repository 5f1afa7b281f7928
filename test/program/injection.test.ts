// Every config value that reaches a shell script, a unit, a config file or a cloud name is checked
// against the syntax its consumer accepts before any resource exists: shell metacharacters, quotes
// and newlines in any of them are a config error naming the field.
import { strict as assert } from "assert";
import { parse as parseYaml } from "yaml";
import { ConfigError, parseClusterConfig, rawConfigFromPulumi } from "../../components/config";
import { renderK3sConfig } from "../../components/render/k3s";
import { readStackConfig } from "../../plan/plan";

const payloads = ['bob"; touch /tmp/pwned; echo "', "x'$(id)'", "x\ny", "x`id`", "x;rm -rf /", "x y", "x\\"];

type Raw = Record<string, unknown>;
const prodRaw = (): Raw => rawConfigFromPulumi(readStackConfig("prod").config);
const nodeIndex = (name: string) => (prodRaw().nodes as Raw[]).findIndex((n) => n.name === name);

function problemsOf(raw: Raw): string[] {
    try {
        parseClusterConfig(raw);
        return [];
    } catch (err) {
        if (err instanceof ConfigError) return err.problems;
        throw err;
    }
}

/** Sets one field (a top-level setting, or a field of one entry of nodes/operators/apps) to a value. */
function withField(path: string, value: unknown): Raw {
    const raw = structuredClone(prodRaw());
    const [list, index, field] = /^(nodes|operators|apps)\[(\d+)\]\.(\w+)$/.exec(path)?.slice(1) ?? [];
    if (list) (raw[list] as Raw[])[Number(index)][field] = value;
    else raw[path] = value;
    return raw;
}

const settingsReachingScripts = [
    "clusterName",
    "meshInterface",
    "k3sVersion",
    "k3sReleaseBaseUrl",
    "istioVersion",
    "certManagerVersion",
    "acmeEmail",
    "dnsZone",
    "meshCidr",
    "clusterCidr",
    "serviceCidr",
];
const listSettings = ["k3sTlsSans", "sshSourceCidrs"];
const nodeFields: Array<[string, string]> = [
    ["phy01", "name"],
    ["phy01", "sshUser"],
    ["phy01", "address"],
    ["phy01", "site"],
    ["phy01", "hostKey"],
    ["phy01", "meshAddress"],
    ["k3s-soh-re", "region"],
    ["k3s-soh-re", "instanceType"],
    ["k3s-soh-re", "ami"],
    ["k3s-soh-re", "sshUser"],
    ["azure-amd", "location"],
    ["azure-amd", "size"],
    ["azure-amd", "sshUser"],
];
const entryFields = ["operators[0].name", "operators[0].meshAddress", "apps[0].host", "apps[0].namespace", "apps[0].service"];

describe("config values that reach scripts, units, config files and cloud names", () => {
    const fields = [
        ...settingsReachingScripts.map((key) => ({ path: key, named: `hybrid-k3s:${key}`, value: (p: string) => p })),
        ...listSettings.map((key) => ({ path: key, named: `${key}[0]`, value: (p: string) => [p] })),
        ...nodeFields.map(([node, field]) => ({
            path: `nodes[${nodeIndex(node)}].${field}`,
            named: `nodes[${nodeIndex(node)}].${field}`,
            value: (p: string) => p,
        })),
        ...entryFields.map((path) => ({ path, named: path, value: (p: string) => p })),
    ];
    for (const field of fields) {
        it(`refuses shell metacharacters, quotes and newlines in ${field.path}`, () => {
            for (const payload of payloads) {
                const problems = problemsOf(withField(field.path, field.value(payload)));
                assert.ok(
                    problems.some((p) => p.includes(field.named)),
                    `${JSON.stringify(payload)} in ${field.path} passed: ${problems.join(" | ") || "no problem"}`,
                );
            }
        });
    }

    it("refuses a newline in an extra k3s flag, and keeps any other character inside its config.yaml value", () => {
        for (const key of ["k3sServerFlags", "k3sAgentFlags"]) {
            const problems = problemsOf(withField(key, ["--node-label=a=b\ntoken: stolen"]));
            assert.ok(
                problems.some((p) => p.startsWith(`hybrid-k3s:${key}[0]`) && p.includes("control character")),
                problems.join("\n"),
            );
        }
        const spec = parseClusterConfig(withField("k3sAgentFlags", [`--node-label=note=${payloads[0]}`]));
        const rendered = renderK3sConfig({
            nodeName: "white-amd",
            role: "agent",
            meshAddress: "10.0.0.2",
            meshInterface: "wg0",
            meshUnit: "wg-quick@wg0.service",
            arch: "amd64",
            version: spec.k3s.version,
            releaseBaseUrl: spec.k3s.releaseBaseUrl,
            serverUrl: "https://10.0.0.4:6443",
            clusterCidr: spec.k3s.clusterCidr,
            serviceCidr: spec.k3s.serviceCidr,
            tlsSans: [],
            flannelBackend: "wireguard-native",
            extraFlags: spec.k3s.agentFlags,
        });
        assert.deepEqual((parseYaml(rendered) as Raw)["node-label"], [`note=${payloads[0]}`]);
    });

    it("refuses malformed structured settings with a config error, not a stack trace", () => {
        const config = { ...readStackConfig("prod").config, "hybrid-k3s:nodes": "[{ name: phy01" };
        assert.throws(
            () => parseClusterConfig(rawConfigFromPulumi(config)),
            (err: unknown) => err instanceof ConfigError && err.problems.length === 1 && /^hybrid-k3s:nodes: not valid JSON/.test(err.problems[0]),
        );
    });
});
