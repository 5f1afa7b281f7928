// k3s on the mesh: servers first, then every agent in parallel. Version changes roll through
// drain → upgrade → uncordon steps, servers one at a time, then agents in batches; each step does
// nothing when its node already runs the target version, so an unrelated input change (a rotated
// SSH key) re-runs them harmlessly. A decommissioned node is drained and deleted here, while it is
// still on the mesh (see cluster.ts for its teardown).
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { ClusterSpec } from "./config";
import { Host } from "./host";
import { asRoot, HostFiles, shellQuote } from "./hostfiles";
import { ingressNodeLabel } from "./ingress";
import { Mesh } from "./mesh";
import {
    k3sAgentTokenPath,
    k3sConfigPath,
    k3sDatastoreConfigPath,
    k3sInstallScriptPath,
    k3sKubeconfigPath,
    k3sTokenPath,
    k3sUninstallScriptPath,
    k3sVersionPath,
} from "./paths";
import {
    agentJoinToken,
    drainAndDeleteCommand,
    drainForUpgradeCommand,
    k3sFlags,
    K3sNodeFacts,
    kubeconfigForMesh,
    renderDatastoreConfig,
    renderK3sConfig,
    renderK3sInstallScript,
    renderK3sPreflight,
    k3sTokenFiles,
    renderK3sUnit,
    renderUninstallScript,
    serverCaLinePrefix,
    uncordonAfterUpgradeCommand,
} from "./render/k3s";
import { k3sApiPort } from "./ports";

export interface K3sClusterArgs {
    spec: ClusterSpec;
    /** Hosts that run k3s (servers and agents), decommissioned ones included. */
    hosts: Host[];
    mesh: Mesh;
    serverToken: pulumi.Input<string>;
    agentToken: pulumi.Input<string>;
    datastoreEndpoint?: pulumi.Input<string>;
    /** Per host: steps that must finish before k3s starts there (mesh joined, firewall loaded). */
    after: (host: string) => pulumi.Resource[];
}

export interface K3sNodeArgs {
    host: Host;
    facts: K3sNodeFacts;
    meshCidr: string;
    /** The file that lets this node join: the server token (servers) or the CA-pinned agent token. */
    tokens: Array<{ path: string; content: pulumi.Input<string> }>;
    datastoreEndpoint?: pulumi.Input<string>;
    /** The server that runs kubectl for drains and node deletion. */
    controlHost: Host;
    /** Before the first install: mesh, firewall, and for agents the servers. */
    after: pulumi.Resource[];
    /** Before a version change reaches this node: the previous step of the rolling order. */
    upgradeAfter: pulumi.Resource[];
}

/** A command on a server's kubectl; `update` only, so it runs on an input change, never on create. */
function controlStep(name: string, controlHost: Host, script: string, parent: pulumi.Resource, dependsOn: pulumi.Resource[]): command.remote.Command {
    return new command.remote.Command(
        name,
        {
            connection: controlHost.connection,
            update: asRoot(controlHost.spec.sshUser, `sh -c ${shellQuote(script)}`),
            addPreviousOutputInEnv: false,
            logging: "stdoutAndStderr",
        },
        { parent, dependsOn },
    );
}

/** One k3s node: its files and install, the rolling-upgrade steps, and the removal step. */
export class K3sNode extends pulumi.ComponentResource {
    readonly host: Host;
    readonly installed: HostFiles;
    /** Last step of this node's upgrade (uncordoned); the next node in the rolling order waits for it. */
    readonly upgraded: pulumi.Resource;

    constructor(name: string, args: K3sNodeArgs, opts?: pulumi.ComponentResourceOptions) {
        const flags = k3sFlags(args.facts);
        // The inputs the policy pack reads to prove the API binds to the mesh.
        super(
            "hybrid-k3s:k3s:K3sNode",
            name,
            {
                nodeName: args.facts.nodeName,
                role: args.facts.role,
                meshAddress: args.facts.meshAddress,
                meshCidr: args.meshCidr,
                flags,
            },
            opts,
        );
        const { host, facts, controlHost } = args;
        this.host = host;
        const unit = renderK3sUnit(facts);
        const files = [
            { path: k3sConfigPath, mode: "0600", content: renderK3sConfig(facts) },
            { path: unit.path, mode: "0644", content: unit.content },
            { path: k3sVersionPath, mode: "0644", content: `${facts.version}\n` },
            // An adopted server keeps the server token k3s wrote itself (k3sTokenFiles): ours is not shipped.
            ...args.tokens.filter((t) => k3sTokenFiles(facts).includes(t.path)).map((t) => ({ path: t.path, mode: "0600", content: t.content })),
            { path: k3sInstallScriptPath, mode: "0700", content: renderK3sInstallScript(facts) },
            { path: k3sUninstallScriptPath, mode: "0700", content: renderUninstallScript(facts) },
            ...(args.datastoreEndpoint
                ? [{ path: k3sDatastoreConfigPath, mode: "0600", content: pulumi.output(args.datastoreEndpoint).apply(renderDatastoreConfig) }]
                : []),
        ];
        const leaving = host.spec.decommission;
        const removeScript = asRoot(controlHost.spec.sshUser, `sh -c ${shellQuote(drainAndDeleteCommand(facts.nodeName))}`);
        const removal = (dependsOn: pulumi.Resource[]) =>
            new command.remote.Command(
                `${name}-remove`,
                {
                    connection: controlHost.connection,
                    // Leaving: runs now, before the host's teardown. Otherwise it runs when the node is dropped from
                    // the config; the engine deletes last, so that works only for hosts still reachable then (not
                    // behind NAT): the README says to decommission first.
                    ...(leaving ? { create: removeScript } : { delete: removeScript }),
                    addPreviousOutputInEnv: false,
                },
                { parent: this, dependsOn },
            );
        const installStep = (after: pulumi.Resource[]) =>
            new HostFiles(
                `${name}-files`,
                {
                    host,
                    files,
                    prepare: renderK3sPreflight(facts),
                    apply: `sh ${k3sInstallScriptPath} install`,
                    remove: `sh ${k3sUninstallScriptPath}`,
                    // The uninstall as this up renders it, not the copy on the host: `purge`, set with
                    // decommission, must take effect now (the copy was written by an earlier up). Safe to re-run.
                    teardown: `sh -s <<'HK3S_UNINSTALL'\n${renderUninstallScript(facts)}HK3S_UNINSTALL`,
                    after,
                },
                { parent: this },
            );
        // Drain before uninstall either way: leaving runs the removal first; dropping deletes dependents first.
        this.installed = leaving ? installStep([removal(args.after)]) : installStep(args.after);
        if (!leaving) removal([this.installed]);

        if (leaving) {
            this.upgraded = this.installed;
        } else {
            const drain = controlStep(`${name}-drain`, controlHost, drainForUpgradeCommand(facts.nodeName, facts.version), this, [
                this.installed,
                ...args.upgradeAfter,
            ]);
            const upgrade = new command.remote.Command(
                `${name}-upgrade`,
                {
                    connection: host.connection,
                    update: asRoot(host.spec.sshUser, `sh ${k3sInstallScriptPath} upgrade # ${facts.version}`),
                    addPreviousOutputInEnv: false,
                    logging: "stdoutAndStderr",
                },
                { parent: this, dependsOn: [drain] },
            );
            this.upgraded = controlStep(`${name}-uncordon`, controlHost, `# k3s ${facts.version}\n${uncordonAfterUpgradeCommand(facts.nodeName)}`, this, [
                upgrade,
            ]);
        }
        this.registerOutputs({});
    }
}

/** Servers (the first one initialises the cluster) and agents, with a kubeconfig for the mesh. */
export class K3sCluster extends pulumi.ComponentResource {
    readonly kubeconfig: pulumi.Output<string>;
    /** The API address operators and providers use. */
    readonly apiUrl: string;
    readonly nodes: K3sNode[] = [];

    constructor(name: string, args: K3sClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        const { spec, hosts, mesh } = args;
        const servers = hosts.filter((h) => h.roles.includes("server"));
        const agents = hosts.filter((h) => h.roles.includes("agent"));
        super("hybrid-k3s:k3s:K3sCluster", name, { version: spec.k3s.version, servers: servers.map((h) => h.name), agents: agents.map((h) => h.name) }, opts);
        // The first server that stays initialises (or anchors) the cluster and runs kubectl for the others.
        const control = servers.find((h) => !h.spec.decommission);
        if (!control) throw new Error("K3sCluster: no server that stays in the cluster");
        this.apiUrl = `https://${control.meshAddress}:${k3sApiPort}`;
        const facts = (host: Host, role: "server" | "agent"): K3sNodeFacts => ({
            nodeName: host.name,
            role,
            meshAddress: host.meshAddress,
            meshInterface: mesh.interfaceName,
            meshUnit: mesh.unitName,
            arch: host.arch,
            version: spec.k3s.version,
            releaseBaseUrl: spec.k3s.releaseBaseUrl,
            clusterCidr: spec.k3s.clusterCidr,
            serviceCidr: spec.k3s.serviceCidr,
            tlsSans: spec.k3s.tlsSans,
            flannelBackend: spec.k3s.flannelBackend,
            extraFlags: role === "server" ? spec.k3s.serverFlags : spec.k3s.agentFlags,
            // Embedded etcd: the control server initialises, the rest join it. sqlite/external: no join.
            clusterInit: role === "server" && spec.k3s.datastore === "embedded-etcd" && host === control,
            serverUrl: role === "agent" || (spec.k3s.datastore === "embedded-etcd" && host !== control) ? this.apiUrl : undefined,
            externalDatastore: role === "server" && spec.k3s.datastore === "external",
            nodeLabels: host.roles.includes("ingress") ? [`${ingressNodeLabel.key}=${ingressNodeLabel.value}`] : [],
            adopt: host.spec.adopt,
            purge: host.spec.purge,
        });
        const node = (host: Host, role: "server" | "agent", tokens: K3sNodeArgs["tokens"], after: pulumi.Resource[], upgradeAfter: pulumi.Resource[]) => {
            const created = new K3sNode(
                `${host.name}-k3s`,
                {
                    host,
                    facts: facts(host, role),
                    meshCidr: spec.mesh.cidr,
                    tokens,
                    controlHost: control,
                    datastoreEndpoint: role === "server" ? args.datastoreEndpoint : undefined,
                    after: [...args.after(host.name), ...after],
                    upgradeAfter,
                },
                { parent: this },
            );
            this.nodes.push(created);
            return created;
        };

        // Servers one after another, the control server first (joining etcd members must find it up),
        // and their upgrades one at a time in the same order. Servers hold both tokens.
        const serverTokens = [
            { path: k3sTokenPath, content: args.serverToken },
            { path: k3sAgentTokenPath, content: args.agentToken },
        ];
        const serverNodes: K3sNode[] = [];
        for (const host of [control, ...servers.filter((h) => h !== control)]) {
            const previous = serverNodes[serverNodes.length - 1];
            serverNodes.push(node(host, "server", serverTokens, previous ? [previous.installed] : [], previous ? [previous.upgraded] : []));
        }
        // The control server's install prints its CA hash; agents pin it in their join token.
        const serverCaSha256 = serverNodes[0].installed.command.stdout.apply(serverCaHashFrom);
        const agentTokens = [
            {
                path: k3sAgentTokenPath,
                content: pulumi.secret(pulumi.all([serverCaSha256, args.agentToken]).apply(([hash, token]) => agentJoinToken(hash, token))),
            },
        ];
        // Agents install in parallel once the servers are up; upgrades go in batches after the servers'.
        const serversDone = serverNodes.map((n) => n.installed);
        let previousBatch = [serverNodes[serverNodes.length - 1].upgraded];
        for (let i = 0; i < agents.length; i += spec.k3s.upgradeBatchSize) {
            const batch = agents.slice(i, i + spec.k3s.upgradeBatchSize).map((host) => node(host, "agent", agentTokens, serversDone, previousBatch));
            previousBatch = batch.map((n) => n.upgraded);
        }

        // Re-read when the control server is replaced or its CA changes (both change these triggers).
        const rawKubeconfig = new command.remote.Command(
            `${control.name}-k3s-kubeconfig`,
            {
                connection: control.connection,
                create: asRoot(control.spec.sshUser, `cat ${k3sKubeconfigPath}`),
                triggers: [control.identity, serverCaSha256],
                addPreviousOutputInEnv: false,
                logging: "none",
            },
            { parent: this, dependsOn: [serverNodes[0].installed], additionalSecretOutputs: ["stdout"] },
        );
        this.kubeconfig = pulumi.secret(rawKubeconfig.stdout.apply((raw) => kubeconfigForMesh(raw, control.meshAddress, spec.clusterName)));
        this.registerOutputs({ kubeconfig: this.kubeconfig });
    }
}

/** The CA hash line the server's install printed (install.ts). */
export function serverCaHashFrom(stdout: string): string {
    const line = stdout.split("\n").find((l) => l.startsWith(serverCaLinePrefix));
    if (!line) throw new Error(`k3s: the server install printed no "${serverCaLinePrefix.trim()}" line; see its output in the step log`);
    return line.slice(serverCaLinePrefix.length).trim();
}
