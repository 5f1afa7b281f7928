// What a cloud VM exposes to the internet and how it boots, as plain data that AwsHost and
// AzureHost both translate: the inbound rules per role, the cloud-init user data, the command
// that waits for cloud-init, and the checks every cloud VM shares. No Pulumi inside.
import { Arch, MeshKind, NodeSpec, OsImage } from "../config";
import { httpPort, httpsPort, meshOnlyPorts, zerotierPort } from "../ports";

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

/** An error naming the node's config field and the fix, in the shape config.ts uses. */
export function nodeFieldError(node: Pick<NodeSpec, "name">, field: string, message: string): Error {
    return new Error(`nodes[${node.name}].${field}: ${message}`);
}

/** What the internet may reach on a cloud VM: SSH from the operators, the edge's web ports, the mesh's public port. */
export function inboundRulesFor(
    node: Pick<NodeSpec, "name" | "roles" | "sshPort" | "publicTcpPorts" | "publicUdpPorts">,
    cluster: Omit<CloudHostCluster, "clusterName">,
): InboundRule[] {
    if (cluster.sshSourceCidrs.length === 0) {
        throw new Error(`sshSourceCidrs: empty, so Pulumi could not reach nodes[${node.name}] over SSH; allow your address (e.g. ["203.0.113.7/32"])`);
    }
    const rules: InboundRule[] = [
        { protocol: "tcp", from: node.sshPort, to: node.sshPort, sources: cluster.sshSourceCidrs, description: "SSH from sshSourceCidrs" },
    ];
    if (node.roles.includes("edge")) {
        rules.push(
            { protocol: "tcp", from: httpPort, to: httpPort, sources: internet, description: "HTTP to the edge proxy" },
            { protocol: "tcp", from: httpsPort, to: httpsPort, sources: internet, description: "HTTPS to the edge proxy" },
        );
    }
    for (const port of node.publicTcpPorts) {
        rules.push({ protocol: "tcp", from: port, to: port, sources: internet, description: `publicTcpPorts ${port}` });
    }
    for (const port of node.publicUdpPorts) {
        rules.push({ protocol: "udp", from: port, to: port, sources: internet, description: `publicUdpPorts ${port}` });
    }
    // Spokes dial the hub, so only the hub listens; a ZeroTier member is dialled by every peer.
    if (cluster.meshKind === "wireguard" && node.roles.includes("hub")) {
        rules.push({
            protocol: "udp",
            from: cluster.meshListenPort,
            to: cluster.meshListenPort,
            sources: internet,
            description: "WireGuard hub (meshListenPort)",
        });
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
        // Any protocol: a cloud firewall that opens 6443/udp is still a mistake worth stopping.
        const hit = meshOnlyPorts.find((port) => rule.from <= port.to && port.from <= rule.to);
        if (hit) {
            throw new Error(
                `nodes[${node.name}]: the rule "${rule.description}" would open ${rule.protocol} ${rule.from}-${rule.to} to the internet, ` +
                    `which includes ${hit.what} (${hit.from}-${hit.to}); that traffic travels only over the mesh, so pick another port`,
            );
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

/** A host key pair Pulumi generated for a VM (OpenSSH formats). */
export interface SshHostKey {
    privateKey: string;
    publicKey: string;
}

/**
 * cloud-init user data: the node's name as its hostname (with /etc/hosts, so sudo resolves it), and
 * the host key Pulumi generated, installed by cloud-init's ssh module before sshd first starts
 * (`ssh_keys` ed25519_private/ed25519_public; `ssh_deletekeys` drops the image's keys and
 * `ssh_genkeytypes: []` makes no others), so the first connection can already pin it. The private
 * key makes this text secret: it is kept secret in state, and on AWS the instance metadata that
 * serves it needs an IMDSv2 token from a hop limit of 1, out of reach of pods.
 */
export function cloudInitUserData(hostname: string, hostKey: SshHostKey): string {
    if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(hostname)) throw new Error(`cloud-init: hostname "${hostname}" is not a DNS label`);
    const indent = (text: string) =>
        text
            .trim()
            .split("\n")
            .map((line) => `    ${line}`)
            .join("\n");
    return [
        "#cloud-config",
        `hostname: ${hostname}`,
        "preserve_hostname: false",
        "manage_etc_hosts: true",
        "ssh_deletekeys: true",
        "ssh_genkeytypes: []",
        "ssh_keys:",
        "  ed25519_private: |",
        indent(hostKey.privateKey),
        `  ed25519_public: ${hostKey.publicKey.trim()}`,
        "",
    ].join("\n");
}
