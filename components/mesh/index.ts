// The private mesh: every host gets a mesh address that k3s binds to. Two kinds share one
// interface, so k3s, the firewall and the edge never ask which one a stack chose.
import * as pulumi from "@pulumi/pulumi";
import { MeshKind } from "../config";

export interface Mesh {
    kind: MeshKind;
    /** Interface k3s and flannel bind to, and the firewall trusts. */
    interfaceName: string;
    /** systemd unit k3s must start after. */
    unitName: string;
    /** The step that puts this host on the mesh; everything that talks over the mesh waits for it. */
    joined(host: string): pulumi.Resource;
    /**
     * Shell that takes a leaving host off the mesh. It runs last and may cut the very SSH session
     * it arrived on, so it schedules the change a few seconds out and returns at once.
     */
    leaveScript: string;
    /** How each operator (laptop, CI runner) joins, secret where it holds a key. */
    operatorConfigs: pulumi.Output<Record<string, string>>;
    /** One-time setup the owner of each existing host runs on it before it is enrolled. */
    bootstrapScripts: pulumi.Output<Record<string, string>>;
}

export { WireGuardMesh } from "./wireguard";
export { ZeroTierMesh } from "./zerotier";
