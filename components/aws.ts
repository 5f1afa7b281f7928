// Hosts on AWS. Per region: an explicit provider, a key pair with the cluster's SSH key and, unless
// a node names its own subnet, a small public network. Per node: a security group, an instance with
// a fixed address, and a wait for cloud-init. Firewall rules and boot text are shared with Azure
// (render/cloudfirewall.ts); this file only translates them into EC2 terms.
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { Arch, AwsPlacement, awsPlacementProblems, awsVpcCidr, NodeSpec, OsImage } from "./config";
import { Connection, HostComponent, sshConnection, waitForCloudInit } from "./host";
import { SshHostKeyPair } from "./secrets";
import { CloudHostCluster, cloudInitUserData, imageFor, inboundRulesFor, nodeFieldError, sourcesByFamily } from "./render/cloudfirewall";

const awsPublicSubnetCidr = "10.250.0.0/24";

interface AmiQuery {
    owner: string;
    namePattern: string;
    architecture: "arm64" | "x86_64";
}

/** The publishers' own accounts: Debian's cloud team and Canonical. */
const officialAmis: Record<OsImage, Record<Arch, AmiQuery>> = {
    "debian-12": {
        arm64: { owner: "136693071363", namePattern: "debian-12-arm64-*", architecture: "arm64" },
        amd64: { owner: "136693071363", namePattern: "debian-12-amd64-*", architecture: "x86_64" },
    },
    "ubuntu-24.04": {
        arm64: { owner: "099720109477", namePattern: "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-arm64-server-*", architecture: "arm64" },
        amd64: { owner: "099720109477", namePattern: "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*", architecture: "x86_64" },
    },
};

/** Checks what AWS needs of a node before any resource exists (as config validation does); returns its placement. */
export function checkAwsNode(spec: NodeSpec): AwsPlacement {
    const placement = spec.aws;
    if (spec.provider !== "aws" || !placement) throw nodeFieldError(spec, "provider", `${spec.provider}: only provider aws nodes run on AWS`);
    const [problem] = awsPlacementProblems(placement, spec);
    if (problem) throw nodeFieldError(spec, problem.field, problem.message);
    return placement;
}

/** Where an instance's network interface goes. */
export interface AwsNetwork {
    vpcId: pulumi.Input<string>;
    subnetId: pulumi.Input<string>;
    /** What must exist before an instance there reaches the internet (gateway, default route). */
    ready: pulumi.Resource[];
}

export interface AwsRegionNetworkArgs {
    clusterName: string;
    /** The region's provider: the region is wherever it points. */
    provider: aws.Provider;
}

/** One VPC per region with one public subnet routed to an internet gateway. */
export class AwsRegionNetwork extends pulumi.ComponentResource implements AwsNetwork {
    readonly vpcId: pulumi.Output<string>;
    readonly subnetId: pulumi.Output<string>;
    readonly ready: pulumi.Resource[];

    constructor(name: string, args: AwsRegionNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
        super("hybrid-k3s:host:AwsRegionNetwork", name, { cidr: awsVpcCidr }, opts);
        const child = { parent: this, provider: args.provider };
        const tags = { Name: `${args.clusterName}-${name}`, cluster: args.clusterName };

        const vpc = new aws.ec2.Vpc(name, { cidrBlock: awsVpcCidr, enableDnsSupport: true, enableDnsHostnames: true, tags }, child);
        const gateway = new aws.ec2.InternetGateway(name, { vpcId: vpc.id, tags }, child);
        // A regular zone: Local and Wavelength zones are opt-in and offer few instance types.
        const zones = aws.getAvailabilityZonesOutput({ state: "available", filters: [{ name: "opt-in-status", values: ["opt-in-not-required"] }] }, child);
        // Instances get an Elastic IP, never an ephemeral address that changes on stop/start.
        const subnet = new aws.ec2.Subnet(
            name,
            { vpcId: vpc.id, cidrBlock: awsPublicSubnetCidr, availabilityZone: zones.names[0], mapPublicIpOnLaunch: false, tags },
            child,
        );
        const routes = new aws.ec2.RouteTable(name, { vpcId: vpc.id, routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: gateway.id }], tags }, child);
        const association = new aws.ec2.RouteTableAssociation(name, { subnetId: subnet.id, routeTableId: routes.id }, child);

        this.vpcId = vpc.id;
        this.subnetId = subnet.id;
        this.ready = [gateway, association];
        this.registerOutputs({ vpcId: this.vpcId, subnetId: this.subnetId });
    }
}

export interface AwsHostArgs {
    spec: NodeSpec;
    cluster: CloudHostCluster;
    /** The region's network; omit it for a node that names its own vpcId + subnetId (those win). */
    network?: AwsNetwork;
    /** The region's key pair holding the cluster's SSH public key, or the name of one. */
    keyPair: aws.ec2.KeyPair | pulumi.Input<string>;
    sshPrivateKey: pulumi.Input<string>;
    /** The host key Pulumi made for this VM: cloud-init installs it, every connection pins it. */
    hostKey: SshHostKeyPair;
    /** The explicit provider of the node's region. */
    provider: aws.Provider;
}

/** An EC2 instance behind its own security group, reached on an Elastic IP. */
export class AwsHost extends HostComponent {
    readonly publicAddress: pulumi.Output<string | undefined>;
    readonly connection: pulumi.Output<Connection>;
    readonly ready: pulumi.Resource[];
    readonly identity: pulumi.Output<string>;
    readonly hostKey: pulumi.Output<string>;
    readonly instance: aws.ec2.Instance;

    constructor(name: string, args: AwsHostArgs, opts?: pulumi.ComponentResourceOptions) {
        const { spec, cluster } = args;
        const placement = checkAwsNode(spec);
        // A fixed `ami` is not checked against arch: that needs DescribeImages, which an offline check
        // cannot call. AWS itself refuses to launch an image whose architecture differs from the type's.
        const image: string | AmiQuery = placement.ami ?? imageFor(officialAmis, spec, placement.os);
        const inboundRules = inboundRulesFor(spec, cluster);
        const network: AwsNetwork | undefined =
            placement.vpcId && placement.subnetId ? { vpcId: placement.vpcId, subnetId: placement.subnetId, ready: [] } : args.network;
        if (!network) throw new Error(`AwsHost ${name}: node ${spec.name} names no vpcId + subnetId, so it needs the region's network`);
        super("hybrid-k3s:host:AwsHost", name, spec, { node: spec.name, region: placement.region, instanceType: placement.instanceType }, opts);

        const child = { parent: this, provider: args.provider };
        const tags = { Name: spec.name, cluster: cluster.clusterName };

        const securityGroup = new aws.ec2.SecurityGroup(
            name,
            {
                vpcId: network.vpcId,
                description: `hybrid-k3s node ${spec.name}: SSH, edge and mesh ports only`,
                ingress: inboundRules.map((rule) => {
                    const { ipv4, ipv6 } = sourcesByFamily(rule);
                    return {
                        protocol: rule.protocol,
                        fromPort: rule.from,
                        toPort: rule.to,
                        description: rule.description,
                        cidrBlocks: ipv4.length > 0 ? ipv4 : undefined,
                        ipv6CidrBlocks: ipv6.length > 0 ? ipv6 : undefined,
                    };
                }),
                egress: [{ protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"], ipv6CidrBlocks: ["::/0"], description: "All outbound" }],
                tags,
            },
            child,
        );

        const ami =
            typeof image === "string"
                ? image
                : aws.ec2.getAmiOutput(
                      {
                          owners: [image.owner],
                          mostRecent: true,
                          filters: [
                              { name: "name", values: [image.namePattern] },
                              { name: "architecture", values: [image.architecture] },
                          ],
                      },
                      child,
                  ).id;

        this.instance = new aws.ec2.Instance(
            name,
            {
                ami,
                instanceType: placement.instanceType,
                subnetId: network.subnetId,
                vpcSecurityGroupIds: [securityGroup.id],
                keyName: aws.ec2.KeyPair.isInstance(args.keyPair) ? args.keyPair.keyName : args.keyPair,
                // IMDSv2 only, and one hop: pods, a hop further behind the node's bridge, get no token.
                metadataOptions: { httpTokens: "required", httpEndpoint: "enabled", httpPutResponseHopLimit: 1 },
                rootBlockDevice: { volumeSize: placement.rootVolumeGb, volumeType: "gp3", encrypted: true, deleteOnTermination: true },
                userData: pulumi.secret(
                    pulumi
                        .all([args.hostKey.privateKey, args.hostKey.publicKey])
                        .apply(([privateKey, publicKey]) => cloudInitUserData(spec.name, { privateKey, publicKey })),
                ),
                tags,
            },
            {
                ...child,
                dependsOn: network.ready,
                // A looked-up image moves with every publisher release; it applies to new instances only,
                // instead of replacing running nodes. A pinned `ami` is a deliberate choice and does replace.
                ignoreChanges: placement.ami ? undefined : ["ami"],
                // The successor takes the same name, mesh address and WireGuard key: the old machine must be gone first.
                deleteBeforeReplace: true,
            },
        );

        // Associating an Elastic IP needs the internet gateway in place.
        const address = new aws.ec2.Eip(name, { domain: "vpc", instance: this.instance.id, tags }, { ...child, dependsOn: network.ready });
        this.publicAddress = address.publicIp;
        this.connection = sshConnection({
            host: address.publicIp,
            user: spec.sshUser,
            port: spec.sshPort,
            privateKey: args.sshPrivateKey,
            hostKey: args.hostKey.publicKey,
        });

        this.hostKey = args.hostKey.publicKey;
        const cloudInit = waitForCloudInit(name, this.connection, this.instance, { parent: this, dependsOn: [this.instance, address] });
        this.identity = this.instance.id;
        this.ready = [cloudInit];

        this.registerOutputs({ publicAddress: this.publicAddress, instanceId: this.instance.id });
    }
}

export interface AwsRegionsArgs {
    clusterName: string;
    /** The cluster's SSH public key (OpenSSH format), imported as each region's key pair. */
    sshPublicKey: pulumi.Input<string>;
}

interface AwsRegion {
    provider: aws.Provider;
    keyPair: aws.ec2.KeyPair;
    network?: AwsRegionNetwork;
}

/**
 * What AWS nodes share per region (an explicit provider, the key pair, the network), created the
 * first time a node in that region asks, under the given parent. Key pairs are regional in EC2.
 */
export class AwsRegions {
    private readonly regions = new Map<string, AwsRegion>();

    constructor(
        private readonly name: string,
        private readonly args: AwsRegionsArgs,
        private readonly parent: pulumi.Resource,
    ) {}

    /** The region-shared args of an AwsHost for this node; a node with its own subnet gets no network. */
    placementFor(spec: NodeSpec): Pick<AwsHostArgs, "provider" | "keyPair" | "network"> {
        const placement = checkAwsNode(spec);
        const region = this.region(placement.region);
        if (placement.subnetId) return { provider: region.provider, keyPair: region.keyPair };
        region.network ??= new AwsRegionNetwork(
            `${this.name}-${placement.region}`,
            { clusterName: this.args.clusterName, provider: region.provider },
            { parent: this.parent },
        );
        return { provider: region.provider, keyPair: region.keyPair, network: region.network };
    }

    private region(region: string): AwsRegion {
        const existing = this.regions.get(region);
        if (existing) return existing;
        const resourceName = `${this.name}-${region}`;
        const provider = new aws.Provider(resourceName, { region }, { parent: this.parent });
        const keyPair = new aws.ec2.KeyPair(
            resourceName,
            {
                publicKey: pulumi.output(this.args.sshPublicKey).apply((key) => key.trim()),
                tags: { Name: `${this.args.clusterName}-${region}`, cluster: this.args.clusterName },
            },
            { parent: this.parent, provider },
        );
        const created = { provider, keyPair };
        this.regions.set(region, created);
        return created;
    }
}
