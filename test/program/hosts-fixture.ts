// Shared fixtures of the cloud host tests: recording mocks, node specs, and the AWS and Azure hosts built under mocks.
import { unwrapSecrets } from "../../plan/plan";
import { strict as assert } from "assert";
import * as pulumi from "@pulumi/pulumi";
import { AwsHost, AwsRegions } from "../../components/aws";
import { AzureHost, AzureLocations, AzureNetwork } from "../../components/azure";
import { NodeSpec, Role } from "../../components/config";
import { Host } from "../../components/host";
import { CloudHostCluster } from "../../components/render/cloudfirewall";
import { PlanMocks } from "../../plan/mocks";

/** PlanMocks that also keeps every provider function call (getAmi) with its result. */
export class RecordingMocks extends PlanMocks {
    readonly calls: Array<{ token: string; inputs: Record<string, any>; result: Record<string, any> }> = [];

    call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
        const result = super.call(args);
        this.calls.push({ token: args.token, inputs: args.inputs, result });
        return result;
    }
}

/** Resource options as each child was constructed (mocks see inputs only, not dependsOn or ignoreChanges). */
export interface RecordedOptions {
    type: string;
    name: string;
    resource: pulumi.Resource;
    opts: pulumi.CustomResourceOptions;
}

/** The API, kubelet, etcd and flannel ports: our own list, independent of the module's. */
export const clusterPorts = [6443, 10250, 2379, 2380, 8472, 51821];
export const sshSources = ["198.51.100.0/24"];
/** A host key pair as ClusterSecrets makes it (the mock's private half is a placeholder). */
export const hostKey = {
    privateKey: pulumi.output("host private key placeholder"),
    publicKey: pulumi.output("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"),
};

export const wireguard: CloudHostCluster = { clusterName: "test", meshKind: "wireguard", meshListenPort: 51830, sshSourceCidrs: sshSources };
export const zerotier: CloudHostCluster = { ...wireguard, clusterName: "test-zt", meshKind: "zerotier" };

export function awsNode(name: string, arch: "arm64" | "amd64", roles: Role[], aws: Partial<NonNullable<NodeSpec["aws"]>> = {}): NodeSpec {
    return {
        name,
        provider: "aws",
        arch,
        roles,
        meshAddress: "10.0.0.10",
        site: "aws:eu-west-1",
        sshUser: "admin",
        sshPort: 22,
        publicTcpPorts: [],
        publicUdpPorts: [],
        decommission: false,
        aws: { region: "eu-west-1", instanceType: arch === "arm64" ? "t4g.small" : "t3.small", os: "debian-12", rootVolumeGb: 20, ...aws },
    };
}

export function azureNode(name: string, arch: "arm64" | "amd64", roles: Role[], azure: Partial<NonNullable<NodeSpec["azure"]>> = {}): NodeSpec {
    return {
        name,
        provider: "azure",
        arch,
        roles,
        meshAddress: "10.0.0.20",
        site: "azure:westeurope",
        sshUser: "azureuser",
        sshPort: 22,
        publicTcpPorts: [],
        publicUdpPorts: [],
        decommission: false,
        azure: { location: "westeurope", size: arch === "arm64" ? "Standard_D2ps_v5" : "Standard_B2s", os: "ubuntu-24.04", osDiskGb: 30, ...azure },
    };
}

export function settled<T>(output: pulumi.Output<T>): Promise<T> {
    return new Promise((resolve) => output.apply(resolve));
}

export interface OpenPort {
    protocol: string;
    from: number;
    to: number;
    sources: string[];
}

/** Builds the AWS and Azure hosts under mocks in a before hook of the calling suite; returns what its tests read. */
export function cloudHostsUnderMocks() {
    const mocks = new RecordingMocks();
    const options: RecordedOptions[] = [];
    const hosts = new Map<string, AwsHost | AzureHost>();
    const specs = new Map<string, NodeSpec>();
    const azureNetworks = new Map<string, AzureNetwork>();

    const recorded = (type: string, name: string) => {
        const found = mocks.resources.filter((r) => r.type === type && r.name === name);
        assert.equal(found.length, 1, `expected one ${type} named ${name}, found ${found.length}`);
        return unwrapSecrets(found[0].inputs) as Record<string, any>;
    };
    const typesNamed = (name: string) =>
        mocks.resources
            .filter((r) => r.name === name)
            .map((r) => r.type)
            .sort();
    const awsHost = (name: string) => hosts.get(name) as AwsHost;

    /** What a host's security group / NSG lets in, normalized across clouds. */
    function openPorts(name: string): OpenPort[] {
        if (specs.get(name)!.provider === "aws") {
            const ingress = recorded("aws:ec2/securityGroup:SecurityGroup", name).ingress as any[];
            assert.ok(Array.isArray(ingress) && ingress.length > 0, `${name}: security group has no ingress`);
            return ingress.map((r) => ({
                protocol: r.protocol,
                from: r.fromPort,
                to: r.toPort,
                sources: [...(r.cidrBlocks ?? []), ...(r.ipv6CidrBlocks ?? [])],
            }));
        }
        const rules = recorded("azure-native:network:NetworkSecurityGroup", name).securityRules as any[];
        assert.ok(Array.isArray(rules) && rules.length > 0, `${name}: NSG has no rules`);
        return rules
            .filter((r) => r.access === "Allow" && r.direction === "Inbound")
            .map((r) => {
                const [from, to = from] = String(r.destinationPortRange).split("-").map(Number);
                return { protocol: String(r.protocol).toLowerCase(), from, to, sources: r.sourceAddressPrefixes ?? [r.sourceAddressPrefix] };
            });
    }
    const opens = (name: string, protocol: string, port: number) => openPorts(name).filter((r) => r.protocol === protocol && r.from <= port && port <= r.to);

    const wireguardSpecs = [
        awsNode("aws-hub", "arm64", ["server", "hub"], { rootVolumeGb: 25 }),
        awsNode("aws-edge", "amd64", ["agent", "edge"], { os: "ubuntu-24.04", rootVolumeGb: 30 }),
        awsNode("aws-byo", "amd64", ["agent"], { region: "us-east-1", vpcId: "vpc-0a1b2c3d", subnetId: "subnet-0a1b2c3d", ami: "ami-0123456789abcdef0" }),
        azureNode("az-edge", "arm64", ["agent", "edge"], { osDiskGb: 40 }),
        azureNode("az-agent", "amd64", ["agent"], { os: "debian-12", osDiskGb: 32 }),
    ];
    const zerotierSpecs = [awsNode("zt-aws", "arm64", ["server"]), azureNode("zt-az", "amd64", ["agent", "edge"])];

    before(async function () {
        pulumi.runtime.setMocks(mocks, "hybrid-k3s", "test", false);
        const recordOptions = (args: pulumi.ResourceTransformationArgs) => {
            options.push({ type: args.type, name: args.name, resource: args.resource, opts: args.opts as pulumi.CustomResourceOptions });
            return undefined;
        };
        const parent = new pulumi.ComponentResource("test:index:Fixture", "fixture");
        const keys = {
            sshPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test\n",
            sshPrivateKey: "not-a-real-key",
        };
        const build = (cluster: CloudHostCluster, nodeSpecs: NodeSpec[], suffix: string): Host[] => {
            const regions = new AwsRegions(`aws${suffix}`, { clusterName: cluster.clusterName, sshPublicKey: keys.sshPublicKey }, parent);
            const locations = new AzureLocations(`azure${suffix}`, { clusterName: cluster.clusterName }, parent);
            return nodeSpecs.map((spec) => {
                specs.set(spec.name, spec);
                const opts = { parent, transformations: [recordOptions] };
                if (spec.provider === "aws") {
                    hosts.set(
                        spec.name,
                        new AwsHost(spec.name, { spec, cluster, sshPrivateKey: keys.sshPrivateKey, hostKey, ...regions.placementFor(spec) }, opts),
                    );
                } else {
                    const network = locations.networkFor(spec);
                    azureNetworks.set(spec.name, network);
                    hosts.set(spec.name, new AzureHost(spec.name, { spec, cluster, network, hostKey, ...keys }, opts));
                }
                return hosts.get(spec.name)!;
            });
        };
        const built = [...build(wireguard, wireguardSpecs, ""), ...build(zerotier, zerotierSpecs, "-zt")];
        // Every cloud resource of a host is upstream of its cloud-init wait: once that is registered, all are.
        await Promise.all(built.map((h) => settled(pulumi.all([h.connection, pulumi.all(h.ready.map((r) => r.urn))]))));
    });

    return { mocks, options, hosts, specs, azureNetworks, recorded, typesNamed, awsHost, openPorts, opens, wireguardSpecs, zerotierSpecs };
}
