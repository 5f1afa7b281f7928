// HostFirewall: the nftables ruleset on every host, loaded now and at every boot, before the mesh
// and k3s start. Cloud security groups are the outer wall; this one also guards existing hosts.
import * as pulumi from "@pulumi/pulumi";
import { ClusterSpec } from "./config";
import { Host } from "./host";
import { HostFiles } from "./hostfiles";
import { renderNftRuleset } from "./render/nftables";
import { installPackages } from "./render/hostsetup";
import { firewallUnitName, renderFirewallUnit } from "./render/units";

export interface HostFirewallArgs {
    spec: ClusterSpec;
    hosts: Host[];
    /** Per host: steps that must finish first (the mesh, which hosts behind NAT are reached through). */
    after: (host: string) => pulumi.Resource[];
}

const rulesetPath = "/etc/nftables.conf";

export class HostFirewall extends pulumi.ComponentResource {
    private readonly steps = new Map<string, HostFiles>();

    constructor(name: string, args: HostFirewallArgs, opts?: pulumi.ComponentResourceOptions) {
        super("hybrid-k3s:firewall:HostFirewall", name, { hosts: args.hosts.map((h) => h.name) }, opts);
        const { spec } = args;
        for (const host of args.hosts) {
            const ruleset = renderNftRuleset({
                hostName: host.name,
                meshInterface: spec.mesh.interfaceName,
                meshCidr: spec.mesh.cidr,
                clusterCidr: spec.k3s.clusterCidr,
                serviceCidr: spec.k3s.serviceCidr,
                sshPort: host.spec.sshPort,
                isHub: host.roles.includes("hub"),
                meshListenPort: spec.mesh.kind === "zerotier" ? zerotierPort : spec.mesh.listenPort,
                isEdge: host.roles.includes("edge"),
                extraTcpPorts: host.spec.publicTcpPorts,
            });
            this.steps.set(host.name, new HostFiles(`${host.name}-firewall`, {
                host,
                files: [
                    { path: rulesetPath, mode: "0644", content: ruleset },
                    { path: `/etc/systemd/system/${firewallUnitName}`, mode: "0644", content: renderFirewallUnit() },
                ],
                apply: [
                    installPackages({ apt: ["nftables"], dnf: ["nftables"] }, "nft"),
                    // Check before loading: a ruleset that does not parse must never replace a working one.
                    `nft -c -f ${rulesetPath}`,
                    "systemctl daemon-reload",
                    `systemctl enable ${firewallUnitName} >/dev/null`,
                    `if hk3s_changed ${rulesetPath} || ! systemctl is-active --quiet ${firewallUnitName}; then systemctl restart ${firewallUnitName}; fi`,
                ].join("\n"),
                after: args.after(host.name),
            }, { parent: this }));
        }
        this.registerOutputs({});
    }

    /** The step that closes this host's cluster ports; nothing cluster-facing starts before it. */
    loaded(host: string): pulumi.Resource {
        const step = this.steps.get(host);
        if (!step) throw new Error(`HostFirewall: no ruleset for ${host}`);
        return step;
    }
}

/** ZeroTier's UDP port: peers must reach it for direct paths. */
export const zerotierPort = 9993;
