// k3s on the mesh: servers first, then every agent in parallel. Version changes roll through
// separate drain → upgrade → uncordon steps, servers one at a time, then agents in batches.
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { ClusterSpec } from "./config";
import { Host } from "./host";
import { ingressNodeLabel } from "./ingress";
import { asRoot, HostFiles, shellQuote } from "./hostfiles";
import { Mesh } from "./mesh";
import {
    deleteNodeCommand, drainCommand, k3sFlags, K3S_TOKEN_FILE, K3sNodeFacts, kubeconfigForMesh, renderDatastoreConfig,
    renderK3sInstallScript, renderK3sUnit, renderUninstallScript, uncordonCommand,
} from "./render/k3s";

export interface K3sClusterArgs {
    spec: ClusterSpec;
    hosts: Host[];
    mesh: Mesh;
    token: pulumi.Input<string>;
    datastoreEndpoint?: pulumi.Input<string>;
    /** Per host: steps that must finish before k3s starts there (mesh joined, firewall loaded). */
    after: (host: string) => pulumi.Resource[];
}

const installScriptPath = "/usr/local/lib/hybrid-k3s/install-k3s.sh";
const uninstallScriptPath = "/usr/local/lib/hybrid-k3s/uninstall-k3s.sh";
const datastoreConfigPath = "/etc/rancher/k3s/datastore.yaml";
/** Re-runs (a changed unit or token) keep the installed release: only the upgrade step moves it. */
const keepInstalledVersion = `installed="$(/usr/local/bin/k3s --version 2>/dev/null | awk 'NR == 1 { print $3 }')" || true\nK3S_VERSION="\${installed:-$K3S_VERSION}" sh ${installScriptPath}`;

export interface K3sNodeArgs {
    host: Host;
    facts: K3sNodeFacts;
    meshCidr: string;
    token: pulumi.Input<string>;
    datastoreEndpoint?: pulumi.Input<string>;
    /** The server that runs kubectl for drains and node deletion. */
    controlHost: Host;
    /** Before the first install: mesh, firewall, and for agents the servers. */
    after: pulumi.Resource[];
    /** Before a version change reaches this node: the previous step of the rolling order. */
    upgradeAfter: pulumi.Resource[];
}

/** One k3s node: its files and install, plus the steps a version change or a removal runs. */
export class K3sNode extends pulumi.ComponentResource {
    readonly installed: HostFiles;
    /** Last step of this node's upgrade (uncordoned); the next node in the rolling order waits for it. */
    readonly upgraded: command.remote.Command;

    constructor(name: string, args: K3sNodeArgs, opts?: pulumi.ComponentResourceOptions) {
        const flags = k3sFlags(args.facts);
        // The inputs the policy pack reads to prove the API binds to the mesh.
        super("hybrid-k3s:k3s:K3sNode", name, {
            nodeName: args.facts.nodeName, role: args.facts.role, meshAddress: args.facts.meshAddress, meshCidr: args.meshCidr, flags,
        }, opts);
        const { host, facts, controlHost } = args;
        const unit = renderK3sUnit(facts);
        const files = [
            { path: unit.path, mode: "0644", content: unit.content },
            { path: K3S_TOKEN_FILE, mode: "0600", content: args.token },
            { path: installScriptPath, mode: "0700", content: renderK3sInstallScript(facts) },
            { path: uninstallScriptPath, mode: "0700", content: renderUninstallScript(facts) },
            ...(args.datastoreEndpoint ? [{ path: datastoreConfigPath, mode: "0600", content: pulumi.output(args.datastoreEndpoint).apply(renderDatastoreConfig) }] : []),
        ];
        this.installed = new HostFiles(`${name}-files`, {
            host,
            files,
            // The version a fresh host installs; afterwards the installed one stays until the upgrade step moves it.
            firstRunEnv: { K3S_VERSION: facts.version },
            apply: keepInstalledVersion,
            remove: `sh ${uninstallScriptPath}`,
            after: args.after,
        }, { parent: this });

        // No create step: these run only when the version (part of their script) changes.
        const onControl = (step: string, script: string, dependsOn: pulumi.Resource[]) => new command.remote.Command(`${name}-${step}`, {
            connection: controlHost.connection,
            update: asRoot(controlHost.spec.sshUser, `sh -c ${shellQuote(`# k3s ${facts.version}\n${script}`)}`),
        }, { parent: this, dependsOn });
        const drain = onControl("drain", drainCommand(facts.nodeName), [this.installed, ...args.upgradeAfter]);
        const upgrade = new command.remote.Command(`${name}-upgrade`, {
            connection: host.connection,
            update: asRoot(host.spec.sshUser, `env K3S_VERSION=${facts.version} sh ${installScriptPath}`),
        }, { parent: this, dependsOn: [drain] });
        this.upgraded = onControl("uncordon", uncordonCommand(facts.nodeName), [upgrade]);
        // Removal from the config: drain and delete the Node object here, then the files' own delete
        // step runs the uninstall script on the host (Pulumi deletes dependents first).
        new command.remote.Command(`${name}-remove`, {
            connection: controlHost.connection,
            delete: asRoot(controlHost.spec.sshUser, `sh -c ${shellQuote(`${drainCommand(facts.nodeName)} && ${deleteNodeCommand(facts.nodeName)}`)}`),
        }, { parent: this, dependsOn: [this.installed] });
        this.registerOutputs({});
    }
}

/** Servers (the first one initialises the cluster) and agents, with a kubeconfig for the mesh. */
export class K3sCluster extends pulumi.ComponentResource {
    readonly kubeconfig: pulumi.Output<string>;
    readonly nodes: K3sNode[] = [];

    constructor(name: string, args: K3sClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        const { spec, hosts, mesh } = args;
        const servers = hosts.filter((h) => h.roles.includes("server"));
        const agents = hosts.filter((h) => h.roles.includes("agent"));
        super("hybrid-k3s:k3s:K3sCluster", name, { version: spec.k3s.version, servers: servers.map((h) => h.name), agents: agents.map((h) => h.name) }, opts);
        const [first] = servers;
        const serverUrl = `https://${first.meshAddress}:6443`;
        const facts = (host: Host, role: "server" | "agent", index: number): K3sNodeFacts => ({
            nodeName: host.name, role, meshAddress: host.meshAddress, meshInterface: mesh.interfaceName, meshUnit: mesh.unitName,
            arch: host.arch, version: spec.k3s.version, clusterCidr: spec.k3s.clusterCidr, serviceCidr: spec.k3s.serviceCidr,
            tlsSans: spec.k3s.tlsSans, flannelBackend: spec.k3s.flannelBackend,
            extraFlags: role === "server" ? spec.k3s.serverFlags : spec.k3s.agentFlags,
            // Embedded etcd: the first server initialises, the rest join it. sqlite/external: no join.
            clusterInit: role === "server" && spec.k3s.datastore === "embedded-etcd" && index === 0,
            serverUrl: role === "agent" || (spec.k3s.datastore === "embedded-etcd" && index > 0) ? serverUrl : undefined,
            datastoreEndpointFile: role === "server" && spec.k3s.datastore === "external" ? datastoreConfigPath : undefined,
            nodeLabels: host.roles.includes("ingress") ? [`${ingressNodeLabel.key}=${ingressNodeLabel.value}`] : [],
        });
        const node = (host: Host, role: "server" | "agent", index: number, after: pulumi.Resource[], upgradeAfter: pulumi.Resource[]) => {
            const created = new K3sNode(`${host.name}-k3s`, {
                host, facts: facts(host, role, index), meshCidr: spec.mesh.cidr, token: args.token, controlHost: first,
                datastoreEndpoint: role === "server" ? args.datastoreEndpoint : undefined,
                after: [...args.after(host.name), ...after], upgradeAfter,
            }, { parent: this });
            this.nodes.push(created);
            return created;
        };

        // Servers one after another (joining etcd members must find the first one up), and their
        // upgrades one at a time in the same order.
        const serverNodes: K3sNode[] = [];
        servers.forEach((host, i) => {
            const previous = serverNodes[i - 1];
            serverNodes.push(node(host, "server", i, previous ? [previous.installed] : [], previous ? [previous.upgraded] : []));
        });
        // Agents install in parallel once the servers are up; upgrades go in batches after the servers'.
        const serversDone = serverNodes.map((n) => n.installed);
        let previousBatch = [serverNodes[serverNodes.length - 1].upgraded];
        for (let i = 0; i < agents.length; i += spec.k3s.upgradeBatchSize) {
            const batch = agents.slice(i, i + spec.k3s.upgradeBatchSize).map((host, j) => node(host, "agent", i + j, serversDone, previousBatch));
            previousBatch = batch.map((n) => n.upgraded);
        }

        const rawKubeconfig = new command.remote.Command(`${name}-kubeconfig`, {
            connection: first.connection,
            create: asRoot(first.spec.sshUser, "cat /etc/rancher/k3s/k3s.yaml"),
            logging: "none",
        }, { parent: this, dependsOn: [serverNodes[0].installed], additionalSecretOutputs: ["stdout"] });
        this.kubeconfig = pulumi.secret(rawKubeconfig.stdout.apply((raw) => kubeconfigForMesh(raw, first.meshAddress, spec.clusterName)));
        this.registerOutputs({ kubeconfig: this.kubeconfig });
    }
}
