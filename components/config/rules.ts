// Cross-field rules: what no single field can say alone (mesh addresses, names across lists,
// topology, etcd quorum, overlapping ranges).
import { cidrContains, cidrsOverlap, formatIpv4, isReservedInCidr, parseCidr, parseIpv4, Cidr } from "../net";
import { awsVpcCidr, azureVnetCidr } from "./placement";
import { AppSpec, Datastore, MeshKind, NodeSpec, OperatorSpec, Role } from "./types";

export function checkMeshAddresses(nodes: NodeSpec[], operators: OperatorSpec[], meshCidr: Cidr | undefined, problems: string[]): void {
    if (!meshCidr) return;
    const owners = new Map<number, string>();
    const members = [
        ...nodes.map((n, i) => ({ field: `nodes[${i}].meshAddress`, label: `node ${n.name}`, address: n.meshAddress })),
        ...operators.map((o, i) => ({ field: `operators[${i}].meshAddress`, label: `operator ${o.name}`, address: o.meshAddress })),
    ];
    const taken = new Set(members.map((m) => parseIpv4(m.address)).filter((a): a is number => a !== undefined));
    for (const member of members) {
        const address = parseIpv4(member.address);
        if (address === undefined) continue;
        if (!cidrContains(meshCidr, address) || isReservedInCidr(meshCidr, address)) {
            problems.push(`${member.field}: ${member.address} is not a host address of meshCidr ${meshCidr.text}; pick one inside it`);
            continue;
        }
        const owner = owners.get(address);
        if (owner) {
            problems.push(
                `${member.field}: ${member.address} (${member.label}) is already used by ${owner}; pin a free address such as ${formatIpv4(freeAddress(meshCidr, taken))}`,
            );
        } else {
            owners.set(address, member.label);
        }
    }
}

function freeAddress(cidr: Cidr, taken: Set<number>): number {
    for (let a = cidr.network + 1; ; a++) if (!taken.has(a)) return a;
}

/** Nodes and operators share one namespace: WireGuard keys, peers and resources are named after them. */
export function checkUniqueNames(nodes: NodeSpec[], operators: OperatorSpec[], problems: string[]): void {
    const nodeNames = new Set(nodes.map((n) => n.name));
    operators.forEach((o, i) => {
        if (nodeNames.has(o.name)) problems.push(`operators[${i}].name: "${o.name}" is also a node's name; names are unique across nodes and operators`);
    });
    const seen = new Set<string>();
    operators.forEach((o, i) => {
        if (seen.has(o.name)) problems.push(`operators[${i}].name: "${o.name}" appears twice`);
        seen.add(o.name);
    });
}

/** Routes to the cloud networks this program creates must not shadow the mesh, pods or services. */
export function checkCloudNetworkOverlap(nodes: NodeSpec[], ranges: Record<string, Cidr | undefined>, problems: string[]): void {
    const cloudNetworks = [
        ...(nodes.some((n) => n.aws && !n.aws.subnetId) ? [["the AWS VPC", awsVpcCidr]] : []),
        ...(nodes.some((n) => n.azure) ? [["the Azure VNet", azureVnetCidr]] : []),
    ];
    for (const [what, text] of cloudNetworks) {
        for (const [key, cidr] of Object.entries(ranges)) {
            if (cidr && cidrsOverlap(cidr, parseCidr(text)!))
                problems.push(`${key}: ${cidr.text} overlaps ${what} ${text} that this program creates; pick another range`);
        }
    }
}

export function checkTopology(nodes: NodeSpec[], meshKind: MeshKind, datastore: Datastore, apps: AppSpec[], problems: string[]): void {
    const field = (n: NodeSpec) => `nodes[${nodes.indexOf(n)}]`;
    const servers = nodes.filter((n) => n.roles.includes("server"));
    const activeServers = servers.filter((n) => !n.decommission);
    if (nodes.length > 0 && servers.length === 0) problems.push(`nodes: no node has role server; give one node roles: [server]`);
    else if (servers.length > 0 && activeServers.length === 0)
        problems.push(`nodes: every server is decommissioned; keep at least one server, or tear the cluster down with pulumi destroy`);
    if (datastore === "embedded-etcd" || (datastore === "sqlite" && servers.length > 1)) {
        const leaving = servers.filter((n) => n.decommission);
        if (leaving.length > 1) {
            problems.push(
                `${field(leaving[1])}.decommission: ${leaving.map((n) => n.name).join(" and ")} would leave etcd at once and can break quorum; decommission one server per pulumi up`,
            );
        }
        if (activeServers.length % 2 === 0 && activeServers.length > 0) {
            problems.push(
                `nodes: ${activeServers.length} servers with embedded etcd cannot keep quorum through a failure; use an odd number (1, 3, 5)` +
                    (leaving.length > 0 ? ": add a server before decommissioning one" : " or set k3sDatastoreEndpoint"),
            );
        }
        const sites = [...new Set(servers.map((s) => s.site))];
        if (sites.length > 1) {
            problems.push(
                `nodes: embedded-etcd servers span sites ${sites.join(", ")}; etcd across sites is unsupported: put every server in one site (set site) or use k3sDatastoreEndpoint`,
            );
        }
    }
    const hubs = nodes.filter((n) => n.roles.includes("hub"));
    if (meshKind === "wireguard" && nodes.length > 0 && hubs.length !== 1) {
        problems.push(
            `nodes: a wireguard mesh needs exactly one node with role hub (found ${hubs.length}${hubs.length ? `: ${hubs.map((h) => h.name).join(", ")}` : ""})`,
        );
    }
    for (const hub of hubs) {
        if (hub.decommission) problems.push(`${field(hub)}.decommission: ${hub.name} is the hub; move the hub role to another node first`);
    }
    if (meshKind === "zerotier" && hubs.length > 0) problems.push(`${field(hubs[0])}.roles: hub is a wireguard role; remove it for meshKind zerotier`);
    for (const node of nodes) {
        if (!node.existing) continue;
        const inbound = node.roles.filter((r): r is Role => r === "hub" || r === "edge");
        if (node.existing.behindNat && inbound.length > 0) {
            problems.push(
                `${field(node)}.roles: ${node.name} is behind NAT and cannot take role ${inbound.join(", ")}, which needs inbound traffic from the internet; move it to a public host`,
            );
        }
    }
    if (apps.length > 0) {
        if (!nodes.some((n) => n.roles.includes("ingress"))) problems.push(`nodes: apps are configured but no node has role ingress to run the Istio gateway`);
        if (!nodes.some((n) => n.roles.includes("edge")))
            problems.push(`nodes: apps are configured but no node has role edge to take traffic from the internet`);
    }
    for (const node of nodes.filter((n) => n.roles.includes("ingress") && !n.roles.some((r) => r === "server" || r === "agent"))) {
        problems.push(`${field(node)}.roles: ingress runs the Istio gateway pod, so ${node.name} must also be a server or agent`);
    }
}
