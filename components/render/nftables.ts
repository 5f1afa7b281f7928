// The host firewall (our own file, see paths.ts): a pure renderer. Everything arriving on the mesh is
// trusted (WireGuard authenticates each peer and pins its source addresses); from anywhere else
// only SSH, the hub's WireGuard port, and 80/443 on edge hosts get in. k3s binds some ports to
// 0.0.0.0 whatever it is told, so this ruleset, not the bind address, keeps them off the internet.
import { cidrsOverlap, isPort, parseCidr } from "../net";
import { interfaceNamePattern } from "../patterns";
import { meshOnlyRangeOf, meshOnlyTcpPorts, meshOnlyUdpPorts, portRangeText } from "../ports";

export interface NftRulesetFacts {
    hostName: string;
    meshInterface: string;
    meshCidr: string;
    clusterCidr: string;
    serviceCidr: string;
    sshPort: number;
    isHub: boolean;
    /**
     * The mesh's public UDP port, accepted from anywhere when acceptMeshPort: the WireGuard hub's
     * listen port, or ZeroTier's 9993 on every ZeroTier host (peers talk to each other directly).
     */
    meshListenPort: number;
    acceptMeshPort: boolean;
    /** Accepts tcp 80 and 443 from anywhere (the edge proxy). */
    isEdge: boolean;
    extraTcpPorts?: number[];
    /** LANs behind this host (its node's routes): forwarded from the mesh only, masqueraded onto the LAN. */
    lanRoutes?: string[];
    /** UDP services of this host open to the internet (publicUdpPorts), e.g. DNS on 53. */
    extraUdpPorts?: number[];
}

/** The table this file owns; nothing else on the host is touched. */
export const nftTableName = "hybrid_k3s";

/** In port order, as nft lists a set back. */
const clusterOnlyTcpPorts = [...meshOnlyTcpPorts].sort((a, b) => a.from - b.from).map(portRangeText);
const clusterOnlyUdpPorts = [...meshOnlyUdpPorts].sort((a, b) => a.from - b.from).map(portRangeText);

/** Interfaces flannel and the CNI bridge create: pod traffic enters and leaves through them. */
const podInterfaces = '{ "cni0", "flannel*" }';

/**
 * Interfaces of containers and VMs the host runs itself (Docker, Podman, LXC/LXD, libvirt): forwarding
 * to or from them is the host's own business. Forwarding between any other two interfaces would make
 * the host a router for its neighbours (k3s and the hub turn ip_forward on), so the forward chain
 * drops it last (the hub's spoke-to-spoke accept comes before).
 */
const localBridgeInterfaces = ["docker0", "br-*", "veth*", "podman*", "cni-podman*", "lxcbr*", "lxdbr*", "virbr*", "vnet*"];

export function renderNftRuleset(f: NftRulesetFacts): string {
    const meshCidr = checkFacts(f);
    const mesh = `"${f.meshInterface}"`;
    const extraTcpPorts = [...new Set(f.extraTcpPorts ?? [])].sort((a, b) => a - b);
    const lanRoutes = (f.lanRoutes ?? []).map((text) => {
        const cidr = parseCidr(text);
        if (!cidr || cidrsOverlap(cidr, parseCidr(meshCidr)!)) throw new Error(`nftables ${f.hostName}: route "${text}" is not a CIDR outside the mesh`);
        return cidr.text;
    });
    const extraUdpPorts = [...new Set(f.extraUdpPorts ?? [])].sort((a, b) => a - b);
    const localInterfaces = `{ ${['"cni0"', '"flannel*"', ...localBridgeInterfaces.map((i) => `"${i}"`)].join(", ")} }`;
    const role = [
        f.isHub ? "WireGuard hub" : "mesh spoke",
        ...(f.isEdge ? ["edge"] : []),
        ...(lanRoutes.length ? [`gateway to ${lanRoutes.join(", ")}`] : []),
    ].join(", ");

    const input = [
        "\tchain input {",
        "\t\ttype filter hook input priority filter + 10; policy accept;",
        "\t\t# Policy accept plus explicit rejects at the end: a half-applied edit never locks the host out,",
        "\t\t# and the other tables (k3s, kube-proxy, flannel) keep working as they expect.",
        '\t\tct state established,related accept comment "replies to connections this host opened"',
        '\t\tiif "lo" accept',
        `\t\tiifname != ${mesh} ip saddr ${meshCidr} counter drop comment "mesh addresses exist only inside the tunnel: forged"`,
        '\t\tmeta l4proto { icmp, ipv6-icmp } accept comment "path MTU discovery, IPv6 neighbour discovery, ping"',
        `\t\ttcp dport ${f.sshPort} accept comment "SSH from anywhere: the way back in when the mesh is down"`,
        `\t\tiifname ${mesh} accept comment "mesh peers: WireGuard has authenticated the peer and its source address"`,
        `\t\tiifname ${podInterfaces} ip saddr @cluster_ranges accept comment "pods and flannel; a cluster source counts only on these interfaces"`,
        ...(f.acceptMeshPort ? [`\t\tudp dport ${f.meshListenPort} accept comment "the mesh's own port: peers connect here, or the mesh dies"`] : []),
        ...(f.isEdge ? ['\t\ttcp dport { 80, 443 } accept comment "edge: public web traffic"'] : []),
        ...(extraTcpPorts.length > 0 ? [`\t\ttcp dport { ${extraTcpPorts.join(", ")} } accept comment "extra public services of this host"`] : []),
        ...(extraUdpPorts.length > 0 ? [`\t\tudp dport { ${extraUdpPorts.join(", ")} } accept comment "extra public UDP services of this host"`] : []),
        '\t\tip6 saddr fe80::/10 udp sport 547 udp dport 546 accept comment "DHCPv6 replies: cloud hosts renew their IPv6 lease"',
        "\t\t# k3s ports are named so the intent shows and the counters tell who knocked.",
        `\t\ttcp dport { ${clusterOnlyTcpPorts.join(", ")} } counter reject with tcp reset comment "k3s API, kubelet, etcd: mesh only"`,
        `\t\tudp dport { ${clusterOnlyUdpPorts.join(", ")} } counter reject with icmpx admin-prohibited comment "flannel VXLAN and WireGuard: mesh only"`,
        `\t\tiifname != ${mesh} meta l4proto tcp counter reject with tcp reset comment "anything else from outside the mesh"`,
        `\t\tiifname != ${mesh} counter reject with icmpx admin-prohibited`,
        "\t}",
    ];

    const forward = [
        "\tchain forward {",
        "\t\ttype filter hook forward priority filter + 10; policy accept;",
        "\t\t# Policy accept: forwarding to and from the host's own containers and VMs keeps working; the mesh",
        "\t\t# and the pod network are closed to the outside, and the host routes for nobody else.",
        "\t\tct state established,related accept",
        ...(f.isHub ? [`\t\tiifname ${mesh} oifname ${mesh} accept comment "spoke to spoke through the hub, source addresses kept"`] : []),
        `\t\tiifname ${mesh} ip daddr @cluster_ranges accept comment "mesh peers to pods and services"`,
        ...lanForward(mesh, lanRoutes),
        `\t\tiifname ${podInterfaces} accept comment "pods to anywhere, and the flannel overlay between nodes"`,
        `\t\toifname ${mesh} counter reject with icmpx admin-prohibited comment "nothing from outside enters the mesh, whatever source it claims"`,
        `\t\toifname ${podInterfaces} counter reject with icmpx admin-prohibited comment "nor the pod network: NodePorts stay mesh only"`,
        // Last: what is left crosses between two interfaces that are neither pods nor the host's own
        // containers (mesh to internet, LAN to LAN, mesh to mesh on a spoke).
        `\t\tiifname != ${localInterfaces} oifname != ${localInterfaces} counter drop comment "no router: this host forwards for the mesh, its pods and its containers only"`,
        "\t}",
    ];

    return [
        "#!/usr/sbin/nft -f",
        `# hybrid-k3s firewall for ${f.hostName} (${role}).`,
        `# Replaces only table inet ${nftTableName}: k3s, flannel and kube-proxy keep their own tables,`,
        "# which `flush ruleset` would wipe on every reload. Create-then-delete makes reloading idempotent.",
        `table inet ${nftTableName} {}`,
        `delete table inet ${nftTableName}`,
        "",
        `table inet ${nftTableName} {`,
        "\t# Pod and service ranges (k3s --cluster-cidr, --service-cidr).",
        "\tset cluster_ranges {",
        "\t\ttype ipv4_addr",
        "\t\tflags interval",
        `\t\telements = { ${f.clusterCidr}, ${f.serviceCidr} }`,
        "\t}",
        ...(lanRoutes.length
            ? [
                  "",
                  "\t# LANs behind this host (its node's routes).",
                  "\tset lan_routes {",
                  "\t\ttype ipv4_addr",
                  "\t\tflags interval",
                  `\t\telements = { ${lanRoutes.join(", ")} }`,
                  "\t}",
              ]
            : []),
        "",
        ...input,
        "",
        ...forward,
        ...lanMasquerade(mesh, meshCidr, lanRoutes),
        "}",
        "",
    ].join("\n");
}

/**
 * Forwarding to the LANs behind this host: from the mesh only (replies come back as established);
 * anything else aimed at them, from the internet say, is refused.
 */
function lanForward(mesh: string, lanRoutes: string[]): string[] {
    if (lanRoutes.length === 0) return [];
    return [
        `\t\tiifname ${mesh} ip daddr @lan_routes accept comment "mesh peers to the LANs behind this host"`,
        `\t\tip daddr @lan_routes counter reject with icmpx admin-prohibited comment "those LANs are reached from the mesh only"`,
    ];
}

/**
 * Mesh sources leave onto the LAN as this host, so LAN machines answer without a route back to the
 * mesh (as ZeroTier's guide to bridging a physical network does, with MASQUERADE on the gateway:
 * docs.zerotier.com, "Route between ZeroTier and Physical Networks").
 */
function lanMasquerade(mesh: string, meshCidr: string, lanRoutes: string[]): string[] {
    if (lanRoutes.length === 0) return [];
    return [
        "",
        "\tchain postrouting {",
        "\t\ttype nat hook postrouting priority srcnat + 10; policy accept;",
        `\t\tip saddr ${meshCidr} ip daddr @lan_routes oifname != ${mesh} masquerade comment "the mesh onto the LANs behind this host"`,
        "\t}",
    ];
}

/** Throws on anything that would render a broken or dangerous ruleset; returns the mesh CIDR. */
function checkFacts(f: NftRulesetFacts): string {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(f.hostName)) {
        throw new Error(`nftables: host name "${f.hostName}" must be 1-63 letters, digits or ._- (it is written into the ruleset)`);
    }
    if (!interfaceNamePattern.test(f.meshInterface)) {
        throw new Error(`nftables ${f.hostName}: mesh interface "${f.meshInterface}" is not an interface name`);
    }
    const ranges = (["meshCidr", "clusterCidr", "serviceCidr"] as const).map((key) => {
        const cidr = parseCidr(f[key]);
        if (!cidr) throw new Error(`nftables ${f.hostName}: ${key} "${f[key]}" is not an IPv4 CIDR with its network address`);
        return cidr;
    });
    // An overlap would make the forged-mesh-source rule drop pod traffic.
    for (const [a, b] of [
        [0, 1],
        [0, 2],
        [1, 2],
    ]) {
        if (cidrsOverlap(ranges[a], ranges[b]))
            throw new Error(`nftables ${f.hostName}: ${ranges[a].text} and ${ranges[b].text} overlap; mesh, cluster and service ranges must be separate`);
    }
    for (const [what, port] of [
        ["sshPort", f.sshPort],
        ["meshListenPort", f.meshListenPort],
        ...(f.extraTcpPorts ?? []).map((p) => ["extraTcpPorts", p] as const),
        ...(f.extraUdpPorts ?? []).map((p) => ["extraUdpPorts", p] as const),
    ] as const) {
        if (!isPort(port)) throw new Error(`nftables ${f.hostName}: ${what} ${port} is not a port (1-65535)`);
    }
    // Opening a mesh-only port to the internet is never what anyone means: reach it over the mesh.
    for (const port of [f.sshPort, ...(f.extraTcpPorts ?? [])]) {
        if (meshOnlyRangeOf("tcp", port)) {
            throw new Error(`nftables ${f.hostName}: tcp ${port} is a k3s port that must stay mesh only; reach it over the mesh instead`);
        }
    }
    for (const port of f.extraUdpPorts ?? []) {
        if (meshOnlyRangeOf("udp", port)) throw new Error(`nftables ${f.hostName}: udp ${port} is a flannel port that must stay mesh only`);
    }
    return ranges[0].text;
}
