// k3s-server-binds-mesh-address: k3s listens on, advertises and registers mesh addresses only.
import { strict as assert } from "node:assert";
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { evaluate, PlannedResource } from "../../policy/policies";
import { assertOneViolation, K3S, Props, violations } from "./helpers";

describe(K3S, () => {
    const k3sNode = (role: "server" | "agent", flags: unknown, extra: Props = {}): PlannedResource => ({
        type: "hybrid-k3s:k3s:K3sNode",
        name: `k3s-${role}-1`,
        props: { nodeName: `${role}-1`, role, meshAddress: "10.0.0.4", meshCidr: "10.0.0.0/24", flags, ...extra },
    });
    const meshServerFlags = ["--bind-address=10.0.0.4", "--advertise-address=10.0.0.4", "--node-ip=10.0.0.4"];

    it("passes a server bound to, advertising and registering its mesh address", () => {
        assert.deepEqual(violations(K3S, [k3sNode("server", [...meshServerFlags, "--disable=traefik", "--flannel-iface=wg0"])]), []);
    });

    it("passes flags given as '--flag value' in one item or in two, and with one dash", () => {
        const pairs = ["--bind-address 10.0.0.4", "--advertise-address", "10.0.0.4", "-node-ip=10.0.0.4", "--cluster-init"];
        assert.deepEqual(violations(K3S, [k3sNode("server", pairs)]), []);
    });

    it("passes an agent that registers its mesh address, with no bind/advertise flags", () => {
        assert.deepEqual(violations(K3S, [k3sNode("agent", ["--node-ip=10.0.0.7"])]), []);
    });

    it("passes an IPv6 mesh", () => {
        const flags = ["--bind-address=fd00:10::4", "--advertise-address=FD00:10::4", "--node-ip=fd00:10::4"];
        assert.deepEqual(violations(K3S, [k3sNode("server", flags, { meshCidr: "fd00:10::/64" })]), []);
    });

    const failures: Array<[string, "server" | "agent", unknown[], string]> = [
        [
            "--bind-address=0.0.0.0",
            "server",
            ["--bind-address=0.0.0.0", "--advertise-address=10.0.0.4", "--node-ip=10.0.0.4"],
            'K3sNode "k3s-server-1" (server) --bind-address=0.0.0.0: 0.0.0.0 is the unspecified address',
        ],
        [
            "--bind-address :: in pair form",
            "server",
            ["--bind-address ::", "--advertise-address=10.0.0.4", "--node-ip=10.0.0.4"],
            "--bind-address=::: :: is the unspecified address",
        ],
        [
            "a public --advertise-address",
            "server",
            ["--bind-address=10.0.0.4", "--advertise-address", "203.0.113.5", "--node-ip=10.0.0.4"],
            "--advertise-address=203.0.113.5: 203.0.113.5 is a public address and is outside the mesh CIDR 10.0.0.0/24",
        ],
        [
            "a private address outside the mesh",
            "server",
            ["--bind-address=192.168.1.4", "--advertise-address=10.0.0.4", "--node-ip=10.0.0.4"],
            "--bind-address=192.168.1.4: 192.168.1.4 is outside the mesh CIDR 10.0.0.0/24",
        ],
        [
            "a missing --advertise-address",
            "server",
            ["--bind-address=10.0.0.4", "--node-ip=10.0.0.4"],
            'K3sNode "k3s-server-1" (server) sets no --advertise-address',
        ],
        [
            "a one-dash -bind-address=0.0.0.0",
            "server",
            ["-bind-address=0.0.0.0", "--advertise-address=10.0.0.4", "--node-ip=10.0.0.4"],
            "--bind-address=0.0.0.0",
        ],
        [
            "a quoted public bind address",
            "server",
            ["--bind-address='198.51.100.7'", "--advertise-address=10.0.0.4", "--node-ip=10.0.0.4"],
            "198.51.100.7 is a public address",
        ],
        ["an agent without --node-ip", "agent", ["--flannel-iface=wg0"], 'K3sNode "k3s-agent-1" (agent) sets no --node-ip'],
        [
            "a dual-stack --node-ip with a public part",
            "agent",
            ["--node-ip=10.0.0.7,203.0.113.5"],
            "--node-ip=10.0.0.7,203.0.113.5: 203.0.113.5 is a public address",
        ],
        ["a --node-ip that is not an address", "agent", ["--node-ip=wg0"], "--node-ip=wg0: wg0 is not an IP address"],
    ];
    for (const [what, role, flags, fragment] of failures) {
        it(`blocks ${what}`, () => {
            const violation = assertOneViolation(violations(K3S, [k3sNode(role, flags)]), fragment);
            assert.equal(violation.enforcement, "mandatory");
        });
    }

    it("blocks a server with no address flags once per missing flag", () => {
        const found = violations(K3S, [k3sNode("server", ["--cluster-init"])]);
        assert.deepEqual(
            found.map((violation) => violation.message.split(",")[0]),
            [
                'K3sNode "k3s-server-1" (server) sets no --bind-address',
                'K3sNode "k3s-server-1" (server) sets no --advertise-address',
                'K3sNode "k3s-server-1" (server) sets no --node-ip',
            ],
        );
    });

    it("blocks a node whose meshCidr is not a CIDR, and still checks its addresses", () => {
        const found = violations(K3S, [k3sNode("agent", ["--node-ip=203.0.113.5"], { meshCidr: "mesh" })]);
        assert.deepEqual(
            found.map((violation) => violation.message),
            [
                'K3sNode "k3s-agent-1" (agent) has no valid meshCidr ("mesh") to check its addresses against',
                'K3sNode "k3s-agent-1" (agent) --node-ip=203.0.113.5: 203.0.113.5 is a public address',
            ],
        );
    });

    it("does not apply to other components", () => {
        const other = { type: "hybrid-k3s:k3s:K3sCluster", name: "c", props: { role: "server", flags: [] } };
        assert.deepEqual(evaluate([other]), []);
    });
});

describe(`${K3S} with values unknown during preview`, () => {
    const k3sNode = (flags: unknown, meshCidr: unknown = "10.0.0.0/24"): PlannedResource => ({
        type: "hybrid-k3s:k3s:K3sNode",
        name: "k3s-server-1",
        props: { nodeName: "server-1", role: "server", meshAddress: unknownValue, meshCidr, flags },
    });

    it("does not call a k3s flag missing while some flag text is unknown", () => {
        assert.deepEqual(violations(K3S, [k3sNode(unknownValue)]), []);
        assert.deepEqual(violations(K3S, [k3sNode(["--node-ip=10.0.0.4", unknownValue])]), []);
        assert.deepEqual(violations(K3S, [k3sNode(["--bind-address", unknownValue, "--advertise-address=10.0.0.4", "--node-ip=10.0.0.4"])]), []);
    });

    it("still reports a known unspecified or public k3s address, even with the mesh CIDR unknown", () => {
        const flags = ["--bind-address=0.0.0.0", "--advertise-address=203.0.113.5", "--node-ip=10.0.0.4", unknownValue];
        const found = violations(K3S, [k3sNode(flags, unknownValue)]);
        assert.deepEqual(
            found.map((violation) => violation.message),
            [
                'K3sNode "k3s-server-1" (server) --bind-address=0.0.0.0: 0.0.0.0 is the unspecified address (every interface)',
                'K3sNode "k3s-server-1" (server) --advertise-address=203.0.113.5: 203.0.113.5 is a public address',
            ],
        );
    });
});
