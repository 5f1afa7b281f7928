// Hosts on Azure. Per location: a resource group with a virtual network and one subnet. Per node:
// a network security group, a static public IP, a network interface and a VM, then a wait for
// cloud-init. Firewall rules and boot text are shared with AWS (render/cloudfirewall.ts); this file
// only translates them into Azure terms.
import * as pulumi from "@pulumi/pulumi";
import * as compute from "@pulumi/azure-native/compute";
import * as network from "@pulumi/azure-native/network";
import * as resources from "@pulumi/azure-native/resources";
import { Arch, AzurePlacement, azurePlacementProblems, azureVnetCidr, NodeSpec, OsImage } from "./config";
import { Connection, HostComponent, sshConnection, waitForCloudInit } from "./host";
import { SshHostKeyPair } from "./secrets";
import { CloudHostCluster, cloudInitUserData, imageFor, inboundRulesFor, nodeFieldError, sourcesByFamily } from "./render/cloudfirewall";

const azureSubnetCidr = "10.251.0.0/24";

interface AzureImage {
    publisher: string;
    offer: string;
    sku: string;
    /** Whether the image boots with Secure Boot and a vTPM (Trusted Launch). */
    trustedLaunch: boolean;
}

// Gen2 images throughout (Trusted Launch and arm64 need them). Trusted Launch is requested only for
// the x64 images; for arm64 images its support varies, so the platform default applies there.
const marketplaceImages: Record<OsImage, Record<Arch, AzureImage>> = {
    "ubuntu-24.04": {
        arm64: { publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server-arm64", trustedLaunch: false },
        amd64: { publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server", trustedLaunch: true },
    },
    "debian-12": {
        arm64: { publisher: "Debian", offer: "debian-12", sku: "12-arm64", trustedLaunch: false },
        amd64: { publisher: "Debian", offer: "debian-12", sku: "12-gen2", trustedLaunch: true },
    },
};

/** Names Azure refuses as a Linux VM's admin user. */
/** Sizes with an "s" among the feature letters (D2ps_v5, B2s, E4pds_v5) take Premium SSD. */
function supportsPremiumStorage(size: string): boolean {
    const features = /^Standard_[A-Z]+\d+(?:-\d+)?([a-z]*)(?:_v\d+)?$/.exec(size)?.[1] ?? "";
    return features.includes("s");
}

/** Checks what Azure needs of a node before any resource exists (as config validation does); returns its placement. */
export function checkAzureNode(spec: NodeSpec): AzurePlacement {
    const placement = spec.azure;
    if (spec.provider !== "azure" || !placement) throw nodeFieldError(spec, "provider", `${spec.provider}: only provider azure nodes run on Azure`);
    const [problem] = azurePlacementProblems(placement, spec);
    if (problem) throw nodeFieldError(spec, problem.field, problem.message);
    return placement;
}

/** Where a VM's network interface goes. */
export interface AzureNetwork {
    location: string;
    resourceGroupName: pulumi.Input<string>;
    subnetId: pulumi.Input<string>;
}

export interface AzureLocationNetworkArgs {
    clusterName: string;
    location: string;
}

/** One resource group per location, holding a virtual network with one subnet. */
export class AzureLocationNetwork extends pulumi.ComponentResource implements AzureNetwork {
    readonly location: string;
    readonly resourceGroupName: pulumi.Output<string>;
    readonly subnetId: pulumi.Output<string>;

    constructor(name: string, args: AzureLocationNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
        super("hybrid-k3s:host:AzureLocationNetwork", name, { location: args.location, cidr: azureVnetCidr }, opts);
        const child = { parent: this };
        const { location } = args;
        const tags = { cluster: args.clusterName };

        const group = new resources.ResourceGroup(name, { location, tags }, child);
        const vnet = new network.VirtualNetwork(
            name,
            {
                resourceGroupName: group.name,
                location,
                addressSpace: { addressPrefixes: [azureVnetCidr] },
                tags,
            },
            child,
        );
        const subnet = new network.Subnet(name, { resourceGroupName: group.name, virtualNetworkName: vnet.name, addressPrefix: azureSubnetCidr }, child);

        this.location = location;
        this.resourceGroupName = group.name;
        this.subnetId = subnet.id;
        this.registerOutputs({ resourceGroupName: this.resourceGroupName, subnetId: this.subnetId });
    }
}

export interface AzureHostArgs {
    spec: NodeSpec;
    cluster: CloudHostCluster;
    /** The network of the node's location. */
    network: AzureNetwork;
    /** The cluster's SSH public key (OpenSSH format), the admin user's only way in. */
    sshPublicKey: pulumi.Input<string>;
    sshPrivateKey: pulumi.Input<string>;
    /** The host key Pulumi made for this VM: cloud-init installs it, every connection pins it. */
    hostKey: SshHostKeyPair;
}

/** An Azure VM behind its own network security group, reached on a static public IP. */
export class AzureHost extends HostComponent {
    readonly publicAddress: pulumi.Output<string | undefined>;
    readonly connection: pulumi.Output<Connection>;
    readonly ready: pulumi.Resource[];
    readonly identity: pulumi.Output<string>;
    readonly hostKey: pulumi.Output<string>;
    readonly vm: compute.VirtualMachine;

    constructor(name: string, args: AzureHostArgs, opts?: pulumi.ComponentResourceOptions) {
        const { spec, cluster } = args;
        const placement = checkAzureNode(spec);
        if (placement.location !== args.network.location) {
            throw new Error(`AzureHost ${name}: node ${spec.name} is in ${placement.location} but was given the network of ${args.network.location}`);
        }
        const image = imageFor(marketplaceImages, spec, placement.os);
        const inboundRules = inboundRulesFor(spec, cluster);
        super("hybrid-k3s:host:AzureHost", name, spec, { node: spec.name, location: placement.location, size: placement.size }, opts);

        const child = { parent: this };
        const { location, resourceGroupName } = args.network;
        const tags = { node: spec.name, cluster: cluster.clusterName };

        // One Azure rule per address family: Azure refuses a rule that mixes IPv4 and IPv6 prefixes.
        // No explicit Deny rules: the built-in DenyAllInBound (65500) already drops everything not allowed
        // here, and the one guard that matters, never allowing a mesh-only port, sits in inboundRulesFor
        // for both clouds, with the node's own nftables firewall behind it.
        const familyRules = inboundRules.flatMap((rule) =>
            Object.entries(sourcesByFamily(rule))
                .filter(([, sources]) => sources.length > 0)
                .map(([family, sources]) => ({ rule, family, sources })),
        );
        const securityGroup = new network.NetworkSecurityGroup(
            name,
            {
                resourceGroupName,
                location,
                tags,
                securityRules: familyRules.map(({ rule, family, sources }, index) => {
                    const ports = rule.from === rule.to ? `${rule.from}` : `${rule.from}-${rule.to}`;
                    return {
                        name: `allow-${rule.protocol}-${ports}-${family}`,
                        priority: 100 + 10 * index,
                        direction: "Inbound",
                        access: "Allow",
                        protocol: rule.protocol === "tcp" ? "Tcp" : "Udp",
                        sourceAddressPrefixes: sources,
                        sourcePortRange: "*",
                        destinationAddressPrefix: "*",
                        destinationPortRange: ports,
                        description: rule.description,
                    };
                }),
            },
            child,
        );

        const publicIp = new network.PublicIPAddress(
            name,
            {
                resourceGroupName,
                location,
                tags,
                sku: { name: "Standard", tier: "Regional" },
                publicIPAllocationMethod: "Static",
                publicIPAddressVersion: "IPv4",
            },
            child,
        );

        const nic = new network.NetworkInterface(
            name,
            {
                resourceGroupName,
                location,
                tags,
                networkSecurityGroup: { id: securityGroup.id },
                ipConfigurations: [
                    {
                        name: "primary",
                        primary: true,
                        subnet: { id: args.network.subnetId },
                        privateIPAllocationMethod: "Dynamic",
                        publicIPAddress: { id: publicIp.id },
                    },
                ],
            },
            child,
        );

        this.vm = new compute.VirtualMachine(
            name,
            {
                resourceGroupName,
                location,
                tags,
                hardwareProfile: { vmSize: placement.size },
                networkProfile: { networkInterfaces: [{ id: nic.id, primary: true }] },
                osProfile: {
                    computerName: spec.name,
                    adminUsername: spec.sshUser,
                    customData: pulumi.secret(
                        pulumi
                            .all([args.hostKey.privateKey, args.hostKey.publicKey])
                            .apply(([privateKey, publicKey]) => Buffer.from(cloudInitUserData(spec.name, { privateKey, publicKey })).toString("base64")),
                    ),
                    linuxConfiguration: {
                        disablePasswordAuthentication: true,
                        ssh: {
                            publicKeys: [
                                {
                                    path: `/home/${spec.sshUser}/.ssh/authorized_keys`,
                                    keyData: pulumi.output(args.sshPublicKey).apply((key) => key.trim()),
                                },
                            ],
                        },
                    },
                },
                storageProfile: {
                    imageReference: { publisher: image.publisher, offer: image.offer, sku: image.sku, version: "latest" },
                    osDisk: {
                        createOption: "FromImage",
                        diskSizeGB: placement.osDiskGb,
                        caching: "ReadWrite",
                        managedDisk: { storageAccountType: supportsPremiumStorage(placement.size) ? "Premium_LRS" : "StandardSSD_LRS" },
                        // The disk is no Pulumi resource of its own: without this it would outlive the VM.
                        deleteOption: "Delete",
                    },
                },
                securityProfile: image.trustedLaunch
                    ? { securityType: "TrustedLaunch", uefiSettings: { secureBootEnabled: true, vTpmEnabled: true } }
                    : undefined,
                // The successor takes the same name, mesh address and WireGuard key: the old machine must be gone first.
            },
            { ...child, deleteBeforeReplace: true },
        );

        // A static Standard IP has its address once created; an empty one would only fail later, at dial time.
        const address = publicIp.ipAddress.apply((ip) => {
            if (!ip) throw new Error(`AzureHost ${name}: the public IP of node ${spec.name} has no address`);
            return ip;
        });
        this.publicAddress = address;
        this.connection = sshConnection({
            host: address,
            user: spec.sshUser,
            port: spec.sshPort,
            privateKey: args.sshPrivateKey,
            hostKey: args.hostKey.publicKey,
        });

        this.hostKey = args.hostKey.publicKey;
        const cloudInit = waitForCloudInit(name, this.connection, this.vm, { parent: this, dependsOn: [this.vm] });
        this.identity = this.vm.id;
        this.ready = [cloudInit];

        this.registerOutputs({ publicAddress: this.publicAddress, vmId: this.vm.id });
    }
}

export interface AzureLocationsArgs {
    clusterName: string;
}

/** One AzureLocationNetwork per location, created the first time a node there asks, under the given parent. */
export class AzureLocations {
    private readonly networks = new Map<string, AzureLocationNetwork>();

    constructor(
        private readonly name: string,
        private readonly args: AzureLocationsArgs,
        private readonly parent: pulumi.Resource,
    ) {}

    networkFor(spec: NodeSpec): AzureLocationNetwork {
        const { location } = checkAzureNode(spec);
        let created = this.networks.get(location);
        if (!created) {
            created = new AzureLocationNetwork(`${this.name}-${location}`, { clusterName: this.args.clusterName, location }, { parent: this.parent });
            this.networks.set(location, created);
        }
        return created;
    }
}
