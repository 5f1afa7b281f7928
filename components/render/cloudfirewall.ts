// What a cloud VM exposes to the internet and how it boots, as plain data that AwsHost and
// AzureHost both translate: the inbound rules per role, the cloud-init user data, the command
// that waits for cloud-init, and the checks every cloud VM shares. No Pulumi inside.
import { Arch, MeshKind, NodeSpec, OsImage } from "../config";

/** The cluster facts a cloud VM's firewall and tags depend on. */
export interface CloudHostCluster {
    clusterName: string;
    meshKind: MeshKind;
    meshListenPort: number;
    sshSourceCidrs: string[];
}

export interface InboundRule {
    protocol: "tcp" | "udp";
    from: number;
    to: number;
    /** IPv4 and IPv6 CIDRs. */
    sources: string[];
    description: string;
}

/** The whole internet, both address families. */
export const internet = ["0.0.0.0/0", "::/0"];

/** ZeroTier's fixed UDP port: every member must be reachable on it for direct paths. */
export const zerotierPort = 9993;

/**
 * Ports that carry cluster traffic and travel only inside the mesh. A cloud firewall never opens
 * them, whatever the protocol: the node firewall and k3s' own bindings assume nobody outside can reach them.
 */
export const meshOnlyPorts: ReadonlyArray<{ from: number; to: number; what: string }> = [
    { from: 6443, to: 6443, what: "Kubernetes API" },
    { from: 10250, to: 10250, what: "kubelet" },
    { from: 2379, to: 2380, what: "etcd" },
    { from: 8472, to: 8472, what: "flannel VXLAN" },
    { from: 51821, to: 51821, what: "flannel WireGuard (IPv6)" },
];

/** An error naming the node's config field and the fix, in the shape config.ts uses. */
export function nodeFieldError(node: Pick<NodeSpec, "name">, field: string, message: string): Error {
    return new Error(`nodes[${node.name}].${field}: ${message}`);
}

/** What the internet may reach on a cloud VM: SSH from the operators, the edge's web ports, the mesh's public port. */
export function inboundRulesFor(node: Pick<NodeSpec, "name" | "roles" | "sshPort" | "publicTcpPorts">, cluster: Omit<CloudHostCluster, "clusterName">): InboundRule[] {
    if (cluster.sshSourceCidrs.length === 0) {
        throw new Error(`sshSourceCidrs: empty, so Pulumi could not reach nodes[${node.name}] over SSH; allow your address (e.g. ["203.0.113.7/32"])`);
    }
    const rules: InboundRule[] = [
        { protocol: "tcp", from: node.sshPort, to: node.sshPort, sources: cluster.sshSourceCidrs, description: "SSH from sshSourceCidrs" },
    ];
    if (node.roles.includes("edge")) {
        rules.push(
            { protocol: "tcp", from: 80, to: 80, sources: internet, description: "HTTP to the edge proxy" },
            { protocol: "tcp", from: 443, to: 443, sources: internet, description: "HTTPS to the edge proxy" },
        );
    }
    for (const port of node.publicTcpPorts) {
        rules.push({ protocol: "tcp", from: port, to: port, sources: internet, description: `publicTcpPorts ${port}` });
    }
    // Spokes dial the hub, so only the hub listens; a ZeroTier member is dialled by every peer.
    if (cluster.meshKind === "wireguard" && node.roles.includes("hub")) {
        rules.push({ protocol: "udp", from: cluster.meshListenPort, to: cluster.meshListenPort, sources: internet, description: "WireGuard hub (meshListenPort)" });
    }
    if (cluster.meshKind === "zerotier") {
        rules.push({ protocol: "udp", from: zerotierPort, to: zerotierPort, sources: internet, description: "ZeroTier peers" });
    }
    refuseMeshOnlyPorts(node, rules);
    return rules;
}

/** Throws if a rule would open a mesh-only port (e.g. sshPort 6443 or meshListenPort 51821 slipped through). */
export function refuseMeshOnlyPorts(node: Pick<NodeSpec, "name">, rules: InboundRule[]): void {
    for (const rule of rules) {
        const hit = meshOnlyPorts.find((port) => rule.from <= port.to && port.from <= rule.to);
        if (hit) {
            throw new Error(`nodes[${node.name}]: the rule "${rule.description}" would open ${rule.protocol} ${rule.from}-${rule.to} to the internet, ` +
                `which includes ${hit.what} (${hit.from}-${hit.to}); that traffic travels only over the mesh, so pick another port`);
        }
    }
}

/** A rule's sources split by address family (Azure refuses a rule that mixes them). */
export function sourcesByFamily(rule: InboundRule): { ipv4: string[]; ipv6: string[] } {
    return { ipv4: rule.sources.filter((s) => !s.includes(":")), ipv6: rule.sources.filter((s) => s.includes(":")) };
}

/** The image for a node's os and arch from a provider's table, or an error naming the fix. */
export function imageFor<T>(table: Record<OsImage, Record<Arch, T>>, node: Pick<NodeSpec, "name" | "arch">, os: OsImage): T {
    // The table is complete for the typed values; a spec built by hand can still carry others.
    const image = (table as Partial<Record<string, Partial<Record<string, T>>>>)[os]?.[node.arch];
    if (image === undefined) {
        throw nodeFieldError(node, "os", `no ${node.arch} image known for "${os}"; use one of ${Object.keys(table).join(", ")}`);
    }
    return image;
}

/**
 * cloud-init user data: the node's name as its hostname (with /etc/hosts, so sudo resolves it).
 * Nothing secret belongs here: user data is readable from the instance metadata.
 */
export function cloudInitUserData(hostname: string): string {
    return [
        "#cloud-config",
        `hostname: ${hostname}`,
        "preserve_hostname: false",
        "manage_etc_hosts: true",
        "",
    ].join("\n");
}
