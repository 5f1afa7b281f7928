// ZeroTierMesh (seed 002): every host joins one ZeroTier network; Central authorizes it and pins
// its mesh address. No hub: ZeroTier traverses NAT itself.
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { ClusterSpec, projectName } from "../config";
import { Host } from "../host";
import { asRoot, HostFiles, shellQuote } from "../hostfiles";
import { renderBundle } from "../render/bundle";
import { authorizeKey } from "../render/hostsetup";
import { gatewaySysctlPath, zerotierHome, zerotierInterfaceName, zerotierUnitName } from "../paths";
import {
    centralAuthorizeScript,
    memberIdFromJoinOutput,
    renderZerotierDeviceMap,
    renderZerotierLocalConf,
    zerotierJoinScript,
    zerotierWaitScript,
    ZerotierRoute,
} from "../render/zerotier";
import { Mesh } from ".";

export interface ZeroTierMeshArgs {
    spec: ClusterSpec;
    hosts: Host[];
    /** Hosts Pulumi can reach now (see the first up in cluster.ts); only they get a mesh step. */
    reachable: (host: Host) => boolean;
    sshPublicKey: pulumi.Input<string>;
}

export class ZeroTierMesh extends pulumi.ComponentResource implements Mesh {
    readonly kind = "zerotier" as const;
    readonly interfaceName = zerotierInterfaceName;
    readonly unitName = zerotierUnitName;
    readonly leaveScript: string;
    readonly operatorConfigs: pulumi.Output<Record<string, string>>;
    readonly bootstrapScripts: pulumi.Output<Record<string, string>>;
    private readonly steps = new Map<string, pulumi.Resource>();

    constructor(name: string, args: ZeroTierMeshArgs, opts?: pulumi.ComponentResourceOptions) {
        const { spec } = args;
        const networkId = spec.mesh.zerotierNetworkId;
        if (!networkId) throw new Error("ZeroTierMesh: zerotierNetworkId is not set");
        super("hybrid-k3s:mesh:ZeroTierMesh", name, { networkId }, opts);
        this.leaveScript = `systemd-run --quiet --on-active=5 /bin/sh -c 'zerotier-cli leave ${networkId}; systemctl disable --now ${zerotierUnitName}'`;
        const apiToken = new pulumi.Config(projectName).requireSecret("zerotierApiToken");
        const files = [
            { path: `${zerotierHome}/local.conf`, mode: "0644", content: renderZerotierLocalConf() },
            { path: `${zerotierHome}/devicemap`, mode: "0644", content: renderZerotierDeviceMap(networkId) },
        ];
        const join = zerotierJoinScript(networkId);
        const authorize = (host: Host, memberId: pulumi.Input<string>) =>
            new command.local.Command(
                `${host.name}-mesh-authorize`,
                {
                    create: pulumi.output(memberId).apply((id) =>
                        centralAuthorizeScript({
                            centralUrl: spec.mesh.zerotierCentralUrl,
                            networkId,
                            memberId: id,
                            meshAddress: host.meshAddress,
                            name: host.name,
                            routes: zerotierRoutes(spec),
                            createRoutes: spec.mesh.zerotierCreateRoutes,
                        }),
                    ),
                    stdin: pulumi.interpolate`Authorization: token ${apiToken}`,
                    logging: "none",
                },
                { parent: this },
            );
        for (const host of args.hosts.filter(args.reachable)) {
            // A host behind NAT joined in its bootstrap (Pulumi reaches it only over ZeroTier), and its owner
            // put the member id it printed in zerotierMemberId: it is authorized first, then reached on the mesh.
            // A public host joins over SSH and is authorized with the id its join step prints.
            const memberId = host.spec.existing?.behindNat ? host.spec.existing.zerotierMemberId : undefined;
            const preAuthorized = memberId ? authorize(host, memberId) : undefined;
            // A gateway to a LAN forwards between zt0 and it (ZeroTier's managed route sends the LAN here).
            const gateway = (host.spec.routes ?? []).length > 0;
            const joined = new HostFiles(
                `${host.name}-mesh`,
                {
                    host,
                    files: gateway ? [...files, { path: gatewaySysctlPath, mode: "0644", content: "net.ipv4.ip_forward = 1\n" }] : files,
                    apply: gateway ? [`sysctl -q -p ${gatewaySysctlPath}`, join].join("\n") : join,
                    after: preAuthorized ? [preAuthorized] : [],
                },
                { parent: this },
            );
            const authorized = preAuthorized ?? authorize(host, joined.command.stdout.apply(memberIdFromJoinOutput));
            this.steps.set(
                host.name,
                new command.remote.Command(
                    `${host.name}-mesh-address`,
                    {
                        connection: host.connection,
                        create: asRoot(host.spec.sshUser, `sh -c ${shellQuote(zerotierWaitScript(host.meshAddress))}`),
                    },
                    { parent: this, dependsOn: [authorized, joined] },
                ),
            );
        }
        // Operators join with the ZeroTier app and are authorized in Central like any member.
        this.operatorConfigs = pulumi.output(
            Object.fromEntries(
                spec.operators.map((o) => [
                    o.name,
                    `zerotier-cli join ${networkId}; then authorize the member in ZeroTier Central with address ${o.meshAddress}\n`,
                ]),
            ),
        );
        this.bootstrapScripts = pulumi.output(args.sshPublicKey).apply((key) =>
            Object.fromEntries(
                args.hosts
                    .filter((h) => h.spec.provider === "existing")
                    .map((h) => [
                        h.name,
                        // A host behind NAT joins here: Pulumi reaches it only over ZeroTier. It prints the member id
                        // its owner puts in zerotierMemberId (docs/zerotier.md).
                        h.spec.existing?.behindNat
                            ? renderBundle(`bootstrap-${h.name}`, `one-time bootstrap of ${h.name}: run it as root on the machine`, files, {
                                  apply: [authorizeKey(h.spec.sshUser, key), join].join("\n"),
                              })
                            : renderBundle(`bootstrap-${h.name}`, `one-time bootstrap of ${h.name}: run it as root on the machine`, [], {
                                  apply: authorizeKey(h.spec.sshUser, key),
                              }),
                    ]),
            ),
        );
        this.registerOutputs({ operatorConfigs: this.operatorConfigs, bootstrapScripts: this.bootstrapScripts });
    }

    joined(host: string): pulumi.Resource {
        const step = this.steps.get(host);
        if (!step) throw new Error(`ZeroTierMesh: ${host} is not on the mesh`);
        return step;
    }
}

/** The managed routes the network must push: the mesh itself, then each node's LANs via that node. */
export function zerotierRoutes(spec: Pick<ClusterSpec, "mesh" | "nodes">): ZerotierRoute[] {
    return [{ target: spec.mesh.cidr }, ...spec.nodes.flatMap((n) => (n.routes ?? []).map((target) => ({ target, via: n.meshAddress })))];
}
