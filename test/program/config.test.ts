// The stack config: the prod stack accepted, every problem reported at once, stable mesh addresses, and Pulumi.yaml's settings.
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { parse as parseYaml } from "yaml";
import { ClusterSpec, nodeFields, parseClusterConfig, settingDescription, settings } from "../../components/config";
import { at, node, problemsOf, prodRaw, unpinnedRaw, withNodes } from "./config-helpers";

describe("stack config", () => {
    it("accepts the prod stack and describes the seeds' cluster", () => {
        const spec = parseClusterConfig(prodRaw());
        assert.equal(spec.mesh.kind, "wireguard");
        assert.deepEqual(
            spec.nodes.filter((n) => n.roles.includes("hub")).map((n) => n.name),
            ["phy01"],
        );
        assert.deepEqual(
            spec.nodes
                .filter((n) => n.existing?.behindNat)
                .map((n) => n.name)
                .sort(),
            ["black-intel", "lenovo-laptop", "white-amd"],
        );
        const providersByArch = (arch: string) =>
            spec.nodes
                .filter((n) => n.arch === arch)
                .map((n) => n.provider)
                .sort();
        assert.deepEqual([...new Set(providersByArch("arm64"))], ["aws"]);
        assert.ok(providersByArch("amd64").includes("azure"));
        assert.equal(spec.k3s.datastore, "sqlite");
        assert.equal(spec.ingress.apps[0].host, "zot.soh.re");
    });

    it("reports every problem at once", () => {
        const raw = withNodes((n) => {
            node("aws-arm", n).name = "k3s-soh-re";
            node("white-amd", n).roles = ["agent", "hub"];
        });
        const problems = problemsOf({ ...raw, meshMtu: "90000" });
        assert.deepEqual(
            problems.map((p) => (p.split(":")[0] === "hybrid-k3s" ? p.split(":").slice(0, 2).join(":") : p.split(":")[0])).sort(),
            ["hybrid-k3s:meshMtu", at("aws-arm", "name"), at("white-amd", "roles"), "nodes"].sort(),
            problems.join("\n"),
        );
    });

    it("derives stable mesh addresses: adding or removing a node never moves another", () => {
        const unpinned = unpinnedRaw("10.100.0.0/16");
        const addressOf = (spec: ClusterSpec) => Object.fromEntries(spec.nodes.map((n) => [n.name, n.meshAddress]));
        const before = addressOf(parseClusterConfig(unpinned));
        const added = addressOf(
            parseClusterConfig(
                withNodes(
                    (n) =>
                        n.push({
                            name: "new-pi",
                            provider: "existing",
                            arch: "arm64",
                            roles: ["agent"],
                            behindNat: true,
                            hostKey: node("white-amd", n).hostKey,
                        }),
                    unpinned,
                ),
            ),
        );
        const removed = addressOf(
            parseClusterConfig(
                withNodes(
                    (n) =>
                        n.splice(
                            n.findIndex((x) => x.name === "lenovo-laptop"),
                            1,
                        ),
                    unpinned,
                ),
            ),
        );
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

    it("Pulumi.yaml declares every setting of the table with its type, default and description", () => {
        const text = fs.readFileSync(path.join(__dirname, "../../Pulumi.yaml"), "utf8");
        const project = parseYaml(text) as { config: Record<string, { type: string; default: unknown; description: string }> };
        for (const setting of settings) {
            const declared = project.config[setting.key];
            assert.ok(declared, `Pulumi.yaml lacks ${setting.key}`);
            assert.equal(declared.type, setting.kind, setting.key);
            assert.deepEqual(declared.default, setting.default ?? (setting.kind === "array" ? [] : ""), setting.key);
            assert.equal(declared.description, settingDescription(setting), setting.key);
        }
        assert.deepEqual(Object.keys(project.config).sort(), settings.map((s) => s.key).sort());
        // The structured settings are documented in its comments: every node field with its description.
        for (const field of nodeFields)
            assert.match(text, new RegExp(`^#\\s+${field.key}\\s+.*${field.description.slice(0, 30).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`, "m"), field.key);
    });
});
