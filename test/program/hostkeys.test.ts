// Every SSH connection of a planned stack pins the host key of the machine it reaches, and its jump
// through the hub pins the hub's: for existing hosts the node's `hostKey`, for cloud VMs the key
// their cloud-init user data installs before sshd starts.
import { strict as assert } from "assert";
import { parse as parseYaml } from "yaml";
import { join } from "path";
import { PlanResult, projectDir, readStackConfig, runPlan, unwrapSecrets } from "../../plan/plan";

interface Connection {
    host: string;
    hostKey?: string;
    proxy?: Connection;
}

/** Each node's address Pulumi dials (public, or mesh behind NAT) → the host key the machine will present. */
function presentedKeys(plan: PlanResult): Map<string, { node: string; key: string }> {
    const summaries = plan.outputs.nodes as Array<{ name: string; publicAddress?: string }>;
    const out = new Map<string, { node: string; key: string }>();
    for (const node of plan.spec.nodes) {
        let key: string;
        if (node.provider === "existing") key = node.existing.hostKey;
        else {
            const vm = plan.resources.find(
                (r) => (r.type === "aws:ec2/instance:Instance" || r.type === "azure-native:compute:VirtualMachine") && r.name === node.name,
            );
            assert.ok(vm, `${node.name}: a VM in the plan`);
            const inputs = unwrapSecrets(vm.inputs) as { userData?: string; osProfile?: { customData?: string } };
            const userData = inputs.userData ?? Buffer.from(inputs.osProfile?.customData ?? "", "base64").toString("utf8");
            key = (parseYaml(userData) as { ssh_keys: { ed25519_public: string } }).ssh_keys.ed25519_public;
        }
        const address = node.existing?.behindNat ? node.meshAddress : summaries.find((s) => s.name === node.name)?.publicAddress;
        assert.ok(address, `${node.name}: an address to dial`);
        out.set(address, { node: node.name, key: key.trim() });
    }
    return out;
}

for (const [stack, dir] of [
    ["prod", undefined],
    ["homelab", "examples/homelab"],
    ["large", "examples/large"],
    ["zerotier", "examples/zerotier"],
] as const) {
    describe(`host keys: every connection of the ${stack} stack`, function () {
        this.timeout(120000);
        let plan: PlanResult;
        before(async () => {
            const { config, secretKeys } = readStackConfig(stack, dir ? join(projectDir, dir) : undefined);
            plan = await runPlan(stack, config, secretKeys, "host-keys");
        });

        it("pins the key of the machine it reaches, and its jump pins the hub's", () => {
            const keys = presentedKeys(plan);
            const hub = plan.spec.nodes.find((n) => n.roles.includes("hub"));
            const commands = plan.resources.filter((r) => r.type === "command:remote:Command");
            assert.ok(commands.length > plan.spec.nodes.length, `${commands.length} remote commands`);
            for (const command of commands) {
                const connection = (unwrapSecrets(command.inputs) as { connection: Connection }).connection;
                const expected = keys.get(connection.host);
                assert.ok(expected, `${command.name}: ${connection.host} is the address of no node`);
                assert.equal(connection.hostKey, expected.key, `${command.name} pins ${expected.node}'s host key`);
                if (connection.proxy) {
                    const jump = keys.get(connection.proxy.host);
                    assert.equal(jump?.node, hub?.name, `${command.name} jumps through the hub`);
                    assert.equal(connection.proxy.hostKey, jump?.key, `${command.name}'s jump pins the hub's host key`);
                }
            }
        });

        it("gives every cloud VM a host key of its own", () => {
            const cloudKeys = [...presentedKeys(plan).values()].filter(({ node }) => plan.spec.nodes.find((n) => n.name === node)!.provider !== "existing");
            assert.equal(new Set(cloudKeys.map((k) => k.key)).size, cloudKeys.length);
            for (const { node, key } of cloudKeys) assert.match(key, /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5[A-Za-z0-9+/]+=*$/, node);
        });
    });
}
