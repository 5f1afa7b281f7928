// Every port the cluster uses, once. Config validation, the host firewall, the cloud security
// groups and the k3s flags read them from here; the policy package keeps its own copy (it is
// published alone) and a test keeps the two equal.

export type PortProtocol = "tcp" | "udp";

export interface PortRange {
    protocol: PortProtocol;
    from: number;
    to: number;
    /** What listens there, for messages and comments. */
    what: string;
}

/** The Kubernetes API on every server (k3s --https-listen-port default). */
export const k3sApiPort = 6443;

/**
 * Ports that carry cluster traffic and must be reachable over the mesh only (k3s docs,
 * "Inbound Rules for K3s Nodes"): API, kubelet, embedded etcd, flannel VXLAN (unauthenticated) and
 * flannel's wireguard-native (51820 IPv4, 51821 IPv6).
 */
export const meshOnlyPorts: readonly PortRange[] = [
    { protocol: "tcp", from: k3sApiPort, to: k3sApiPort, what: "the Kubernetes API" },
    { protocol: "tcp", from: 10250, to: 10250, what: "the kubelet" },
    { protocol: "tcp", from: 2379, to: 2380, what: "etcd" },
    { protocol: "udp", from: 8472, to: 8472, what: "flannel VXLAN" },
    { protocol: "udp", from: 51820, to: 51821, what: "flannel WireGuard" },
];

export const meshOnlyTcpPorts = meshOnlyPorts.filter((p) => p.protocol === "tcp");
export const meshOnlyUdpPorts = meshOnlyPorts.filter((p) => p.protocol === "udp");

/** The mesh-only range a port falls in, if any. */
export function meshOnlyRangeOf(protocol: PortProtocol, port: number): PortRange | undefined {
    return meshOnlyPorts.find((p) => p.protocol === protocol && port >= p.from && port <= p.to);
}

/** nftables / security-group spelling of a range: 6443 or 2379-2380. */
export function portRangeText(range: Pick<PortRange, "from" | "to">): string {
    return range.from === range.to ? String(range.from) : `${range.from}-${range.to}`;
}

/** ZeroTier's UDP port: peers must reach it for direct paths. */
export const zerotierPort = 9993;

/** Public web ports the edge proxy takes. */
export const httpPort = 80;
export const httpsPort = 443;

/** SSH where nothing says otherwise; cloud images run sshd there and nothing here moves it. */
export const defaultSshPort = 22;

/** Kubernetes' default --service-node-port-range. */
export const nodePortRange = { from: 30000, to: 32767 } as const;

/**
 * UDP port a WireGuard hub listens on unless the stack says otherwise: not WireGuard's usual 51820,
 * which flannel's wireguard-native backend takes on every k3s node, so the two never collide and
 * 51820-51821 stay mesh-only everywhere.
 */
export const defaultWireguardListenPort = 51830;
