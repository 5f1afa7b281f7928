// The stack config model: one schema, validated before any resource exists, producing a plain-data
// ClusterSpec. Every later layer reads the spec, never the raw config.
import {
    Cidr, cidrContains, cidrsOverlap, derivedAddress, formatIpv4, isDnsLabel, isDnsName, isPort, isReservedInCidr, parseCidr, parseIpv4,
} from "./net";

export const projectName = "hybrid-k3s";

export type Role = "server" | "agent" | "hub" | "edge" | "ingress";
export type Arch = "arm64" | "amd64";
export type Provider = "aws" | "azure" | "existing";
export type MeshKind = "wireguard" | "zerotier";
export type OsImage = "debian-12" | "ubuntu-24.04";
export type EdgeProxyKind = "haproxy" | "nginx";
export type DnsProvider = "none" | "route53" | "azure";

const roles: readonly Role[] = ["server", "agent", "hub", "edge", "ingress"];
const arches: readonly Arch[] = ["arm64", "amd64"];
const providers: readonly Provider[] = ["aws", "azure", "existing"];
const osImages: readonly OsImage[] = ["debian-12", "ubuntu-24.04"];

export interface AwsPlacement {
    region: string;
    instanceType: string;
    os: OsImage;
    /** A fixed AMI id; otherwise the newest official image for os + arch is looked up. */
    ami?: string;
    rootVolumeGb: number;
    /** An existing subnet to use instead of the per-region VPC this program creates. */
    subnetId?: string;
    vpcId?: string;
}

export interface AzurePlacement {
    location: string;
    size: string;
    os: OsImage;
    osDiskGb: number;
}

export interface ExistingPlacement {
    /** Public address or DNS name; absent for a host behind NAT. */
    address?: string;
    behindNat: boolean;
}

export interface NodeSpec {
    name: string;
    provider: Provider;
    arch: Arch;
    roles: Role[];
    meshAddress: string;
    /** Failure domain: embedded-etcd servers must share one. */
    site: string;
    sshUser: string;
    sshPort: number;
    /** Extra TCP ports this host serves to the internet (cloud firewall and nftables). */
    publicTcpPorts: number[];
    aws?: AwsPlacement;
    azure?: AzurePlacement;
    existing?: ExistingPlacement;
}

export interface OperatorSpec {
    name: string;
    meshAddress: string;
}

export interface AppSpec {
    host: string;
    namespace: string;
    service: string;
    port: number;
}

export interface ClusterSpec {
    clusterName: string;
    mesh: {
        kind: MeshKind;
        cidr: string;
        prefix: number;
        listenPort: number;
        mtu: number;
        interfaceName: string;
        zerotierNetworkId?: string;
    };
    k3s: {
        version: string;
        clusterCidr: string;
        serviceCidr: string;
        flannelBackend: "wireguard-native" | "vxlan";
        serverFlags: string[];
        agentFlags: string[];
        tlsSans: string[];
        datastore: "sqlite" | "embedded-etcd" | "external";
        upgradeBatchSize: number;
    };
    nodes: NodeSpec[];
    operators: OperatorSpec[];
    ssh: { sourceCidrs: string[]; hasPrivateKey: boolean };
    ingress: {
        istioVersion: string;
        certManagerVersion: string;
        acmeEmail?: string;
        acmeStaging: boolean;
        httpNodePort: number;
        httpsNodePort: number;
        apps: AppSpec[];
    };
    edge: { proxy: EdgeProxyKind };
    dns: { provider: DnsProvider; zone?: string };
}

/** Every problem in the config at once, each naming the field and the fix. */
export class ConfigError extends Error {
    constructor(readonly problems: string[]) {
        super(`invalid stack config (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` +
            problems.map((p) => `  - ${p}`).join("\n"));
        this.name = "ConfigError";
    }
}

type SettingKind = "string" | "integer" | "boolean" | "array";

/** A scalar or list-of-strings setting: declared, typed and described in Pulumi.yaml as well (a test keeps them equal). */
export interface ScalarSetting {
    key: string;
    kind: SettingKind;
    description: string;
    default?: string | number | boolean | string[];
    secret?: boolean;
    oneOf?: readonly string[];
}

export const scalarSettings: readonly ScalarSetting[] = [
    { key: "clusterName", kind: "string", default: "hybrid-k3s", description: "Name of the cluster: kubeconfig context, resource tags, cloud resource names." },
    { key: "meshKind", kind: "string", default: "wireguard", oneOf: ["wireguard", "zerotier"], description: "Private mesh between the hosts: wireguard (hub and spoke) or zerotier." },
    { key: "meshCidr", kind: "string", default: "10.0.0.0/24", description: "IPv4 CIDR of the mesh; must not overlap the cluster or service CIDR." },
    { key: "meshListenPort", kind: "integer", default: 51820, description: "UDP port the WireGuard hub listens on (the only mesh port open to the internet)." },
    { key: "meshMtu", kind: "integer", default: 1420, description: "MTU of the mesh interface." },
    { key: "meshInterface", kind: "string", default: "wg0", description: "Name of the WireGuard interface on every host (wg-quick@<name>)." },
    { key: "zerotierNetworkId", kind: "string", description: "16-hex-digit ZeroTier network id (meshKind zerotier)." },
    { key: "zerotierApiToken", kind: "string", secret: true, description: "ZeroTier Central API token that authorizes members and pins their addresses (meshKind zerotier)." },
    { key: "k3sVersion", kind: "string", default: "v1.31.1+k3s1", description: "k3s release installed on every node; changing it rolls servers one at a time, then agents in batches." },
    { key: "clusterCidr", kind: "string", default: "10.42.0.0/16", description: "Pod CIDR (k3s --cluster-cidr)." },
    { key: "serviceCidr", kind: "string", default: "10.43.0.0/16", description: "Service CIDR (k3s --service-cidr)." },
    { key: "flannelBackend", kind: "string", default: "wireguard-native", oneOf: ["wireguard-native", "vxlan"], description: "Flannel backend; wireguard-native encrypts pod traffic (seed 000's choice)." },
    { key: "k3sServerFlags", kind: "array", default: [], description: "Extra k3s server flags (flags that rebind the API away from the mesh are refused)." },
    { key: "k3sAgentFlags", kind: "array", default: [], description: "Extra k3s agent flags." },
    { key: "k3sTlsSans", kind: "array", default: [], description: "Extra names for the API certificate (the mesh address is always included)." },
    { key: "k3sDatastoreEndpoint", kind: "string", secret: true, description: "External datastore for HA servers (e.g. postgres://...); absent: sqlite for one server, embedded etcd for several." },
    { key: "upgradeBatchSize", kind: "integer", default: 1, description: "Agents upgraded at once when k3sVersion changes." },
    { key: "sshSourceCidrs", kind: "array", default: ["0.0.0.0/0"], description: "Sources allowed to reach SSH on cloud VMs (seed 002 leaves it open; the policy pack warns)." },
    { key: "sshPrivateKey", kind: "string", secret: true, description: "Private key for existing hosts; absent: the generated cluster key, whose public half is the sshAuthorizedKey output." },
    { key: "istioVersion", kind: "string", default: "1.23.2", description: "Istio Helm charts version (base, istiod, gateway)." },
    { key: "certManagerVersion", kind: "string", default: "v1.16.1", description: "cert-manager Helm chart version." },
    { key: "acmeEmail", kind: "string", description: "Let's Encrypt account email; absent: no ClusterIssuer or Certificates." },
    { key: "acmeStaging", kind: "boolean", default: true, description: "Use Let's Encrypt staging (untrusted certs, generous limits) until you flip it." },
    { key: "gatewayHttpNodePort", kind: "integer", default: 30080, description: "NodePort of the Istio gateway's HTTP port on ingress nodes." },
    { key: "gatewayHttpsNodePort", kind: "integer", default: 30443, description: "NodePort of the Istio gateway's HTTPS port on ingress nodes." },
    { key: "edgeProxy", kind: "string", default: "haproxy", oneOf: ["haproxy", "nginx"], description: "Layer-4 proxy on edge hosts: haproxy (seed 000) or nginx stream (seed 002)." },
    { key: "dnsProvider", kind: "string", default: "none", oneOf: ["none", "route53", "azure"], description: "Where to publish round-robin A records for the apps." },
    { key: "dnsZone", kind: "string", description: "DNS zone name (route53: hosted zone; azure: zone in the resource group named <clusterName>-dns)." },
];

/** Structured settings: Pulumi.yaml cannot type objects, so these are documented there and validated here. */
export const structuredSettings = ["nodes", "operators", "apps"] as const;


/** AWS Graviton families carry a "g" after the generation digit (t4g, c7gn, m7gd, x2gd, a1). */
export function awsInstanceArch(instanceType: string): Arch | undefined {
    const family = instanceType.split(".")[0];
    if (!/^[a-z][a-z0-9-]*\.[a-z0-9]+$/.test(instanceType)) return undefined;
    return family === "a1" || /^[a-z]+\d+g[a-z]*$/.test(family) ? "arm64" : "amd64";
}

/** Azure Ampere sizes carry "p" among the feature letters after the vCPU count (D2ps_v5, D4pds_v5, E2ps_v5, B2pts_v2). */
export function azureSizeArch(size: string): Arch | undefined {
    const match = /^Standard_([A-Z]+)(\d+)(?:-\d+)?([a-z]*)(?:_v\d+)?$/.exec(size);
    if (!match) return undefined;
    return match[3].includes("p") ? "arm64" : "amd64";
}

/** Reads one raw config map (key → parsed value) into a ClusterSpec, or throws ConfigError listing every problem. */
export function parseClusterConfig(raw: Record<string, unknown>): ClusterSpec {
    const problems: string[] = [];
    const known = new Set<string>([...scalarSettings.map((s) => s.key), ...structuredSettings]);
    for (const key of Object.keys(raw)) {
        if (!known.has(key)) problems.push(`${projectName}:${key}: unknown setting; ${suggest(key, [...known])}`);
    }
    const setting = <T>(key: string): T => readScalar(raw, key, problems) as T;

    const meshCidrText = setting<string>("meshCidr");
    const meshCidr = cidrOrProblem(meshCidrText, "meshCidr", problems);
    const clusterCidr = cidrOrProblem(setting<string>("clusterCidr"), "clusterCidr", problems);
    const serviceCidr = cidrOrProblem(setting<string>("serviceCidr"), "serviceCidr", problems);
    if (meshCidr) {
        for (const [name, other] of [["clusterCidr", clusterCidr], ["serviceCidr", serviceCidr]] as const) {
            if (other && cidrsOverlap(meshCidr, other)) {
                problems.push(`meshCidr: ${meshCidr.text} overlaps ${name} ${other.text}; pick a mesh range outside it (e.g. 10.0.0.0/24)`);
            }
        }
        if (meshCidr.prefix > 30) problems.push(`meshCidr: ${meshCidr.text} has no room for hosts; use a /30 or larger (e.g. /24)`);
    }
    if (clusterCidr && serviceCidr && cidrsOverlap(clusterCidr, serviceCidr)) {
        problems.push(`serviceCidr: ${serviceCidr.text} overlaps clusterCidr ${clusterCidr.text}; use separate ranges`);
    }

    const clusterName = setting<string>("clusterName");
    if (!isDnsLabel(clusterName)) problems.push(`clusterName: "${clusterName}" must be a DNS label (lowercase letters, digits and -), e.g. homelab`);
    const meshKind = setting<MeshKind>("meshKind");
    const zerotierNetworkId = setting<string | undefined>("zerotierNetworkId");
    if (meshKind === "zerotier" && !(zerotierNetworkId && /^[0-9a-f]{16}$/.test(zerotierNetworkId))) {
        problems.push(`zerotierNetworkId: meshKind zerotier needs the 16-hex-digit network id; run pulumi config set zerotierNetworkId <id>`);
    }
    if (meshKind === "zerotier" && setting<string | undefined>("zerotierApiToken") === undefined) {
        problems.push(`zerotierApiToken: meshKind zerotier needs a ZeroTier Central API token to authorize members; run pulumi config set --secret zerotierApiToken <token>`);
    }
    const listenPort = setting<number>("meshListenPort");
    portOrProblem(listenPort, "meshListenPort", problems);
    const mtu = setting<number>("meshMtu");
    if (mtu < 1280 || mtu > 9000) problems.push(`meshMtu: ${mtu} is outside 1280..9000; WireGuard over a 1500-byte link wants 1420`);
    const interfaceName = setting<string>("meshInterface");
    if (!/^[a-zA-Z][a-zA-Z0-9_-]{0,14}$/.test(interfaceName)) {
        problems.push(`meshInterface: "${interfaceName}" is not a valid interface name (1-15 letters, digits, - or _; e.g. wg0)`);
    }

    const nodes = readNodes(raw.nodes, meshCidr, problems);
    const operators = readOperators(raw.operators, meshCidr, problems);
    checkMeshAddresses(nodes, operators, meshCidr, problems);
    const apps = readApps(raw.apps, problems);
    checkCloudNetworkOverlap(nodes, { meshCidr, clusterCidr, serviceCidr }, problems);

    const datastoreEndpointSet = setting<string | undefined>("k3sDatastoreEndpoint") !== undefined;
    const servers = nodes.filter((n) => n.roles.includes("server"));
    const datastore = datastoreEndpointSet ? "external" : servers.length > 1 ? "embedded-etcd" : "sqlite";
    checkTopology(nodes, meshKind, datastore, apps, problems);
    const flannelBackend = setting<string>("flannelBackend");
    const hubInCluster = nodes.find((n) => n.roles.includes("hub") && n.roles.some((r) => r === "server" || r === "agent"));
    if (meshKind === "wireguard" && hubInCluster && flannelBackend === "wireguard-native" && (listenPort === 51820 || listenPort === 51821)) {
        problems.push(`meshListenPort: ${listenPort} is flannel's wireguard-native port on k3s node ${hubInCluster.name} (the hub); pick another, e.g. 51830`);
    }

    const sshSourceCidrs = setting<string[]>("sshSourceCidrs");
    sshSourceCidrs.forEach((text, i) => cidrOrProblem(text, `sshSourceCidrs[${i}]`, problems));
    const httpNodePort = setting<number>("gatewayHttpNodePort");
    const httpsNodePort = setting<number>("gatewayHttpsNodePort");
    for (const [key, port] of [["gatewayHttpNodePort", httpNodePort], ["gatewayHttpsNodePort", httpsNodePort]] as const) {
        if (port < 30000 || port > 32767) problems.push(`${key}: ${port} is outside the NodePort range 30000-32767`);
    }
    if (httpNodePort === httpsNodePort) problems.push(`gatewayHttpsNodePort: equals gatewayHttpNodePort (${httpNodePort}); give them different ports`);
    const acmeEmail = setting<string | undefined>("acmeEmail");
    if (acmeEmail !== undefined && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(acmeEmail)) problems.push(`acmeEmail: "${acmeEmail}" is not an email address`);
    const dnsProvider = setting<DnsProvider>("dnsProvider");
    const dnsZone = setting<string | undefined>("dnsZone");
    if (dnsProvider !== "none" && !dnsZone) problems.push(`dnsZone: dnsProvider ${dnsProvider} needs the zone name; run pulumi config set dnsZone example.com`);
    if (dnsZone) {
        apps.filter((a) => a.host !== dnsZone && !a.host.endsWith(`.${dnsZone}`))
            .forEach((a) => problems.push(`apps[${apps.indexOf(a)}].host: ${a.host} is not in dnsZone ${dnsZone}; use a name under it or another zone`));
    }
    const upgradeBatchSize = setting<number>("upgradeBatchSize");
    if (upgradeBatchSize < 1) problems.push(`upgradeBatchSize: ${upgradeBatchSize} must be at least 1`);
    const version = setting<string>("k3sVersion");
    if (!/^v\d+\.\d+\.\d+\+k3s\d+$/.test(version)) problems.push(`k3sVersion: "${version}" is not a k3s release tag; write it like v1.31.1+k3s1`);

    if (problems.length > 0) throw new ConfigError(problems);
    return {
        clusterName,
        mesh: { kind: meshKind, cidr: meshCidr!.text, prefix: meshCidr!.prefix, listenPort, mtu, interfaceName, zerotierNetworkId },
        k3s: {
            version,
            clusterCidr: clusterCidr!.text,
            serviceCidr: serviceCidr!.text,
            flannelBackend: flannelBackend as ClusterSpec["k3s"]["flannelBackend"],
            serverFlags: setting("k3sServerFlags"),
            agentFlags: setting("k3sAgentFlags"),
            tlsSans: setting("k3sTlsSans"),
            datastore,
            upgradeBatchSize,
        },
        nodes,
        operators,
        ssh: { sourceCidrs: sshSourceCidrs, hasPrivateKey: setting<string | undefined>("sshPrivateKey") !== undefined },
        ingress: {
            istioVersion: setting("istioVersion"),
            certManagerVersion: setting("certManagerVersion"),
            acmeEmail,
            acmeStaging: setting("acmeStaging"),
            httpNodePort,
            httpsNodePort,
            apps,
        },
        edge: { proxy: setting("edgeProxy") },
        dns: { provider: dnsProvider, zone: dnsZone },
    };
}

function suggest(key: string, candidates: string[]): string {
    const close = candidates.filter((c) => editDistance(c.toLowerCase(), key.toLowerCase()) <= 2);
    return close.length > 0 ? `did you mean ${close.map((c) => `"${c}"`).join(" or ")}?` : `known: ${candidates.join(", ")}`;
}

function editDistance(a: string, b: string): number {
    const row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
        let diagonal = row[0];
        row[0] = i;
        for (let j = 1; j <= b.length; j++) {
            const above = row[j];
            row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
            diagonal = above;
        }
    }
    return row[b.length];
}

function readScalar(raw: Record<string, unknown>, key: string, problems: string[]): unknown {
    const setting = scalarSettings.find((s) => s.key === key)!;
    // Optional strings default to "" in Pulumi.yaml (a declared key without a default is required there).
    const value = raw[key] === "" ? setting.default : raw[key] ?? setting.default;
    if (value === undefined || value === "") return undefined;
    const field = `${projectName}:${key}`;
    switch (setting.kind) {
        case "integer": {
            const n = typeof value === "string" && /^-?\d+$/.test(value) ? Number(value) : value;
            if (typeof n !== "number" || !Number.isInteger(n)) problems.push(`${field}: "${value}" is not a whole number`);
            return Number(n);
        }
        case "boolean": {
            if (value === true || value === "true") return true;
            if (value === false || value === "false") return false;
            problems.push(`${field}: "${value}" is not true or false`);
            return false;
        }
        case "array": {
            if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
                problems.push(`${field}: expected a list of strings, e.g. ["a", "b"]`);
                return [];
            }
            return value;
        }
        case "string": {
            if (typeof value !== "string") {
                problems.push(`${field}: expected a string`);
                return String(value);
            }
            if (setting.oneOf && !setting.oneOf.includes(value)) {
                problems.push(`${field}: "${value}" is not one of ${setting.oneOf.join(", ")}`);
            }
            return value;
        }
    }
}

function cidrOrProblem(text: string, field: string, problems: string[]): Cidr | undefined {
    const cidr = parseCidr(text);
    if (!cidr) problems.push(`${field}: "${text}" is not an IPv4 CIDR with its network address (e.g. 10.0.0.0/24)`);
    return cidr;
}

function portOrProblem(port: number, field: string, problems: string[]): void {
    if (!isPort(port)) problems.push(`${field}: ${port} is not a port (1-65535)`);
}

/** Checks an object's keys against the allowed ones, reporting typos with a suggestion. */
function checkKeys(value: Record<string, unknown>, allowed: readonly string[], field: string, problems: string[]): void {
    for (const key of Object.keys(value)) {
        if (!allowed.includes(key)) problems.push(`${field}.${key}: unknown key; ${suggest(key, [...allowed])}`);
    }
}

function asObjectList(value: unknown, key: string, problems: string[]): Array<Record<string, unknown>> {
    if (value === undefined) return [];
    if (!Array.isArray(value) || value.some((v) => typeof v !== "object" || v === null || Array.isArray(v))) {
        problems.push(`${projectName}:${key}: expected a list of objects (see Pulumi.yaml for the shape)`);
        return [];
    }
    return value as Array<Record<string, unknown>>;
}

/** Typed field readers for one object of a list; every problem names the field path. */
class FieldReader {
    constructor(private readonly value: Record<string, unknown>, readonly path: string, private readonly problems: string[]) {}

    problem(field: string, message: string): void {
        this.problems.push(`${this.path}.${field}: ${message}`);
    }

    string(field: string, required: true): string;
    string(field: string, required?: false): string | undefined;
    string(field: string, required = false): string | undefined {
        const v = this.value[field];
        if (v === undefined) {
            if (required) this.problem(field, "is required");
            return undefined;
        }
        if (typeof v !== "string" || v.trim() === "") {
            this.problem(field, "expected a non-empty string");
            return undefined;
        }
        return v;
    }

    oneOf<T extends string>(field: string, options: readonly T[], fallback?: T): T | undefined {
        const v = this.value[field] ?? fallback;
        if (v === undefined) {
            this.problem(field, `is required; one of ${options.join(", ")}`);
            return undefined;
        }
        if (!options.includes(v as T)) {
            this.problem(field, `"${v}" is not one of ${options.join(", ")}`);
            return undefined;
        }
        return v as T;
    }

    integer(field: string, fallback: number, min: number, max: number): number {
        const raw = this.value[field] ?? fallback;
        const v = typeof raw === "string" && /^\d+$/.test(raw) ? Number(raw) : raw;
        if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
            this.problem(field, `"${raw}" must be a whole number from ${min} to ${max}`);
            return fallback;
        }
        return v;
    }

    boolean(field: string, fallback: boolean): boolean {
        const v = this.value[field] ?? fallback;
        if (typeof v !== "boolean") {
            this.problem(field, `"${v}" must be true or false`);
            return fallback;
        }
        return v;
    }

    list(field: string): unknown[] {
        const v = this.value[field];
        if (v === undefined) return [];
        if (!Array.isArray(v)) {
            this.problem(field, "expected a list");
            return [];
        }
        return v;
    }

    stringList(field: string): string[] {
        const v = this.value[field];
        if (v === undefined) return [];
        if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
            this.problem(field, "expected a list of strings");
            return [];
        }
        return v;
    }
}

const nodeKeys = ["name", "provider", "arch", "roles", "meshAddress", "site", "sshUser", "sshPort", "publicTcpPorts",
    "region", "instanceType", "ami", "os", "rootVolumeGb", "vpcId", "subnetId",
    "location", "size", "osDiskGb",
    "address", "behindNat"] as const;
const keysByProvider: Record<Provider, readonly string[]> = {
    aws: ["region", "instanceType", "ami", "os", "rootVolumeGb", "vpcId", "subnetId"],
    azure: ["location", "size", "os", "osDiskGb"],
    existing: ["address", "behindNat"],
};

function readNodes(value: unknown, meshCidr: Cidr | undefined, problems: string[]): NodeSpec[] {
    const list = asObjectList(value, "nodes", problems);
    if (list.length === 0 && value !== undefined) return [];
    if (value === undefined) problems.push(`${projectName}:nodes: no nodes; add at least one server (see Pulumi.yaml)`);
    const seen = new Map<string, number>();
    return list.flatMap((item, index): NodeSpec[] => {
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
        if (nodeRoles.includes("server") && nodeRoles.includes("agent")) r.problem("roles", "a node is a server or an agent, not both (k3s servers run workloads too)");
        const meshAddress = r.string("meshAddress");
        if (meshAddress !== undefined && parseIpv4(meshAddress) === undefined) r.problem("meshAddress", `"${meshAddress}" is not an IPv4 address`);
        if (!provider || !arch || name === undefined) return [];
        for (const other of providers.filter((p) => p !== provider)) {
            for (const key of keysByProvider[other]) {
                if (item[key] !== undefined && !keysByProvider[provider].includes(key)) {
                    r.problem(key, `belongs to provider ${other}, not ${provider}; remove it or change provider`);
                }
            }
        }
        const node: NodeSpec = {
            name, provider, arch, roles: nodeRoles as Role[],
            meshAddress: meshAddress ?? (meshCidr ? formatIpv4(derivedAddress(meshCidr, name)) : ""),
            site: "",
            sshUser: r.string("sshUser") ?? (provider === "azure" ? "azureuser" : provider === "aws" ? "admin" : "root"),
            sshPort: r.integer("sshPort", 22, 1, 65535),
            publicTcpPorts: readPublicPorts(r),
        };
        if (provider === "aws") node.aws = readAws(r);
        if (provider === "azure") node.azure = readAzure(r);
        if (provider === "existing") node.existing = readExisting(r);
        if (provider === "aws" && node.aws?.os === "ubuntu-24.04" && r.string("sshUser") === undefined) node.sshUser = "ubuntu";
        // Required fields already reported as missing are not re-reported as malformed.
        const placementProblems = node.aws ? awsPlacementProblems(node.aws, node) : node.azure ? azurePlacementProblems(node.azure, node) : [];
        for (const { field, message } of placementProblems) if (item[field] !== undefined || field === "arch" || field === "sshPort" || field === "sshUser") r.problem(field, message);
        node.site = r.string("site") ?? (node.aws ? `aws:${node.aws.region}` : node.azure ? `azure:${node.azure.location}` : `existing:${name}`);
        return [node];
    });
}

/** TCP ports that carry cluster traffic: reachable over the mesh only, never published. */
export const meshOnlyTcpPorts: ReadonlyArray<{ from: number; to: number; what: string }> = [
    { from: 6443, to: 6443, what: "the Kubernetes API" },
    { from: 10250, to: 10250, what: "the kubelet" },
    { from: 2379, to: 2380, what: "etcd" },
];

function readPublicPorts(r: FieldReader): number[] {
    const ports = r.list("publicTcpPorts");
    return ports.flatMap((port) => {
        if (!isPort(port)) {
            r.problem("publicTcpPorts", `${JSON.stringify(port)} is not a port (1-65535)`);
            return [];
        }
        const meshOnly = meshOnlyTcpPorts.find((p) => port >= p.from && port <= p.to);
        if (meshOnly) {
            r.problem("publicTcpPorts", `${port} is ${meshOnly.what}, reachable only over the mesh (the policy pack refuses it too); remove it and use the kubeconfig output over the mesh`);
            return [];
        }
        return [port];
    });
}

/** The VPC this program creates in each AWS region, and the VNet in each Azure location. */
export const awsVpcCidr = "10.250.0.0/16";
export const azureVnetCidr = "10.251.0.0/16";

/** A problem with one field of a node: config validation and the host components report the same ones. */
export interface FieldProblem {
    field: string;
    message: string;
}

/** Cloud images run sshd on 22, and nothing here moves it. */
export const cloudImageSshPort = 22;

/** Names Azure refuses for a VM's admin user. */
const azureReservedAdminUsers = new Set([
    "1", "123", "a", "actuser", "adm", "admin", "admin1", "admin2", "administrator", "aspnet", "backup", "console", "david",
    "guest", "john", "owner", "root", "server", "sql", "support", "support_388945a0", "sys", "test", "test1", "test2", "test3",
    "user", "user1", "user2", "user3", "user4", "user5",
]);

function cloudSshProblems(node: Pick<NodeSpec, "sshPort">): FieldProblem[] {
    return node.sshPort === cloudImageSshPort ? [] : [{ field: "sshPort", message: `${node.sshPort}: cloud images run sshd on ${cloudImageSshPort} and nothing here moves it; remove sshPort` }];
}

/** What AWS needs of a node: a region, an instance type of the node's arch, a whole existing network or none. */
export function awsPlacementProblems(placement: AwsPlacement, node: Pick<NodeSpec, "arch" | "sshPort">): FieldProblem[] {
    const problems = cloudSshProblems(node);
    const { region, instanceType, ami, vpcId, subnetId } = placement;
    if (!/^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$/.test(region)) problems.push({ field: "region", message: `"${region}" is not an AWS region (e.g. us-east-1)` });
    const typeArch = awsInstanceArch(instanceType);
    if (!typeArch) problems.push({ field: "instanceType", message: `"${instanceType}" is not an EC2 instance type (e.g. t4g.small)` });
    if (typeArch && typeArch !== node.arch) {
        problems.push({ field: "arch", message: `${node.arch} contradicts instanceType ${instanceType}, which is ${typeArch}; ` +
            (node.arch === "arm64" ? "pick a Graviton type (t4g, c7g, m7g...)" : "pick an x86 type (t3, c6i, m7i...) or set arch: arm64") });
    }
    if (ami !== undefined && !/^ami-[0-9a-f]{8,17}$/.test(ami)) problems.push({ field: "ami", message: `"${ami}" is not an AMI id (ami-0123456789abcdef0)` });
    if ((subnetId === undefined) !== (vpcId === undefined)) problems.push({ field: subnetId ? "vpcId" : "subnetId", message: "vpcId and subnetId go together; set both or neither" });
    return problems;
}

/** What Azure needs of a node: a location, a VM size of the node's arch, an admin name Azure accepts. */
export function azurePlacementProblems(placement: AzurePlacement, node: Pick<NodeSpec, "arch" | "sshPort" | "sshUser">): FieldProblem[] {
    const problems = cloudSshProblems(node);
    const { location, size } = placement;
    if (!/^[a-z]+[a-z0-9]*$/.test(location)) problems.push({ field: "location", message: `"${location}" is not an Azure location name (e.g. eastus, westeurope)` });
    const sizeArch = azureSizeArch(size);
    if (!sizeArch) problems.push({ field: "size", message: `"${size}" is not an Azure VM size (e.g. Standard_D2ps_v5)` });
    if (sizeArch && sizeArch !== node.arch) {
        problems.push({ field: "arch", message: `${node.arch} contradicts size ${size}, which is ${sizeArch}; ` +
            (node.arch === "arm64" ? "pick an Ampere size (Standard_D2ps_v5, Standard_D2pls_v5, Standard_E2ps_v5)" : "pick an x86 size (Standard_B2s, Standard_D2s_v5) or set arch: arm64") });
    }
    if (azureReservedAdminUsers.has(node.sshUser.toLowerCase())) {
        problems.push({ field: "sshUser", message: `"${node.sshUser}" is a name Azure refuses for the admin user; use e.g. azureuser` });
    }
    return problems;
}

function readAws(r: FieldReader): AwsPlacement {
    return {
        region: r.string("region", true) ?? "",
        instanceType: r.string("instanceType", true) ?? "",
        ami: r.string("ami"),
        subnetId: r.string("subnetId"),
        vpcId: r.string("vpcId"),
        os: r.oneOf("os", osImages, "debian-12") ?? "debian-12",
        rootVolumeGb: r.integer("rootVolumeGb", 20, 8, 16384),
    };
}

function readAzure(r: FieldReader): AzurePlacement {
    return {
        location: r.string("location", true) ?? "",
        size: r.string("size", true) ?? "",
        os: r.oneOf("os", osImages, "ubuntu-24.04") ?? "ubuntu-24.04",
        osDiskGb: r.integer("osDiskGb", 30, 30, 4095),
    };
}

function readExisting(r: FieldReader): ExistingPlacement {
    const behindNat = r.boolean("behindNat", false);
    const address = r.string("address");
    if (!behindNat && address === undefined) r.problem("address", "is required for a reachable existing host; set it, or behindNat: true for a machine at home");
    if (address !== undefined && parseIpv4(address) === undefined && !isDnsName(address)) r.problem("address", `"${address}" is neither an IPv4 address nor a DNS name`);
    return { address, behindNat };
}

function readOperators(value: unknown, meshCidr: Cidr | undefined, problems: string[]): OperatorSpec[] {
    return asObjectList(value, "operators", problems).flatMap((item, index) => {
        const r = new FieldReader(item, `operators[${index}]`, problems);
        checkKeys(item, ["name", "meshAddress"], r.path, problems);
        const name = r.string("name", true);
        if (name === undefined) return [];
        if (!isDnsLabel(name)) r.problem("name", `"${name}" is not a valid name (lowercase letters, digits and -)`);
        const meshAddress = r.string("meshAddress");
        if (meshAddress !== undefined && parseIpv4(meshAddress) === undefined) r.problem("meshAddress", `"${meshAddress}" is not an IPv4 address`);
        return [{ name, meshAddress: meshAddress ?? (meshCidr ? formatIpv4(derivedAddress(meshCidr, `operator:${name}`)) : "") }];
    });
}

function checkMeshAddresses(nodes: NodeSpec[], operators: OperatorSpec[], meshCidr: Cidr | undefined, problems: string[]): void {
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
            problems.push(`${member.field}: ${member.address} (${member.label}) is already used by ${owner}; ` +
                `pin a free address such as ${formatIpv4(freeAddress(meshCidr, taken))}`);
        } else {
            owners.set(address, member.label);
        }
    }
}

function freeAddress(cidr: Cidr, taken: Set<number>): number {
    for (let a = cidr.network + 1; ; a++) if (!taken.has(a)) return a;
}

function readApps(value: unknown, problems: string[]): AppSpec[] {
    const hosts = new Set<string>();
    return asObjectList(value, "apps", problems).flatMap((item, index) => {
        const r = new FieldReader(item, `apps[${index}]`, problems);
        checkKeys(item, ["host", "namespace", "service", "port"], r.path, problems);
        const host = r.string("host", true);
        const namespace = r.string("namespace", true);
        const service = r.string("service", true);
        const port = r.integer("port", 80, 1, 65535);
        if (host !== undefined && !isDnsName(host)) r.problem("host", `"${host}" is not a DNS name (e.g. zot.example.com)`);
        if (host !== undefined && hosts.has(host)) r.problem("host", `"${host}" is routed twice; one app per host name`);
        for (const [field, v] of [["namespace", namespace], ["service", service]] as const) {
            if (v !== undefined && !isDnsLabel(v)) r.problem(field, `"${v}" is not a Kubernetes name (lowercase letters, digits and -)`);
        }
        if (host === undefined || namespace === undefined || service === undefined) return [];
        hosts.add(host);
        return [{ host, namespace, service, port }];
    });
}

/** Routes to the cloud networks this program creates must not shadow the mesh, pods or services. */
function checkCloudNetworkOverlap(nodes: NodeSpec[], ranges: Record<string, Cidr | undefined>, problems: string[]): void {
    const cloudNetworks = [
        ...(nodes.some((n) => n.aws && !n.aws.subnetId) ? [["the AWS VPC", awsVpcCidr]] : []),
        ...(nodes.some((n) => n.azure) ? [["the Azure VNet", azureVnetCidr]] : []),
    ];
    for (const [what, text] of cloudNetworks) {
        for (const [key, cidr] of Object.entries(ranges)) {
            if (cidr && cidrsOverlap(cidr, parseCidr(text)!)) problems.push(`${key}: ${cidr.text} overlaps ${what} ${text} that this program creates; pick another range`);
        }
    }
}

function checkTopology(nodes: NodeSpec[], meshKind: MeshKind, datastore: ClusterSpec["k3s"]["datastore"], apps: AppSpec[], problems: string[]): void {
    const field = (n: NodeSpec) => `nodes[${nodes.indexOf(n)}]`;
    const servers = nodes.filter((n) => n.roles.includes("server"));
    if (nodes.length > 0 && servers.length === 0) problems.push(`nodes: no node has role server; give one node roles: [server]`);
    if (datastore === "embedded-etcd") {
        if (servers.length % 2 === 0) {
            problems.push(`nodes: ${servers.length} servers with embedded etcd cannot keep quorum through a failure; use an odd number (1, 3, 5) or set k3sDatastoreEndpoint`);
        }
        const sites = [...new Set(servers.map((s) => s.site))];
        if (sites.length > 1) {
            problems.push(`nodes: embedded-etcd servers span sites ${sites.join(", ")}; etcd across sites is unsupported: put every server in one site (set site) or use k3sDatastoreEndpoint`);
        }
    }
    const hubs = nodes.filter((n) => n.roles.includes("hub"));
    if (meshKind === "wireguard" && nodes.length > 0 && hubs.length !== 1) {
        problems.push(`nodes: a wireguard mesh needs exactly one node with role hub (found ${hubs.length}${hubs.length ? `: ${hubs.map((h) => h.name).join(", ")}` : ""})`);
    }
    if (meshKind === "zerotier" && hubs.length > 0) problems.push(`${field(hubs[0])}.roles: hub is a wireguard role; remove it for meshKind zerotier`);
    for (const node of nodes) {
        if (!node.existing) continue;
        const inbound = node.roles.filter((r): r is Role => r === "hub" || r === "edge");
        if (node.existing.behindNat && inbound.length > 0) {
            problems.push(`${field(node)}.roles: ${node.name} is behind NAT and cannot take role ${inbound.join(", ")}, which needs inbound traffic from the internet; move it to a public host`);
        }
    }
    if (apps.length > 0) {
        if (!nodes.some((n) => n.roles.includes("ingress"))) problems.push(`nodes: apps are configured but no node has role ingress to run the Istio gateway`);
        if (!nodes.some((n) => n.roles.includes("edge"))) problems.push(`nodes: apps are configured but no node has role edge to take traffic from the internet`);
    }
    for (const node of nodes.filter((n) => n.roles.includes("ingress") && !n.roles.some((r) => r === "server" || r === "agent"))) {
        problems.push(`${field(node)}.roles: ingress runs the Istio gateway pod, so ${node.name} must also be a server or agent`);
    }
}

/** Turns Pulumi's flat config (`hybrid-k3s:key` → string, objects as JSON) into the raw map parseClusterConfig reads. */
export function rawConfigFromPulumi(all: Record<string, string>): Record<string, unknown> {
    const raw: Record<string, unknown> = {};
    for (const [fullKey, text] of Object.entries(all)) {
        if (!fullKey.startsWith(`${projectName}:`)) continue;
        const key = fullKey.slice(projectName.length + 1);
        raw[key] = /^\s*[[{]/.test(text) ? JSON.parse(text) : text;
    }
    return raw;
}
