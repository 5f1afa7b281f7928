// HybridCluster: the one place that knows the order. Secrets → hosts → mesh → firewall → k3s →
// ingress and edge; and, for a stack that is still being brought up, what has to wait.
//
// The first up (README, "The first up"): nothing may need an output of the same up. Existing hosts
// are reachable only once their owner ran the bootstrap script (an output), so until a host is
// enrolled nothing runs on it, and until the hub is enrolled nothing runs on any host (every spoke
// reaches the cluster through it). The Kubernetes and Helm steps run from the machine that runs
// Pulumi, over the mesh, so they wait until an operator with runsPulumi is enrolled.
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { ClusterSpec, NodeSpec } from "./config";
import { AppDns } from "./dns";
import { CloudHosts } from "./cloudhosts";
import { Edge } from "./edge";
import { firewallTeardown, HostFirewall } from "./firewall";
import { renderHostCleanup } from "./render/bundle";
import { ExistingHost, Host, SshEndpoint } from "./host";
import { asRoot, shellQuote } from "./hostfiles";
import { IstioIngress } from "./ingress";
import { K3sCluster } from "./k3s";
import { Mesh, WireGuardMesh, ZeroTierMesh } from "./mesh";
import { MeshDns } from "./meshdns";
import { leaveCleanupPath } from "./paths";
import { ClusterSecrets } from "./secrets";

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

/**
 * Whether Pulumi can reach a node now: cloud VMs always; an existing host once enrolled; everyone once
 * the hub is. On ZeroTier a host behind NAT is reached over the mesh itself, so only once the machine
 * running Pulumi is on it too (an enrolled operator with runsPulumi).
 */
export function reachableNow(spec: ClusterSpec, node: NodeSpec): boolean {
    const hub = spec.nodes.find((n) => n.roles.includes("hub"));
    const enrolled = (n: NodeSpec) => n.provider !== "existing" || n.existing.enrolled;
    const overZerotier = spec.mesh.kind === "zerotier" && node.existing?.behindNat;
    return enrolled(node) && (!hub || enrolled(hub)) && (!overZerotier || pulumiOnMesh(spec));
}

/** The machine running Pulumi is on the mesh (the Kubernetes steps, and ZeroTier hosts behind NAT, need it). */
function pulumiOnMesh(spec: ClusterSpec): boolean {
    return spec.operators.some((o) => o.runsPulumi && o.enrolled);
}

/** What this up leaves for a later one, each with the step that unblocks it (an output, and printed by the plan). */
export function heldBack(spec: ClusterSpec): string[] {
    const lines: string[] = [];
    const hub = spec.nodes.find((n) => n.roles.includes("hub"));
    spec.nodes.forEach((node, i) => {
        if (node.provider !== "existing" || node.existing.enrolled) return;
        lines.push(`${node.name}: not enrolled; run its bootstrapScripts entry as root on it, then set nodes[${i}].enrolled: true`);
    });
    if (hub && !reachableNow(spec, hub)) lines.push(`every host waits for the hub ${hub.name} to be enrolled`);
    if (spec.mesh.kind === "zerotier" && !pulumiOnMesh(spec) && spec.nodes.some((n) => n.existing?.behindNat && n.existing.enrolled))
        lines.push(
            "hosts behind NAT on ZeroTier are reached over ZeroTier: join the machine running Pulumi to the network, add it to operators with runsPulumi: true, enrolled: true",
        );
    const k3sNodes = spec.nodes.filter((n) => reachableNow(spec, n) && (n.roles.includes("server") || n.roles.includes("agent")));
    if (k3sNodes.length > 0 && !k3sNodes.some((n) => n.roles.includes("server") && !n.decommission))
        lines.push("k3s: no reachable server yet, so no node installs k3s");
    const reachable = (role: string) =>
        spec.nodes.filter((n) => n.roles.includes(role as NodeSpec["roles"][number]) && !n.decommission && reachableNow(spec, n));
    if (reachable("edge").length > 0 && reachable("ingress").length === 0 && spec.nodes.some((n) => n.roles.includes("ingress")))
        lines.push("edge: no ingress node is reachable yet, so the edge proxies wait");
    if (needsKubernetes(spec) && !pulumiOnMesh(spec)) {
        lines.push(
            "Istio, cert-manager and the apps: the machine running Pulumi must be on the mesh; add it to operators with runsPulumi: true, " +
                "bring up its operatorConfigs entry (wg-quick up), then set enrolled: true",
        );
    }
    return lines;
}

function needsKubernetes(spec: ClusterSpec): boolean {
    return spec.ingress.apps.length > 0 || spec.nodes.some((n) => n.roles.includes("ingress"));
}

export class HybridCluster extends pulumi.ComponentResource {
    readonly kubeconfig: pulumi.Output<string | undefined>;
    readonly sshPublicKey: pulumi.Output<string>;
    readonly operatorConfigs: pulumi.Output<Record<string, string>>;
    readonly bootstrapScripts: pulumi.Output<Record<string, string>>;
    readonly nodeSummary: pulumi.Output<NodeSummary[]>;
    readonly heldBack: string[];

    constructor(name: string, args: HybridClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        const { spec } = args;
        super(
            "hybrid-k3s:cluster:HybridCluster",
            name,
            { clusterName: spec.clusterName, meshKind: spec.mesh.kind, nodes: spec.nodes.map((n) => n.name) },
            opts,
        );
        const child = { parent: this };

        const wireguardPeers = spec.mesh.kind === "wireguard" ? [...spec.nodes.map((n) => n.name), ...spec.operators.map((o) => o.name)] : [];
        const cloudHosts = spec.nodes.filter((n) => n.provider !== "existing").map((n) => n.name);
        const secrets = new ClusterSecrets(name, { wireguardPeers, cloudHosts }, child);
        this.sshPublicKey = secrets.sshPublicKey;
        const existingHostKey = args.sshPrivateKey ?? secrets.sshPrivateKey;

        const hosts = this.createHosts(spec, secrets, existingHostKey);
        const reachable = (host: Host) => reachableNow(spec, host.spec);
        const mesh: Mesh =
            spec.mesh.kind === "wireguard"
                ? new WireGuardMesh(`${name}-mesh`, { spec, hosts, reachable, secrets }, child)
                : new ZeroTierMesh(`${name}-mesh`, { spec, hosts, reachable, sshPublicKey: secrets.sshPublicKey }, child);
        this.operatorConfigs = mesh.operatorConfigs;
        this.bootstrapScripts = mesh.bootstrapScripts;
        this.heldBack = heldBack(spec);

        const active = hosts.filter(reachable);
        const firewall = new HostFirewall(`${name}-firewall`, { spec, hosts: active, after: (host) => [mesh.joined(host)] }, child);
        if (spec.meshDns) {
            new MeshDns(
                `${name}-mesh-dns`,
                { meshDns: spec.meshDns, meshInterface: mesh.interfaceName, hosts: active, after: (host) => [mesh.joined(host)] },
                child,
            );
        }
        const clusterHosts = active.filter((h) => h.roles.includes("server") || h.roles.includes("agent"));
        const k3s = clusterHosts.some((h) => h.roles.includes("server") && !h.spec.decommission)
            ? new K3sCluster(
                  `${name}-k3s`,
                  {
                      spec,
                      hosts: clusterHosts,
                      mesh,
                      serverToken: secrets.k3sServerToken,
                      agentToken: secrets.k3sAgentToken,
                      datastoreEndpoint: args.datastoreEndpoint,
                      after: (host) => [mesh.joined(host), firewall.loaded(host)],
                  },
                  child,
              )
            : undefined;
        this.kubeconfig = k3s ? k3s.kubeconfig : pulumi.output(undefined);

        // A decommissioned host leaves last: its k3s is gone by now; then our firewall, then the mesh
        // (a few seconds later: this command arrives over it), then every file of ours.
        // The cleanup goes to a file first: systemd expands $VAR and ${VAR} in a unit's command line
        // (systemd.service(5), "Command lines"), which would empty the script's own variables.
        const cleanupAfterLeaving = [
            `cat > ${leaveCleanupPath} <<'HK3S_CLEANUP'`,
            renderHostCleanup(),
            `rm -f ${leaveCleanupPath}`,
            "HK3S_CLEANUP",
            `systemd-run --quiet --on-active=15 /bin/sh ${leaveCleanupPath}`,
        ].join("\n");
        for (const host of active.filter((h) => h.spec.decommission)) {
            const k3sNode = k3s?.nodes.find((n) => n.host === host);
            new command.remote.Command(
                `${host.name}-leave`,
                {
                    connection: host.connection,
                    create: asRoot(host.spec.sshUser, `sh -c ${shellQuote([firewallTeardown, mesh.leaveScript, cleanupAfterLeaving].join("\n"))}`),
                    addPreviousOutputInEnv: false,
                },
                { parent: this, dependsOn: [mesh.joined(host.name), firewall.loaded(host.name), ...(k3sNode ? [k3sNode.installed] : [])] },
            );
        }

        const staying = active.filter((h) => !h.spec.decommission);
        if (k3s && needsKubernetes(spec) && pulumiOnMesh(spec)) {
            new IstioIngress(
                `${name}-ingress`,
                {
                    spec,
                    kubeconfig: k3s.kubeconfig,
                    ingressNodes: staying.filter((h) => h.roles.includes("ingress")).length,
                    after: k3s.nodes.map((n) => n.installed),
                },
                child,
            );
        }
        const edgeHosts = staying.filter((h) => h.roles.includes("edge"));
        const ingressHosts = staying.filter((h) => h.roles.includes("ingress"));
        // An edge with no reachable ingress node yet (on ZeroTier they may all sit behind NAT) waits for a later up.
        if (edgeHosts.length > 0 && ingressHosts.length > 0) {
            new Edge(
                `${name}-edge`,
                {
                    spec,
                    edgeHosts,
                    ingressHosts,
                    after: (host) => [mesh.joined(host), firewall.loaded(host)],
                },
                child,
            );
        }
        if (spec.dns.provider !== "none" && spec.ingress.apps.length > 0 && edgeHosts.length > 0) {
            new AppDns(`${name}-dns`, { spec, edgeHosts }, child);
        }

        this.nodeSummary = pulumi.all(
            hosts.map((h) =>
                h.publicAddress.apply((publicAddress): NodeSummary => ({
                    name: h.name,
                    provider: h.spec.provider,
                    arch: h.arch,
                    roles: h.roles,
                    meshAddress: h.meshAddress,
                    publicAddress,
                })),
            ),
        );
        this.registerOutputs({ kubeconfig: this.kubeconfig, nodes: this.nodeSummary });
    }

    /** Hub first: hosts behind NAT jump through it, with its host key pinned. */
    private createHosts(spec: ClusterSpec, secrets: ClusterSecrets, existingHostKey: pulumi.Output<string>): Host[] {
        const hubSpec = spec.nodes.find((n) => n.roles.includes("hub"));
        const ordered = hubSpec ? [hubSpec, ...spec.nodes.filter((n) => n !== hubSpec)] : spec.nodes;
        const cloud = new CloudHosts(
            `${spec.clusterName}-cloud`,
            {
                spec,
                sshPublicKey: secrets.sshPublicKey,
                sshPrivateKey: secrets.sshPrivateKey,
                hostKeys: secrets.hostKeys,
            },
            { parent: this },
        );
        const hosts: Host[] = [];
        let jump: SshEndpoint | undefined;
        for (const node of ordered) {
            const host =
                node.provider === "existing"
                    ? new ExistingHost(
                          node.name,
                          { spec: node, privateKey: existingHostKey, jump, meshReachesDirectly: spec.mesh.kind === "zerotier" },
                          { parent: this },
                      )
                    : cloud.host(node);
            if (node === hubSpec) {
                jump = {
                    host: host.publicAddress.apply((a) => a ?? ""),
                    user: node.sshUser,
                    port: node.sshPort,
                    privateKey: node.provider === "existing" ? existingHostKey : secrets.sshPrivateKey,
                    hostKey: host.hostKey,
                };
            }
            hosts.push(host);
        }
        return hosts;
    }
}
