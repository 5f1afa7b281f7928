// HostFirewall: our nftables ruleset on every host, loaded now and at every boot, before the mesh
// and k3s start. Cloud security groups are the outer wall; this one also guards existing hosts.
import * as pulumi from "@pulumi/pulumi";
import { ClusterSpec } from "./config";
import { Host } from "./host";
import { HostFiles } from "./hostfiles";
import { firewallRulesetPath, firewallUnitName } from "./paths";
import { httpPort, httpsPort, zerotierPort } from "./ports";
import {
    dockerDropInPath,
    otherFirewallsScriptPath,
    PreflightFacts,
    renderDockerDropIn,
    renderFirewallPreflight,
    renderOtherFirewallsScript,
} from "./render/preflight";
import { nftTableName, renderNftRuleset } from "./render/nftables";
import { installPackages } from "./render/hostsetup";
import { renderFirewallUnit } from "./render/units";

export interface HostFirewallArgs {
    spec: Pick<ClusterSpec, "mesh" | "k3s">;
    hosts: Host[];
    /** Per host: steps that must finish first (the mesh, which hosts behind NAT are reached through). */
    after: (host: string) => pulumi.Resource[];
}

/** One host's ruleset as plain inputs, so the policy pack can prove no API port is open (policy/). */
export class HostRuleset extends pulumi.ComponentResource {
    constructor(name: string, args: { host: string; meshInterface: string; meshCidr: string; ruleset: string }, opts?: pulumi.ComponentResourceOptions) {
        super("hybrid-k3s:firewall:HostRuleset", name, args, opts);
        this.registerOutputs({});
    }
}

/** Removes our table, unit and ruleset, and our rules in other firewalls, and nothing else (the decommission teardown runs it). */
export const firewallTeardown = [
    `if [ -f ${otherFirewallsScriptPath} ]; then sh ${otherFirewallsScriptPath} remove; fi`,
    `rm -f ${otherFirewallsScriptPath} ${dockerDropInPath}`,
    `systemctl disable --now ${firewallUnitName} 2>/dev/null || true`,
    `nft delete table inet ${nftTableName} 2>/dev/null || true`,
    `rm -f ${firewallRulesetPath} /etc/systemd/system/${firewallUnitName}`,
    "systemctl daemon-reload",
].join("\n");

export class HostFirewall extends pulumi.ComponentResource {
    private readonly steps = new Map<string, HostFiles>();

    constructor(name: string, args: HostFirewallArgs, opts?: pulumi.ComponentResourceOptions) {
        super("hybrid-k3s:firewall:HostFirewall", name, { hosts: args.hosts.map((h) => h.name) }, opts);
        const { spec } = args;
        const zerotier = spec.mesh.kind === "zerotier";
        for (const host of args.hosts) {
            const acceptMeshPort = zerotier || host.roles.includes("hub");
            const meshListenPort = zerotier ? zerotierPort : spec.mesh.listenPort;
            const isEdge = host.roles.includes("edge");
            const ruleset = renderNftRuleset({
                hostName: host.name,
                meshInterface: spec.mesh.interfaceName,
                meshCidr: spec.mesh.cidr,
                clusterCidr: spec.k3s.clusterCidr,
                serviceCidr: spec.k3s.serviceCidr,
                sshPort: host.spec.sshPort,
                isHub: host.roles.includes("hub"),
                meshListenPort,
                acceptMeshPort,
                isEdge,
                extraTcpPorts: host.spec.publicTcpPorts,
                lanRoutes: host.spec.routes,
                extraUdpPorts: host.spec.publicUdpPorts,
            });
            new HostRuleset(
                `${host.name}-ruleset`,
                { host: host.name, meshInterface: spec.mesh.interfaceName, meshCidr: spec.mesh.cidr, ruleset },
                { parent: this },
            );
            // An existing host runs things of its own: what listens and which other firewalls are there
            // is checked first, and Docker's and firewalld's rules learn about the mesh.
            const existing = host.spec.provider === "existing";
            const preflight: PreflightFacts = {
                nodeName: host.name,
                meshInterface: spec.mesh.interfaceName,
                meshAddress: host.meshAddress,
                clusterCidr: spec.k3s.clusterCidr,
                serviceCidr: spec.k3s.serviceCidr,
                isHub: host.roles.includes("hub"),
                openTcpPorts: [host.spec.sshPort, ...(isEdge ? [httpPort, httpsPort] : []), ...host.spec.publicTcpPorts],
                openUdpPorts: [...(acceptMeshPort ? [meshListenPort] : []), ...host.spec.publicUdpPorts],
                isEdge,
                edgeFallback: host.spec.edgeFallback,
            };
            this.steps.set(
                host.name,
                new HostFiles(
                    `${host.name}-firewall`,
                    {
                        host,
                        prepare: [
                            installPackages({ apt: ["nftables"], dnf: ["nftables"] }, "nft"),
                            ...(existing ? [renderFirewallPreflight(preflight)] : []),
                        ].join("\n"),
                        files: [
                            ...(existing
                                ? [
                                      { path: otherFirewallsScriptPath, mode: "0755", content: renderOtherFirewallsScript(preflight) },
                                      { path: dockerDropInPath, mode: "0644", content: renderDockerDropIn() },
                                  ]
                                : []),
                            // Checked before it replaces anything: a ruleset that does not parse never replaces a working one.
                            { path: firewallRulesetPath, mode: "0644", content: ruleset, check: 'nft -c -f "$1"' },
                            { path: `/etc/systemd/system/${firewallUnitName}`, mode: "0644", content: renderFirewallUnit() },
                        ],
                        apply: [
                            "systemctl daemon-reload",
                            `systemctl enable ${firewallUnitName} >/dev/null`,
                            `if hk3s_changed ${firewallRulesetPath} || ! systemctl is-active --quiet ${firewallUnitName}; then systemctl restart ${firewallUnitName}; fi`,
                            ...(existing ? [`sh ${otherFirewallsScriptPath} add`] : []),
                        ].join("\n"),
                        remove: firewallTeardown,
                        after: args.after(host.name),
                    },
                    { parent: this },
                ),
            );
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
