// The stack config model: read every setting and field, validate them all before any resource
// exists, and produce a plain-data ClusterSpec. Every later layer reads the spec, never raw config.
import { cidrsOverlap, isDnsSubdomain, parseCidr, Cidr } from "../net";
import { isIP } from "node:net";
import { zerotierInterfaceName } from "../paths";
import { defaultWireguardListenPort, meshOnlyRangeOf } from "../ports";
import { extraFlagProblem } from "../render/k3s/flags";
import { readNodes } from "./nodes";
import { readMeshDns } from "./meshdns";
import { checkRoutes } from "./routes";
import { readApps, readOperators } from "./operators";
import { suggest } from "./readers";
import { checkCloudNetworkOverlap, checkMeshAddresses, checkTopology, checkUniqueNames } from "./rules";
import { projectName, readSetting, settings, structuredSettings } from "./settings";
import { ClusterSpec, ConfigError, DnsProvider, EdgeProxyKind, MeshKind } from "./types";

export * from "./types";
export { nodeFields } from "./nodes";
export { awsInstanceArch, awsPlacementProblems, awsVpcCidr, azurePlacementProblems, azureSizeArch, azureVnetCidr, FieldProblem } from "./placement";
export { githubK3sReleases, projectName, settingDescription, settings, Setting, structuredSettings } from "./settings";

/** Reads one raw config map (key → parsed value) into a ClusterSpec, or throws ConfigError listing every problem. */
export function parseClusterConfig(raw: Record<string, unknown>): ClusterSpec {
    const problems: string[] = [];
    const known = [...settings.map((s) => s.key), ...structuredSettings];
    for (const key of Object.keys(raw)) {
        if (!known.includes(key)) problems.push(`${projectName}:${key}: unknown setting; ${suggest(key, known)}`);
    }
    // Every setting is read (and so validated) here, before anything else looks at it.
    const values = Object.fromEntries(settings.map((s) => [s.key, readSetting(raw, s.key, problems)]));
    const setting = <T>(key: string): T => values[key] as T;

    const cidrOf = (key: string): Cidr | undefined => {
        const cidr = parseCidr(setting<string>(key));
        if (!cidr) problems.push(`${projectName}:${key}: "${setting<string>(key)}" is not an IPv4 CIDR with its network address (e.g. 10.0.0.0/24)`);
        return cidr;
    };
    const meshCidr = cidrOf("meshCidr");
    const clusterCidr = cidrOf("clusterCidr");
    const serviceCidr = cidrOf("serviceCidr");
    if (meshCidr) {
        for (const [name, other] of [
            ["clusterCidr", clusterCidr],
            ["serviceCidr", serviceCidr],
        ] as const) {
            if (other && cidrsOverlap(meshCidr, other))
                problems.push(`meshCidr: ${meshCidr.text} overlaps ${name} ${other.text}; pick a mesh range outside it (e.g. 10.0.0.0/24)`);
        }
        if (meshCidr.prefix > 30) problems.push(`meshCidr: ${meshCidr.text} has no room for hosts; use a /30 or larger (e.g. /24)`);
    }
    if (clusterCidr && serviceCidr && cidrsOverlap(clusterCidr, serviceCidr))
        problems.push(`serviceCidr: ${serviceCidr.text} overlaps clusterCidr ${clusterCidr.text}; use separate ranges`);

    const meshKind = setting<MeshKind>("meshKind");
    if (meshKind === "zerotier" && setting("zerotierNetworkId") === undefined) {
        problems.push(`zerotierNetworkId: meshKind zerotier needs the 16-hex-digit network id; run pulumi config set zerotierNetworkId <id>`);
    }
    if (meshKind === "zerotier" && setting("zerotierApiToken") === undefined) {
        problems.push(
            `zerotierApiToken: meshKind zerotier needs a ZeroTier Central API token to authorize members; run pulumi config set --secret zerotierApiToken <token>`,
        );
    }
    const listenPort = setting<number>("meshListenPort");

    const nodes = readNodes(raw.nodes, meshCidr, problems);
    const operators = readOperators(raw.operators, meshCidr, problems);
    checkUniqueNames(nodes, operators, problems);
    checkMeshAddresses(nodes, operators, meshCidr, problems);
    const apps = readApps(raw.apps, problems);
    const meshDns = readMeshDns(raw.meshDns, problems);
    checkCloudNetworkOverlap(nodes, { meshCidr, clusterCidr, serviceCidr }, problems);
    checkRoutes(nodes, { meshCidr, clusterCidr, serviceCidr }, problems);

    const servers = nodes.filter((n) => n.roles.includes("server"));
    const datastore = setting("k3sDatastoreEndpoint") !== undefined ? "external" : servers.length > 1 ? "embedded-etcd" : "sqlite";
    checkTopology(nodes, meshKind, datastore, apps, problems);
    nodes.forEach((node, i) => {
        const placement = node.existing;
        if (!placement) return;
        if (meshKind !== "zerotier" && placement.zerotierMemberId)
            problems.push(`nodes[${i}].zerotierMemberId: only meshKind zerotier has member ids; remove it`);
        if (meshKind === "zerotier" && placement.behindNat && placement.enrolled && !placement.zerotierMemberId) {
            problems.push(
                `nodes[${i}].zerotierMemberId: ${node.name} is behind NAT, so Central must authorize it before Pulumi can reach it over ZeroTier; ` +
                    `set the member id its bootstrap script printed ("hybrid-k3s: zerotier member <id>", or zerotier-cli info on it), see docs/zerotier.md`,
            );
        }
    });
    const flannelBackend = setting<ClusterSpec["k3s"]["flannelBackend"]>("flannelBackend");
    const taken = meshOnlyRangeOf("udp", listenPort);
    if (meshKind === "wireguard" && taken) {
        problems.push(
            `meshListenPort: ${listenPort} is ${taken.what}'s port, which stays mesh-only on every host; pick another, e.g. ${defaultWireguardListenPort}`,
        );
    }
    for (const key of ["k3sServerFlags", "k3sAgentFlags"]) {
        setting<string[]>(key).forEach((flag, i) => {
            const problem = extraFlagProblem(flag);
            if (problem) problems.push(`${projectName}:${key}[${i}]: ${problem}`);
        });
    }
    setting<string[]>("k3sTlsSans").forEach((san, i) => {
        if (isIP(san) === 0 && !isDnsSubdomain(san)) problems.push(`${projectName}:k3sTlsSans[${i}]: "${san}" is neither an IP address nor a DNS name`);
    });
    const sshSourceCidrs = setting<string[]>("sshSourceCidrs");
    sshSourceCidrs.forEach((text, i) => {
        if (!parseCidr(text)) problems.push(`sshSourceCidrs[${i}]: "${text}" is not an IPv4 CIDR with its network address (e.g. 203.0.113.7/32)`);
    });
    const httpNodePort = setting<number>("gatewayHttpNodePort");
    const httpsNodePort = setting<number>("gatewayHttpsNodePort");
    if (httpNodePort === httpsNodePort) problems.push(`gatewayHttpsNodePort: equals gatewayHttpNodePort (${httpNodePort}); give them different ports`);
    const dnsProvider = setting<DnsProvider>("dnsProvider");
    const dnsZone = setting<string | undefined>("dnsZone");
    if (dnsProvider !== "none" && !dnsZone) problems.push(`dnsZone: dnsProvider ${dnsProvider} needs the zone name; run pulumi config set dnsZone example.com`);
    if (dnsZone) {
        apps.forEach((a, i) => {
            if (a.host !== dnsZone && !a.host.endsWith(`.${dnsZone}`))
                problems.push(`apps[${i}].host: ${a.host} is not in dnsZone ${dnsZone}; use a name under it or another zone`);
        });
    }

    if (problems.length > 0) throw new ConfigError(problems);
    return {
        clusterName: setting("clusterName"),
        mesh: {
            kind: meshKind,
            cidr: meshCidr!.text,
            prefix: meshCidr!.prefix,
            listenPort,
            mtu: setting("meshMtu"),
            interfaceName: meshKind === "zerotier" ? zerotierInterfaceName : setting("meshInterface"),
            zerotierNetworkId: setting("zerotierNetworkId"),
            zerotierCentralUrl: setting<string>("zerotierCentralUrl").replace(/\/+$/, ""),
            zerotierCreateRoutes: setting("zerotierCreateRoutes"),
        },
        k3s: {
            version: setting("k3sVersion"),
            releaseBaseUrl: setting<string>("k3sReleaseBaseUrl").replace(/\/+$/, ""),
            clusterCidr: clusterCidr!.text,
            serviceCidr: serviceCidr!.text,
            flannelBackend,
            serverFlags: setting("k3sServerFlags"),
            agentFlags: setting("k3sAgentFlags"),
            tlsSans: setting("k3sTlsSans"),
            datastore,
            upgradeBatchSize: setting("upgradeBatchSize"),
        },
        nodes,
        operators,
        ssh: { sourceCidrs: sshSourceCidrs, hasPrivateKey: setting("sshPrivateKey") !== undefined },
        ingress: {
            istioVersion: setting("istioVersion"),
            certManagerVersion: setting("certManagerVersion"),
            acmeEmail: setting("acmeEmail"),
            acmeStaging: setting("acmeStaging"),
            httpNodePort,
            httpsNodePort,
            apps,
        },
        edge: { proxy: setting<EdgeProxyKind>("edgeProxy") },
        dns: { provider: dnsProvider, zone: dnsZone },
        ...(meshDns ? { meshDns } : {}),
    };
}

/** Turns Pulumi's flat config (`hybrid-k3s:key` → string, objects as JSON) into the raw map parseClusterConfig reads. */
export function rawConfigFromPulumi(all: Record<string, string>): Record<string, unknown> {
    const raw: Record<string, unknown> = {};
    const problems: string[] = [];
    for (const [fullKey, text] of Object.entries(all)) {
        if (!fullKey.startsWith(`${projectName}:`)) continue;
        const key = fullKey.slice(projectName.length + 1);
        if (!/^\s*[[{]/.test(text)) {
            raw[key] = text;
            continue;
        }
        try {
            raw[key] = JSON.parse(text);
        } catch (err) {
            problems.push(
                `${fullKey}: not valid JSON (${(err as Error).message}); write it as YAML in Pulumi.<stack>.yaml or set it with pulumi config set --path`,
            );
        }
    }
    if (problems.length > 0) throw new ConfigError(problems);
    return raw;
}
