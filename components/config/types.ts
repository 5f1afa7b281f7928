// The plain-data model every later layer reads: ClusterSpec and its parts. Produced only by
// parseClusterConfig, after every field is validated.

export type Role = "server" | "agent" | "hub" | "edge" | "ingress";
export type Arch = "arm64" | "amd64";
export type Provider = "aws" | "azure" | "existing";
export type MeshKind = "wireguard" | "zerotier";
export type OsImage = "debian-12" | "ubuntu-24.04";
export type EdgeProxyKind = "haproxy" | "nginx";
export type DnsProvider = "none" | "route53" | "azure";
export type Datastore = "sqlite" | "embedded-etcd" | "external";

export const roles: readonly Role[] = ["server", "agent", "hub", "edge", "ingress"];
export const arches: readonly Arch[] = ["arm64", "amd64"];
export const providers: readonly Provider[] = ["aws", "azure", "existing"];
export const osImages: readonly OsImage[] = ["debian-12", "ubuntu-24.04"];

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
    /** The host's SSH host key line (`ssh-ed25519 AAAA...`), pinned on every connection. */
    hostKey: string;
    /** Its owner ran the bootstrap script: Pulumi can reach it (see the README's first up). */
    enrolled: boolean;
    /** ZeroTier member id its bootstrap printed (a host behind NAT on ZeroTier is authorized with it before Pulumi reaches it). */
    zerotierMemberId?: string;
}

interface NodeBase {
    name: string;
    arch: Arch;
    roles: Role[];
    meshAddress: string;
    /** Failure domain: embedded-etcd servers must share one. */
    site: string;
    sshUser: string;
    sshPort: number;
    /** TCP ports this host serves to the internet (cloud firewall and nftables). */
    publicTcpPorts: number[];
    /** LANs behind this host (CIDRs): it is the mesh's gateway to them. Absent: none. */
    routes?: string[];
    /** UDP ports this host serves to the internet (cloud firewall and nftables), e.g. DNS. */
    publicUdpPorts: number[];
    /** Leaving the cluster: its teardown runs while it is still on the mesh; then remove it from the config. */
    decommission: boolean;
    /** Edges on a shared host: where names that are not cluster apps go (the host's own web server). */
    edgeFallback?: EdgeFallback;
    /** Existing hosts: take over a k3s this project did not install (cloud VMs are always ours). */
    adopt?: boolean;
    /** Existing hosts: removing k3s also deletes its data directory (volumes, images). */
    purge?: boolean;
}

/** host:port of the web server an edge passes every name that is not a cluster app. */
export interface EdgeFallback {
    http: string;
    https: string;
}

/** One node per provider, so an AWS node always has its AWS fields (no runtime "missing aws"). */
export interface AwsNodeSpec extends NodeBase {
    provider: "aws";
    aws: AwsPlacement;
    azure?: undefined;
    existing?: undefined;
}

export interface AzureNodeSpec extends NodeBase {
    provider: "azure";
    azure: AzurePlacement;
    aws?: undefined;
    existing?: undefined;
}

export interface ExistingNodeSpec extends NodeBase {
    provider: "existing";
    existing: ExistingPlacement;
    aws?: undefined;
    azure?: undefined;
}

export type NodeSpec = AwsNodeSpec | AzureNodeSpec | ExistingNodeSpec;

export interface OperatorSpec {
    name: string;
    meshAddress: string;
    /** This operator is the machine that runs Pulumi: the Kubernetes and Helm steps need it on the mesh. */
    runsPulumi: boolean;
    /** Its mesh config is up (see the README's first up). */
    enrolled: boolean;
}

export interface AppSpec {
    host: string;
    namespace: string;
    service: string;
    port: number;
}

/** Split DNS: names under domains resolve through servers, over the mesh interface (systemd-resolved). */
export interface MeshDnsSpec {
    servers: string[];
    domains: string[];
}

export interface ClusterSpec {
    clusterName: string;
    mesh: {
        kind: MeshKind;
        cidr: string;
        prefix: number;
        listenPort: number;
        mtu: number;
        /** The interface every host's mesh comes up on (wg0, zt0...): firewall and k3s use this one. */
        interfaceName: string;
        zerotierNetworkId?: string;
        /** ZeroTier Central's base URL, and whether its authorize step may add missing managed routes. */
        zerotierCentralUrl: string;
        zerotierCreateRoutes: boolean;
    };
    k3s: {
        version: string;
        /** Where the install downloads releases from (an air-gapped mirror, or GitHub). */
        releaseBaseUrl: string;
        clusterCidr: string;
        serviceCidr: string;
        flannelBackend: "wireguard-native" | "vxlan";
        serverFlags: string[];
        agentFlags: string[];
        tlsSans: string[];
        datastore: Datastore;
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
    meshDns?: MeshDnsSpec;
}

/** Every problem in the config at once, each naming the field and the fix. */
export class ConfigError extends Error {
    constructor(readonly problems: string[]) {
        super(`invalid stack config (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` + problems.map((p) => `  - ${p}`).join("\n"));
        this.name = "ConfigError";
    }
}
