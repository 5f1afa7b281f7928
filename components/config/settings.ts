// The settings table: each scalar setting's type, default, bounds and description in one row.
// Pulumi.yaml's `config:` block is checked against it (a test), and readSetting validates every
// row's bounds, so no setting reaches a resource unchecked.
import { chartVersionPattern, emailPattern, interfaceNamePattern, k3sVersionExample, k3sVersionPattern, mtuBounds, releaseUrlPattern } from "../patterns";
import { defaultWireguardListenPort, nodePortRange } from "../ports";

export const projectName = "hybrid-k3s";

type SettingKind = "string" | "integer" | "boolean" | "array";

export interface Setting {
    key: string;
    kind: SettingKind;
    description: string;
    default?: string | number | boolean | string[];
    secret?: boolean;
    oneOf?: readonly string[];
    /** Integers: inclusive bounds. */
    min?: number;
    max?: number;
    /** Strings: the syntax the consumer accepts, and an example for the message. */
    pattern?: RegExp;
    example?: string;
}

/** The k3s releases on GitHub; an air-gapped mirror serves the same layout (<base>/<tag>/<asset>). */
export const githubK3sReleases = "https://github.com/k3s-io/k3s/releases/download";

export const settings: readonly Setting[] = [
    {
        key: "clusterName",
        kind: "string",
        default: "hybrid-k3s",
        pattern: /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/,
        example: "homelab",
        description: "Name of the cluster: kubeconfig context, resource tags, cloud resource names.",
    },
    {
        key: "meshKind",
        kind: "string",
        default: "wireguard",
        oneOf: ["wireguard", "zerotier"],
        description: "Private mesh between the hosts: wireguard (hub and spoke) or zerotier.",
    },
    { key: "meshCidr", kind: "string", default: "10.0.0.0/24", description: "IPv4 CIDR of the mesh; must not overlap the cluster or service CIDR." },
    {
        key: "meshListenPort",
        kind: "integer",
        default: defaultWireguardListenPort,
        min: 1,
        max: 65535,
        description: "UDP port the WireGuard hub listens on (the only mesh port open to the internet).",
    },
    {
        key: "meshMtu",
        kind: "integer",
        default: 1420,
        min: mtuBounds.min,
        max: mtuBounds.max,
        description: "MTU of the mesh interface (1420 suits WireGuard over a 1500-byte link).",
    },
    {
        key: "meshInterface",
        kind: "string",
        default: "wg0",
        pattern: interfaceNamePattern,
        example: "wg0",
        description: "Name of the WireGuard interface on every host (wg-quick@<name>); ZeroTier always uses zt0.",
    },
    {
        key: "zerotierNetworkId",
        kind: "string",
        pattern: /^[0-9a-f]{16}$/,
        example: "8056c2e21c000001",
        description: "16-hex-digit ZeroTier network id (meshKind zerotier).",
    },
    {
        key: "zerotierApiToken",
        kind: "string",
        secret: true,
        description: "ZeroTier Central API token that authorizes members and pins their addresses (meshKind zerotier).",
    },
    {
        key: "zerotierCentralUrl",
        kind: "string",
        default: "https://api.zerotier.com",
        pattern: releaseUrlPattern,
        example: "https://api.zerotier.com",
        description: "ZeroTier Central's API base URL (meshKind zerotier); another only for a self-hosted controller with Central's API.",
    },
    {
        key: "zerotierCreateRoutes",
        kind: "boolean",
        default: false,
        description:
            "true: the authorize step adds the managed routes the cluster needs (meshCidr, nodes' routes) to the ZeroTier network; false: it fails naming them.",
    },
    {
        key: "k3sVersion",
        kind: "string",
        default: "v1.36.1+k3s1",
        pattern: k3sVersionPattern,
        example: k3sVersionExample,
        description: "k3s release installed on every node; changing it rolls servers one at a time, then agents in batches.",
    },
    {
        key: "k3sReleaseBaseUrl",
        kind: "string",
        default: githubK3sReleases,
        pattern: releaseUrlPattern,
        example: "http://mirror.lan/k3s",
        description: "Where nodes download k3s releases (<base>/<tag>/k3s and sha256sum-<arch>.txt); point it at a mirror for air-gapped sites.",
    },
    { key: "clusterCidr", kind: "string", default: "10.42.0.0/16", description: "Pod CIDR (k3s cluster-cidr)." },
    { key: "serviceCidr", kind: "string", default: "10.43.0.0/16", description: "Service CIDR (k3s service-cidr)." },
    {
        key: "flannelBackend",
        kind: "string",
        default: "wireguard-native",
        oneOf: ["wireguard-native", "vxlan"],
        description: "Flannel backend; wireguard-native encrypts pod traffic between nodes.",
    },
    {
        key: "k3sServerFlags",
        kind: "array",
        default: [],
        description: "Extra k3s server flags as --name=value (flags that rebind the API away from the mesh are refused).",
    },
    { key: "k3sAgentFlags", kind: "array", default: [], description: "Extra k3s agent flags as --name=value." },
    { key: "k3sTlsSans", kind: "array", default: [], description: "Extra names for the API certificate (the mesh address is always included)." },
    {
        key: "k3sDatastoreEndpoint",
        kind: "string",
        secret: true,
        description: "External datastore for HA servers (e.g. postgres://...); absent: sqlite for one server, embedded etcd for several.",
    },
    { key: "upgradeBatchSize", kind: "integer", default: 1, min: 1, max: 1000, description: "Agents upgraded at once when k3sVersion changes." },
    {
        key: "sshSourceCidrs",
        kind: "array",
        default: ["0.0.0.0/0"],
        description: "Sources allowed to reach SSH on cloud VMs (open by default; the policy pack warns).",
    },
    {
        key: "sshPrivateKey",
        kind: "string",
        secret: true,
        description: "Private key for existing hosts; absent: the generated cluster key, whose public half is the sshAuthorizedKey output.",
    },
    {
        key: "istioVersion",
        kind: "string",
        default: "1.30.5",
        pattern: chartVersionPattern,
        example: "1.30.5",
        description: "Istio Helm charts version (base, istiod, gateway).",
    },
    {
        key: "certManagerVersion",
        kind: "string",
        default: "v1.21.2",
        pattern: chartVersionPattern,
        example: "v1.21.2",
        description: "cert-manager Helm chart version.",
    },
    {
        key: "acmeEmail",
        kind: "string",
        pattern: emailPattern,
        example: "ops@example.com",
        description: "Let's Encrypt account email; absent: no ClusterIssuer or Certificates.",
    },
    { key: "acmeStaging", kind: "boolean", default: true, description: "Use Let's Encrypt staging (untrusted certs, generous limits) until you flip it." },
    {
        key: "gatewayHttpNodePort",
        kind: "integer",
        default: 30080,
        min: nodePortRange.from,
        max: nodePortRange.to,
        description: "NodePort of the Istio gateway's HTTP port on ingress nodes.",
    },
    {
        key: "gatewayHttpsNodePort",
        kind: "integer",
        default: 30443,
        min: nodePortRange.from,
        max: nodePortRange.to,
        description: "NodePort of the Istio gateway's HTTPS port on ingress nodes.",
    },
    {
        key: "edgeProxy",
        kind: "string",
        default: "haproxy",
        oneOf: ["haproxy", "nginx"],
        description: "Layer-4 proxy on edge hosts: haproxy or nginx (stream module).",
    },
    {
        key: "dnsProvider",
        kind: "string",
        default: "none",
        oneOf: ["none", "route53", "azure"],
        description: "Where to publish round-robin A records for the apps.",
    },
    {
        key: "dnsZone",
        kind: "string",
        pattern: /^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]*$/,
        example: "example.com",
        description: "DNS zone name (route53: hosted zone; azure: zone in the resource group named <clusterName>-dns).",
    },
];

/** Structured settings: Pulumi.yaml cannot type objects, so these are documented there and validated in nodes.ts/rules.ts. */
export const structuredSettings = ["nodes", "operators", "apps", "meshDns"] as const;

/** Reads and validates one setting: its default, its type, its bounds. Problems name the key. */
export function readSetting(raw: Record<string, unknown>, key: string, problems: string[]): unknown {
    const setting = settings.find((s) => s.key === key);
    if (!setting) throw new Error(`readSetting: ${key} is not in the settings table`);
    // Optional strings default to "" in Pulumi.yaml (a declared key without a default is required there).
    const value = raw[key] === "" ? setting.default : (raw[key] ?? setting.default);
    if (value === undefined || value === "") return undefined;
    const field = `${projectName}:${key}`;
    switch (setting.kind) {
        case "integer": {
            const n = typeof value === "string" && /^-?\d+$/.test(value) ? Number(value) : value;
            if (typeof n !== "number" || !Number.isInteger(n)) {
                problems.push(`${field}: "${value}" is not a whole number`);
                return setting.default;
            }
            if ((setting.min !== undefined && n < setting.min) || (setting.max !== undefined && n > setting.max)) {
                problems.push(`${field}: ${n} is outside ${setting.min}..${setting.max}`);
            }
            return n;
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
            if (setting.oneOf && !setting.oneOf.includes(value)) problems.push(`${field}: "${value}" is not one of ${setting.oneOf.join(", ")}`);
            if (setting.pattern && !setting.pattern.test(value)) {
                problems.push(`${field}: ${JSON.stringify(value)} is not valid here; write it like ${setting.example}`);
            }
            return value;
        }
    }
}

/** A setting's description as Pulumi.yaml states it: the text, then its choices or bounds. */
export function settingDescription(s: Setting): string {
    const extra = s.oneOf
        ? ` One of: ${s.oneOf.join(", ")}.`
        : s.min !== undefined
          ? ` From ${s.min} to ${s.max}.`
          : s.example
            ? ` Example: ${s.example}.`
            : "";
    return `${s.description}${extra}${s.secret ? " Secret: set it with pulumi config set --secret." : ""}`;
}
