// MeshDns: split DNS over the mesh on every host (meshDns setting), once the host is on the mesh.
import * as pulumi from "@pulumi/pulumi";
import { MeshDnsSpec } from "./config";
import { Host } from "./host";
import { HostFiles } from "./hostfiles";
import { meshDnsUnitName } from "./paths";
import { meshDnsApply, renderMeshDnsUnit } from "./render/meshdns";

export interface MeshDnsArgs {
    meshDns: MeshDnsSpec;
    meshInterface: string;
    hosts: Host[];
    /** Per host: steps that must finish first (the mesh: the unit binds to its interface). */
    after: (host: string) => pulumi.Resource[];
}

export class MeshDns extends pulumi.ComponentResource {
    constructor(name: string, args: MeshDnsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("hybrid-k3s:meshdns:MeshDns", name, { ...args.meshDns, hosts: args.hosts.map((h) => h.name) }, opts);
        const unitPath = `/etc/systemd/system/${meshDnsUnitName}`;
        const unit = renderMeshDnsUnit({ meshInterface: args.meshInterface, ...args.meshDns });
        for (const host of args.hosts) {
            new HostFiles(
                `${host.name}-mesh-dns`,
                {
                    host,
                    files: [{ path: unitPath, mode: "0644", content: unit }],
                    apply: meshDnsApply(meshDnsUnitName, unitPath),
                    remove: `systemctl disable --now ${meshDnsUnitName}; rm -f ${unitPath}; systemctl daemon-reload`,
                    after: args.after(host.name),
                },
                { parent: this },
            );
        }
        this.registerOutputs({});
    }
}
