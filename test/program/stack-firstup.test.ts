// The first up of a new stack under mocks: what it needs of itself, and what the second up runs.
import { parseBundle } from "../../components/render/bundle";
import { strict as assert } from "assert";
import { plan, withNodes } from "./stackhelpers";

describe("the first up of a new stack", function () {
    this.timeout(120000);
    const operatorOffMesh = { "hybrid-k3s:operators": JSON.stringify([{ name: "fedora-laptop", meshAddress: "10.0.0.100", runsPulumi: true }]) };
    const fresh = () =>
        withNodes(
            (n) =>
                n.forEach((x) => {
                    if (x.provider === "existing") x.enrolled = false;
                }),
            operatorOffMesh,
        );

    it("needs no output of itself: secrets and cloud VMs only, and says what unblocks the rest", async () => {
        const first = await plan(fresh());
        assert.equal(
            first.resources
                .filter((r) => r.type === "command:remote:Command")
                .map((r) => r.name)
                .sort()
                .join(" "),
            "aws-arm-cloud-init azure-amd-cloud-init k3s-soh-re-cloud-init",
            "nothing runs on a host before the hub is enrolled, but the VMs boot",
        );
        assert.ok(!first.resources.some((r) => r.type.startsWith("kubernetes:")), "no Kubernetes step before an operator is on the mesh");
        assert.deepEqual(first.outputs.heldBack, [
            "phy01: not enrolled; run its bootstrapScripts entry as root on it, then set nodes[0].enrolled: true",
            "white-amd: not enrolled; run its bootstrapScripts entry as root on it, then set nodes[4].enrolled: true",
            "lenovo-laptop: not enrolled; run its bootstrapScripts entry as root on it, then set nodes[5].enrolled: true",
            "black-intel: not enrolled; run its bootstrapScripts entry as root on it, then set nodes[6].enrolled: true",
            "every host waits for the hub phy01 to be enrolled",
            "Istio, cert-manager and the apps: the machine running Pulumi must be on the mesh; add it to operators with runsPulumi: true, bring up its operatorConfigs entry (wg-quick up), then set enrolled: true",
        ]);
        // What the owners and the operator need is already an output: every existing host's bootstrap, and the operator's mesh config.
        assert.deepEqual(Object.keys(first.outputs.bootstrapScripts as object).sort(), ["black-intel", "lenovo-laptop", "phy01", "white-amd"]);
        assert.match((first.outputs.operatorConfigs as Record<string, string>)["fedora-laptop"], /Endpoint = 203\.0\.113\.10:51830/);
        const natBootstrap = parseBundle((first.outputs.bootstrapScripts as Record<string, string>)["white-amd"]);
        assert.deepEqual(
            natBootstrap.map((f) => f.path),
            ["/etc/wireguard/wg0.conf"],
            "a NAT host brings its spoke up itself",
        );
    });

    it("once the hosts are enrolled, the second up runs everything but the Kubernetes steps; with the operator on the mesh, those too", async () => {
        const enrolled = withNodes(
            (n) =>
                n.forEach((x) => {
                    if (x.provider === "existing") x.enrolled = true;
                }),
            operatorOffMesh,
        );
        const second = await plan(enrolled);
        assert.equal(second.resources.filter((r) => r.type === "hybrid-k3s:host:HostFiles").length, 22);
        assert.ok(!second.resources.some((r) => r.type.startsWith("kubernetes:")));
        assert.equal((second.outputs.heldBack as string[]).length, 1);
        const third = await plan({
            ...enrolled,
            "hybrid-k3s:operators": JSON.stringify([{ name: "fedora-laptop", meshAddress: "10.0.0.100", runsPulumi: true, enrolled: true }]),
        });
        assert.equal(third.resources.filter((r) => r.type === "kubernetes:helm.sh/v3:Release").length, 4);
        assert.deepEqual(third.outputs.heldBack, []);
    });
});
