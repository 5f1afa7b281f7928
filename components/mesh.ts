// The private mesh: every host gets a mesh address that k3s binds to. Two kinds share one interface,
// so k3s, the firewall and the edge never ask which one a stack chose.
import * as pulumi from "@pulumi/pulumi";
import { ClusterSpec, MeshKind } from "./config";
import { Host } from "./host";
import { HostFiles } from "./hostfiles";
import { authorizeKey, installPackages } from "./render/hostsetup";
import { renderBundle } from "./render/bundle";
import { renderHubConfig, renderSpokeConfig } from "./render/wireguard";
import { ClusterSecrets } from "./secrets";

export interface Mesh {
    kind: MeshKind;
    /** Interface k3s and flannel bind to. */
    interfaceName: string;
    /** systemd unit k3s must start after. */
    unitName: string;
    /** The step that puts this host on the mesh; everything that talks over the mesh waits for it. */
    joined(host: string): pulumi.Resource;
    /** How each operator (laptop, CI runner) joins, secret where it holds a key. */
    operatorConfigs: pulumi.Output<Record<string, string>>;
    /** One-time setup the owner of each existing host runs on it before `pulumi up`. */
    bootstrapScripts: pulumi.Output<Record<string, string>>;
}

export interface WireGuardMeshArgs {
    spec: ClusterSpec;
    hosts: Host[];
    secrets: ClusterSecrets;
}

const wireguardPackages = { apt: ["wireguard-tools"], dnf: ["wireguard-tools"] };

/** Seed 000's hub and spokes: the hub lists every peer; each spoke routes the mesh CIDR to the hub. */
export class WireGuardMesh extends pulumi.ComponentResource implements Mesh {
    readonly kind = "wireguard" as const;
    readonly interfaceName: string;
    readonly unitName: string;
    /** wg-quick files for operators (laptops, CI runners), secret: they hold private keys. */
    readonly operatorConfigs: pulumi.Output<Record<string, string>>;
    /** One-time setup the owner of each existing host runs on it before `pulumi up`, secret. */
    readonly bootstrapScripts: pulumi.Output<Record<string, string>>;
    private readonly steps = new Map<string, HostFiles>();

    constructor(name: string, args: WireGuardMeshArgs, opts?: pulumi.ComponentResourceOptions) {
        const { spec, hosts, secrets } = args;
        super("hybrid-k3s:mesh:WireGuardMesh", name, { cidr: spec.mesh.cidr, hub: hosts.find((h) => h.roles.includes("hub"))?.name }, opts);
        this.interfaceName = spec.mesh.interfaceName;
        this.unitName = `wg-quick@${this.interfaceName}.service`;
        const hub = hosts.find((h) => h.roles.includes("hub"));
        if (!hub) throw new Error("WireGuardMesh: no host has role hub");
        const configPath = `/etc/wireguard/${this.interfaceName}.conf`;
        const key = (peer: string) => secrets.wireguard[peer];
        const endpoint = hub.publicAddress.apply((address) => `${address}:${spec.mesh.listenPort}`);
        const spokeConfig = (peer: string, meshAddress: string) => pulumi.all([key(peer).privateKey, key(hub.name).publicKey, endpoint])
            .apply(([privateKey, hubPublicKey, hubEndpoint]) => renderSpokeConfig({
                name: peer, privateKey, meshAddress, meshPrefix: spec.mesh.prefix, mtu: spec.mesh.mtu, meshCidr: spec.mesh.cidr,
                hub: { name: hub.name, publicKey: hubPublicKey, endpoint: hubEndpoint },
            }));
        const peers = [
            ...hosts.filter((h) => h !== hub).map((h) => ({ name: h.name, meshAddress: h.meshAddress })),
            ...spec.operators.map((o) => ({ name: o.name, meshAddress: o.meshAddress })),
        ];
        const hubConfig = pulumi.all([key(hub.name).privateKey, ...peers.map((p) => key(p.name).publicKey)])
            .apply(([privateKey, ...publicKeys]) => renderHubConfig({
                name: hub.name, privateKey, meshAddress: hub.meshAddress, meshPrefix: spec.mesh.prefix,
                listenPort: spec.mesh.listenPort, mtu: spec.mesh.mtu, interfaceName: this.interfaceName,
                peers: peers.map((p, i) => ({ ...p, publicKey: publicKeys[i] })),
            }));
        const apply = wireguardApply(this.interfaceName);
        const configOf = (host: Host) => (host === hub ? hubConfig : spokeConfig(host.name, host.meshAddress));

        for (const host of [hub, ...hosts.filter((h) => h !== hub)]) {
            // Hosts behind NAT are reached through the hub's mesh, so the hub must be up first.
            const after = host.spec.existing?.behindNat ? [this.steps.get(hub.name)!] : [];
            this.steps.set(host.name, new HostFiles(`${host.name}-mesh`, {
                host, files: [{ path: configPath, mode: "0600", content: configOf(host) }], apply, after,
            }, { parent: this }));
        }

        this.operatorConfigs = pulumi.secret(pulumi.all(Object.fromEntries(
            spec.operators.map((o) => [o.name, spokeConfig(o.name, o.meshAddress)]))));
        const existing = hosts.filter((h) => h.spec.provider === "existing");
        this.bootstrapScripts = pulumi.secret(pulumi.all(Object.fromEntries(existing.map((host) => [host.name,
            pulumi.all([configOf(host), secrets.sshPublicKey]).apply(([config, sshPublicKey]) =>
                renderBundle(`one-time bootstrap of ${host.name}: run it as root on the machine`,
                    host.spec.existing?.behindNat ? [{ path: configPath, mode: "0600", content: config }] : [],
                    [authorizeKey(host.spec.sshUser, sshPublicKey), host.spec.existing?.behindNat ? apply : ""].join("\n"))),
        ]))));
        this.registerOutputs({ operatorConfigs: this.operatorConfigs, bootstrapScripts: this.bootstrapScripts });
    }

    joined(host: string): pulumi.Resource {
        const step = this.steps.get(host);
        if (!step) throw new Error(`WireGuardMesh: ${host} is not on the mesh`);
        return step;
    }
}

/** Installs wireguard-tools, enables the interface, and applies a changed config without dropping tunnels. */
function wireguardApply(iface: string): string {
    return [
        installPackages(wireguardPackages, "wg-quick"),
        `systemctl enable wg-quick@${iface} >/dev/null`,
        `if systemctl is-active --quiet wg-quick@${iface}; then`,
        // syncconf swaps peers in place; a restart would cut every SSH session riding the mesh.
        `  if hk3s_changed /etc/wireguard/${iface}.conf; then`,
        `    wg-quick strip ${iface} > /run/hk3s-${iface}.conf`,
        `    wg syncconf ${iface} /run/hk3s-${iface}.conf`,
        `    rm -f /run/hk3s-${iface}.conf`,
        "  fi",
        "else",
        `  systemctl start wg-quick@${iface}`,
        "fi",
    ].join("\n");
}
