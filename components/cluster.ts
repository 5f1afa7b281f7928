// HybridCluster: the one place that knows the order. Secrets → hosts → mesh → firewall → k3s →
// ingress and edge. Every component below knows its inputs, not its siblings.
import * as pulumi from "@pulumi/pulumi";
import { ClusterSpec } from "./config";
import { AppDns } from "./dns";
import { CloudHosts } from "./cloudhosts";
import { Edge } from "./edge";
import { HostFirewall } from "./firewall";
import { ExistingHost, Host, SshEndpoint } from "./host";
import { IstioIngress } from "./ingress";
import { K3sCluster } from "./k3s";
import { Mesh, WireGuardMesh } from "./mesh";
import { ClusterSecrets } from "./secrets";
import { ZeroTierMesh } from "./zerotier";

export interface HybridClusterArgs {
    spec: ClusterSpec;
    /** Key for existing hosts; absent: the generated cluster key (authorize sshAuthorizedKey on them). */
    sshPrivateKey?: pulumi.Output<string>;
    datastoreEndpoint?: pulumi.Output<string>;
}

export interface NodeSummary {
    name: string;
    provider: string;
    arch: string;
    roles: string[];
    meshAddress: string;
    publicAddress?: string;
}

export class HybridCluster extends pulumi.ComponentResource {
    readonly kubeconfig: pulumi.Output<string>;
    readonly sshPublicKey: pulumi.Output<string>;
    readonly operatorConfigs: pulumi.Output<Record<string, string>>;
    readonly bootstrapScripts: pulumi.Output<Record<string, string>>;
    readonly nodeSummary: pulumi.Output<NodeSummary[]>;

    constructor(name: string, args: HybridClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        const { spec } = args;
        super("hybrid-k3s:cluster:HybridCluster", name, { clusterName: spec.clusterName, meshKind: spec.mesh.kind, nodes: spec.nodes.map((n) => n.name) }, opts);
        const child = { parent: this };

        const wireguardPeers = spec.mesh.kind === "wireguard" ? [...spec.nodes.map((n) => n.name), ...spec.operators.map((o) => o.name)] : [];
        const secrets = new ClusterSecrets(name, { wireguardPeers }, child);
        this.sshPublicKey = secrets.sshPublicKey;
        const existingHostKey = args.sshPrivateKey ?? secrets.sshPrivateKey;

        const hosts = this.createHosts(spec, secrets, existingHostKey);
        const mesh: Mesh = spec.mesh.kind === "wireguard"
            ? new WireGuardMesh(`${name}-mesh`, { spec, hosts, secrets }, child)
            : new ZeroTierMesh(`${name}-mesh`, { spec, hosts, sshPublicKey: secrets.sshPublicKey }, child);
        this.operatorConfigs = mesh.operatorConfigs;
        this.bootstrapScripts = mesh.bootstrapScripts;

        const firewall = new HostFirewall(`${name}-firewall`, { spec, hosts, after: (host) => [mesh.joined(host)] }, child);
        const clusterHosts = hosts.filter((h) => h.roles.includes("server") || h.roles.includes("agent"));
        const k3s = new K3sCluster(`${name}-k3s`, {
            spec, hosts: clusterHosts, mesh, token: secrets.k3sToken, datastoreEndpoint: args.datastoreEndpoint,
            after: (host) => [mesh.joined(host), firewall.loaded(host)],
        }, child);
        this.kubeconfig = k3s.kubeconfig;

        if (spec.ingress.apps.length > 0 || hosts.some((h) => h.roles.includes("ingress"))) {
            new IstioIngress(`${name}-ingress`, { spec, kubeconfig: k3s.kubeconfig, after: k3s.nodes.map((n) => n.installed) }, child);
        }
        const edgeHosts = hosts.filter((h) => h.roles.includes("edge"));
        if (edgeHosts.length > 0) {
            new Edge(`${name}-edge`, {
                spec, edgeHosts, ingressHosts: hosts.filter((h) => h.roles.includes("ingress")),
                after: (host) => [mesh.joined(host), firewall.loaded(host)],
            }, child);
        }

        if (spec.dns.provider !== "none" && spec.ingress.apps.length > 0) {
            new AppDns(`${name}-dns`, { spec, edgeHosts }, child);
        }

        this.nodeSummary = pulumi.all(hosts.map((h) => h.publicAddress.apply((publicAddress): NodeSummary => ({
            name: h.name, provider: h.spec.provider, arch: h.arch, roles: h.roles, meshAddress: h.meshAddress, publicAddress,
        }))));
        this.registerOutputs({ kubeconfig: this.kubeconfig, nodes: this.nodeSummary });
    }

    /** Hub first: hosts behind NAT jump through it. */
    private createHosts(spec: ClusterSpec, secrets: ClusterSecrets, existingHostKey: pulumi.Output<string>): Host[] {
        const hubSpec = spec.nodes.find((n) => n.roles.includes("hub"));
        const ordered = hubSpec ? [hubSpec, ...spec.nodes.filter((n) => n !== hubSpec)] : spec.nodes;
        const cloud = new CloudHosts(`${spec.clusterName}-cloud`, { spec, sshPublicKey: secrets.sshPublicKey, sshPrivateKey: secrets.sshPrivateKey }, { parent: this });
        const hosts: Host[] = [];
        let jump: SshEndpoint | undefined;
        for (const node of ordered) {
            const host = node.provider === "existing"
                ? new ExistingHost(node.name, { spec: node, privateKey: existingHostKey, jump }, { parent: this })
                : cloud.host(node);
            if (node === hubSpec) {
                jump = {
                    host: host.publicAddress.apply((a) => a ?? ""), user: node.sshUser, port: node.sshPort,
                    privateKey: node.provider === "existing" ? existingHostKey : secrets.sshPrivateKey,
                };
            }
            hosts.push(host);
        }
        return hosts;
    }
}
