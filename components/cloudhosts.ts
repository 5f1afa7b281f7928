// CloudHosts: the cloud side of the Host layer. One component owns what nodes share per AWS
// region (provider, key pair, VPC) and per Azure location (resource group, VNet), and makes each
// cloud node's Host on request.
import * as pulumi from "@pulumi/pulumi";
import { AwsHost, AwsRegions } from "./aws";
import { AzureHost, AzureLocations } from "./azure";
import { ClusterSpec, NodeSpec } from "./config";
import { Host } from "./host";
import { CloudHostCluster } from "./render/cloudfirewall";
import { SshHostKeyPair } from "./secrets";

export interface CloudHostsArgs {
    spec: ClusterSpec;
    sshPublicKey: pulumi.Input<string>;
    sshPrivateKey: pulumi.Input<string>;
    hostKeys: Record<string, SshHostKeyPair>;
}

export class CloudHosts extends pulumi.ComponentResource {
    private readonly aws: AwsRegions;
    private readonly azure: AzureLocations;
    private readonly cluster: CloudHostCluster;

    constructor(
        name: string,
        private readonly args: CloudHostsArgs,
        opts?: pulumi.ComponentResourceOptions,
    ) {
        super("hybrid-k3s:host:CloudHosts", name, { nodes: args.spec.nodes.filter((n) => n.provider !== "existing").map((n) => n.name) }, opts);
        const { spec } = args;
        this.cluster = { clusterName: spec.clusterName, meshKind: spec.mesh.kind, meshListenPort: spec.mesh.listenPort, sshSourceCidrs: spec.ssh.sourceCidrs };
        this.aws = new AwsRegions(`${name}-aws`, { clusterName: spec.clusterName, sshPublicKey: args.sshPublicKey }, this);
        this.azure = new AzureLocations(`${name}-azure`, { clusterName: spec.clusterName }, this);
        this.registerOutputs({});
    }

    host(node: NodeSpec): Host {
        const common = { spec: node, cluster: this.cluster, sshPrivateKey: this.args.sshPrivateKey, hostKey: this.args.hostKeys[node.name] };
        if (node.provider === "aws") return new AwsHost(node.name, { ...common, ...this.aws.placementFor(node) }, { parent: this });
        if (node.provider === "azure") {
            return new AzureHost(node.name, { ...common, network: this.azure.networkFor(node), sshPublicKey: this.args.sshPublicKey }, { parent: this });
        }
        throw new Error(`CloudHosts: ${node.name} is an existing host, not a cloud one`);
    }
}
