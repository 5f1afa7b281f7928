// Cloud firewall rules (inboundRulesFor): mesh-only ports refused, public TCP/UDP ports published, the mesh port only where needed.
import { strict as assert } from "assert";
import { Role } from "../../components/config";
import { CloudHostCluster, inboundRulesFor } from "../../components/render/cloudfirewall";
import { wireguard, zerotier } from "./hosts-fixture";

describe("cloud firewall rules", () => {
    const node = (roles: Role[], sshPort = 22, publicTcpPorts: number[] = [], publicUdpPorts: number[] = []) => ({
        name: "n1",
        roles,
        sshPort,
        publicTcpPorts,
        publicUdpPorts,
    });

    it("refuses a rule that would open a mesh-only port, naming the node and the rule", () => {
        assert.throws(
            () => inboundRulesFor(node(["agent"], 6443), wireguard),
            /nodes\[n1\]: the rule "SSH from sshSourceCidrs" would open tcp 6443-6443 to the internet, which includes the Kubernetes API/,
        );
        assert.throws(() => inboundRulesFor(node(["hub"]), { ...wireguard, meshListenPort: 51821 }), /WireGuard hub \(meshListenPort\).*flannel WireGuard/);
        assert.throws(() => inboundRulesFor(node(["agent"]), { ...wireguard, sshSourceCidrs: [] }), /sshSourceCidrs: empty/);
    });

    it("publishes a node's publicTcpPorts to the whole internet, and still refuses an API port among them", () => {
        const rules = inboundRulesFor(node(["agent"], 22, [25, 8443]), wireguard).filter((r) => r.description.startsWith("publicTcpPorts"));
        assert.deepEqual(
            rules.map((r) => [r.protocol, r.from, r.to, r.sources]),
            [
                ["tcp", 25, 25, ["0.0.0.0/0", "::/0"]],
                ["tcp", 8443, 8443, ["0.0.0.0/0", "::/0"]],
            ],
        );
        assert.throws(() => inboundRulesFor(node(["edge"], 22, [6443]), wireguard), /publicTcpPorts 6443.*Kubernetes API/);
    });

    it("publishes a node's publicUdpPorts as UDP rules, and refuses a flannel port among them", () => {
        const rules = inboundRulesFor(node(["agent"], 22, [53], [53]), wireguard).filter((r) => r.from === 53);
        assert.deepEqual(
            rules.map((r) => [r.protocol, r.description]),
            [
                ["tcp", "publicTcpPorts 53"],
                ["udp", "publicUdpPorts 53"],
            ],
        );
        assert.throws(() => inboundRulesFor(node(["agent"], 22, [], [51820]), wireguard), /publicUdpPorts 51820.*flannel WireGuard/);
    });

    it("opens the mesh port only where the mesh needs it", () => {
        const udpPorts = (roles: Role[], cluster: CloudHostCluster) =>
            inboundRulesFor(node(roles), cluster)
                .filter((r) => r.protocol === "udp")
                .map((r) => r.from);
        assert.deepEqual(udpPorts(["server", "hub"], wireguard), [51830]);
        assert.deepEqual(udpPorts(["server"], wireguard), []);
        assert.deepEqual(udpPorts(["agent"], zerotier), [9993]);
    });
});
