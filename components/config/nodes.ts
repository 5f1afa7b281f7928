// The node fields, one declarative table (which provider takes each, what it means), and the
// reader that turns each entry of `nodes` into a NodeSpec. Pulumi.yaml documents every row (a test).
import { isIP } from "node:net";
import { derivedAddress, formatIpv4, isDnsLabel, parseCidr, parseIpv4, Cidr } from "../net";
import { hostPortExample, hostPortPattern, unixUserPattern } from "../patterns";
import { defaultSshPort, httpPort, httpsPort, meshOnlyRangeOf, PortProtocol } from "../ports";
import { awsPlacementProblems, azurePlacementProblems, FieldProblem, readAws, readAzure, readExisting } from "./placement";
import { asObjectList, checkKeys, FieldReader } from "./readers";
import { projectName } from "./settings";
import { arches, EdgeFallback, NodeSpec, Provider, providers, Role, roles } from "./types";

export interface NodeField {
    key: string;
    /** The providers that take it; absent: every node. */
    providers?: readonly Provider[];
    description: string;
}

export const nodeFields: readonly NodeField[] = [
    { key: "name", description: "Hostname and Kubernetes node name (a DNS label), unique across nodes and operators." },
    { key: "provider", description: "aws, azure or existing." },
    { key: "arch", description: "arm64 or amd64; must match the instance type or VM size." },
    { key: "roles", description: "Any of server, agent, hub, edge, ingress (server or agent, not both)." },
    { key: "meshAddress", description: "Address on the mesh; absent: derived from the name (stable when nodes are added or removed)." },
    { key: "site", description: "Failure domain; embedded-etcd servers must share one. Default: the region, location or the node itself." },
    {
        key: "sshUser",
        description:
            "Login user (root, or a user with passwordless sudo). Default: admin (AWS Debian), ubuntu (AWS Ubuntu), azureuser (Azure), root (existing).",
    },
    { key: "sshPort", description: "SSH port (existing hosts only; cloud images keep 22)." },
    {
        key: "routes",
        description: "LANs behind this node (CIDRs, e.g. [192.168.1.0/24]): it becomes the mesh's gateway to them (forwarding, mesh routes, masquerade).",
    },
    {
        key: "publicTcpPorts",
        description: "TCP ports this host serves to the internet besides SSH (and 80/443 on edges), e.g. [25, 587]; never a k3s port.",
    },
    { key: "publicUdpPorts", description: "UDP ports this host serves to the internet besides the mesh's own, e.g. [53]; never a flannel port." },
    {
        key: "edgeFallback",
        description:
            'Edges on a shared host: { http: "127.0.0.1:8080", https: "127.0.0.1:8443" }, where the host\'s own web server moved; names that are not cluster apps go there (SNI on 443, Host on 80).',
    },
    {
        key: "decommission",
        description: "true: drain, delete and uninstall this node while it is still on the mesh; remove it from the config on the next up.",
    },
    { key: "region", providers: ["aws"], description: "AWS region, e.g. us-east-1." },
    { key: "instanceType", providers: ["aws"], description: "EC2 instance type, e.g. t4g.small (arm64) or t3.small (amd64)." },
    { key: "ami", providers: ["aws"], description: "A fixed AMI id; absent: the newest official image of os for arch." },
    { key: "os", providers: ["aws", "azure"], description: "debian-12 or ubuntu-24.04." },
    { key: "rootVolumeGb", providers: ["aws"], description: "Root volume size (8-16384, default 20)." },
    { key: "vpcId", providers: ["aws"], description: "An existing VPC (with subnetId) instead of the one this program creates." },
    { key: "subnetId", providers: ["aws"], description: "An existing subnet (with vpcId)." },
    { key: "location", providers: ["azure"], description: "Azure location, e.g. eastus." },
    { key: "size", providers: ["azure"], description: "Azure VM size, e.g. Standard_D2ps_v5 (arm64) or Standard_B2s (amd64)." },
    { key: "osDiskGb", providers: ["azure"], description: "OS disk size (30-4095, default 30)." },
    { key: "address", providers: ["existing"], description: "Public IPv4 address or DNS name; absent when behindNat." },
    { key: "behindNat", providers: ["existing"], description: "true for a machine at home: reached on its mesh address through the hub." },
    { key: "hostKey", providers: ["existing"], description: "The host's SSH host key line (ssh-ed25519 AAAA...), pinned on every connection." },
    { key: "enrolled", providers: ["existing"], description: "true once the owner ran the host's bootstrap script; until then nothing runs on it." },
    {
        key: "zerotierMemberId",
        providers: ["existing"],
        description: "(meshKind zerotier, behindNat) The member id its bootstrap script printed; Central authorizes it before Pulumi reaches the host.",
    },
    {
        key: "adopt",
        providers: ["existing"],
        description:
            "true: take over a k3s this project did not install (keeps its data, its server token and any newer release); without it such a host is refused.",
    },
    {
        key: "purge",
        providers: ["existing"],
        description: "true: removing k3s from this host also deletes /var/lib/rancher/k3s (volumes, images); default: kept.",
    },
];

const nodeKeys = nodeFields.map((f) => f.key);
const keysOf = (provider: Provider) => nodeFields.filter((f) => f.providers?.includes(provider)).map((f) => f.key);

export function readNodes(value: unknown, meshCidr: Cidr | undefined, problems: string[]): NodeSpec[] {
    if (value === undefined) problems.push(`${projectName}:nodes: no nodes; add at least one server (see Pulumi.yaml)`);
    const seen = new Map<string, number>();
    return asObjectList(value, "nodes", problems).flatMap((item, index): NodeSpec[] => {
        const r = new FieldReader(item, `nodes[${index}]`, problems);
        checkKeys(item, nodeKeys, r.path, problems);
        const name = r.string("name", true);
        if (name !== undefined) {
            if (!isDnsLabel(name)) r.problem("name", `"${name}" is not a valid hostname (lowercase letters, digits and -, at most 63, e.g. white-amd)`);
            if (seen.has(name)) r.problem("name", `"${name}" is already the name of nodes[${seen.get(name)}]; node names must be unique`);
            seen.set(name, index);
        }
        const provider = r.oneOf("provider", providers);
        const arch = r.oneOf("arch", arches);
        const nodeRoles = r.stringList("roles");
        if (nodeRoles.length === 0) r.problem("roles", `is required; a list of ${roles.join(", ")}`);
        for (const role of nodeRoles) if (!roles.includes(role as Role)) r.problem("roles", `"${role}" is not one of ${roles.join(", ")}`);
        if (nodeRoles.includes("server") && nodeRoles.includes("agent"))
            r.problem("roles", "a node is a server or an agent, not both (k3s servers run workloads too)");
        const meshAddress = r.string("meshAddress");
        if (meshAddress !== undefined && parseIpv4(meshAddress) === undefined) r.problem("meshAddress", `"${meshAddress}" is not an IPv4 address`);
        const site = r.matching("site", /^[a-z0-9][a-z0-9:._-]{0,62}$/, "home or aws:us-east-1");
        const sshUser = r.matching("sshUser", unixUserPattern, "admin (a login name: lowercase letters, digits, _ and -)");
        if (!provider || !arch || name === undefined) return [];
        for (const other of providers.filter((p) => p !== provider)) {
            for (const key of keysOf(other)) {
                if (item[key] !== undefined && !keysOf(provider).includes(key))
                    r.problem(key, `belongs to provider ${other}, not ${provider}; remove it or change provider`);
            }
        }
        const base = {
            name,
            arch,
            roles: nodeRoles as Role[],
            meshAddress: meshAddress ?? (meshCidr ? formatIpv4(derivedAddress(meshCidr, name)) : ""),
            sshPort: r.integer("sshPort", defaultSshPort, 1, 65535),
            publicTcpPorts: readPublicPorts(r, "tcp"),
            publicUdpPorts: readPublicPorts(r, "udp"),
            routes: readRoutes(r),
            decommission: r.boolean("decommission", false),
            edgeFallback: readEdgeFallback(r, item.edgeFallback, nodeRoles),
        };
        let node: NodeSpec;
        if (provider === "aws") {
            const aws = readAws(r);
            node = { ...base, provider, aws, site: site ?? `aws:${aws.region}`, sshUser: sshUser ?? (aws.os === "ubuntu-24.04" ? "ubuntu" : "admin") };
            reportPlacement(awsPlacementProblems(aws, node), item, r);
        } else if (provider === "azure") {
            const azure = readAzure(r);
            node = { ...base, provider, azure, site: site ?? `azure:${azure.location}`, sshUser: sshUser ?? "azureuser" };
            reportPlacement(azurePlacementProblems(azure, node), item, r);
        } else {
            node = {
                ...base,
                provider,
                existing: readExisting(r),
                site: site ?? `existing:${name}`,
                sshUser: sshUser ?? "root",
                adopt: r.boolean("adopt", false),
                purge: r.boolean("purge", false),
            };
        }
        return [node];
    });
}

/** Required fields already reported as missing are not reported again as malformed. */
function reportPlacement(found: FieldProblem[], item: Record<string, unknown>, r: FieldReader): void {
    for (const { field, message } of found) if (item[field] !== undefined || ["arch", "sshPort", "sshUser"].includes(field)) r.problem(field, message);
}

function readRoutes(r: FieldReader): string[] {
    return r.stringList("routes").flatMap((text) => {
        const cidr = parseCidr(text);
        if (!cidr) {
            r.problem("routes", `"${text}" is not an IPv4 CIDR with its network address (e.g. 192.168.1.0/24)`);
            return [];
        }
        return [cidr.text];
    });
}

function readPublicPorts(r: FieldReader, protocol: PortProtocol): number[] {
    const field = protocol === "tcp" ? "publicTcpPorts" : "publicUdpPorts";
    return r.list(field).flatMap((port) => {
        if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
            r.problem(field, `${JSON.stringify(port)} is not a port (1-65535)`);
            return [];
        }
        const meshOnly = meshOnlyRangeOf(protocol, port);
        if (meshOnly) {
            r.problem(
                field,
                `${port} is ${meshOnly.what}, reachable only over the mesh (the policy pack refuses it too); remove it and use the kubeconfig output over the mesh`,
            );
            return [];
        }
        return [port];
    });
}

/** `{ http, https }`, each host:port; only on edges, and never the edge's own 80/443 on this host. */
function readEdgeFallback(r: FieldReader, value: unknown, nodeRoles: string[]): EdgeFallback | undefined {
    if (value === undefined) return undefined;
    const example = `{ http: "127.0.0.1:8080", https: "${hostPortExample}" }`;
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
        r.problem("edgeFallback", `expected ${example}`);
        return undefined;
    }
    const raw = value as Record<string, unknown>;
    const unknown = Object.keys(raw).filter((k) => k !== "http" && k !== "https");
    if (unknown.length > 0) r.problem("edgeFallback", `unknown key ${unknown.join(", ")}; expected ${example}`);
    if (!nodeRoles.includes("edge")) r.problem("edgeFallback", "only an edge forwards to a fallback; add the edge role or remove edgeFallback");
    const fallback: Partial<EdgeFallback> = {};
    for (const key of ["http", "https"] as const) {
        const address = raw[key];
        const match = typeof address === "string" ? hostPortPattern.exec(address) : null;
        if (!match || Number(match[2]) > 65535 || isIP(match[1].replace(/^\[|\]$/g, "")) === 0) {
            r.problem(
                `edgeFallback.${key}`,
                `${JSON.stringify(address)} is not an IP address and port; write it like ${hostPortExample} (no DNS names: the proxy would not start without DNS)`,
            );
            continue;
        }
        const loopback = /^(127\.|\[::1\]$)/.test(match[1]);
        const port = Number(match[2]);
        if (loopback && (port === httpPort || port === httpsPort)) {
            r.problem(
                `edgeFallback.${key}`,
                `${address} is the edge's own port ${port} on this host; move the web server to another port, e.g. ${hostPortExample}`,
            );
            continue;
        }
        fallback[key] = address as string;
    }
    return fallback.http !== undefined && fallback.https !== undefined ? { http: fallback.http, https: fallback.https } : undefined;
}
