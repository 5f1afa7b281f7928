// WireGuard hub and spokes: the hub lists every peer; each spoke routes the mesh CIDR to the hub.
import * as pulumi from "@pulumi/pulumi";
import { ClusterSpec } from "../config";
import { Host } from "../host";
import { HostFiles } from "../hostfiles";
import { stateDir, wireguardConfigPath, wireguardUnitName } from "../paths";
import { renderBundle } from "../render/bundle";
import { authorizeKey, installPackages } from "../render/hostsetup";
import { renderHubConfig, renderSpokeConfig } from "../render/wireguard";
import { ClusterSecrets } from "../secrets";
import { Mesh } from ".";

export interface WireGuardMeshArgs {
    spec: Pick<ClusterSpec, "mesh" | "operators">;
    /** Every host, enrolled or not: the hub lists them all, so a bootstrapped spoke connects at once. */
    hosts: Host[];
    /** Hosts Pulumi can reach now (see the first up in cluster.ts); only they get a mesh step. */
    reachable: (host: Host) => boolean;
    secrets: ClusterSecrets;
}

export class WireGuardMesh extends pulumi.ComponentResource implements Mesh {
    readonly kind = "wireguard" as const;
    readonly interfaceName: string;
    readonly unitName: string;
    readonly leaveScript: string;
    /** wg-quick files for operators (laptops, CI runners), secret: they hold private keys. */
    readonly operatorConfigs: pulumi.Output<Record<string, string>>;
    /** One-time setup the owner of each existing host runs on it, secret: NAT hosts' hold their keys. */
    readonly bootstrapScripts: pulumi.Output<Record<string, string>>;
    private readonly steps = new Map<string, HostFiles>();

    constructor(name: string, args: WireGuardMeshArgs, opts?: pulumi.ComponentResourceOptions) {
        const { spec, hosts, secrets } = args;
        const hub = hosts.find((h) => h.roles.includes("hub"));
        if (!hub) throw new Error("WireGuardMesh: no host has role hub");
        super("hybrid-k3s:mesh:WireGuardMesh", name, { cidr: spec.mesh.cidr, hub: hub.name }, opts);
        const iface = spec.mesh.interfaceName;
        this.interfaceName = iface;
        this.unitName = wireguardUnitName(iface);
        const configPath = wireguardConfigPath(iface);
        this.leaveScript = `systemd-run --quiet --on-active=5 /bin/sh -c 'systemctl disable --now ${this.unitName}; rm -f ${configPath}'`;
        const key = (peer: string) => secrets.wireguard[peer];
        const endpoint = hub.publicAddress.apply((address) => `${address}:${spec.mesh.listenPort}`);
        // A LAN behind a node is reached through the hub, like the rest of the mesh; its gateway keeps it.
        const routesOf = (peer: string) => hosts.find((h) => h.name === peer)?.spec.routes ?? [];
        const routesBehindOthers = (peer: string) => hosts.filter((h) => h.name !== peer).flatMap((h) => h.spec.routes ?? []);
        const spokeConfig = (peer: string, meshAddress: string) =>
            pulumi.all([key(peer).privateKey, key(hub.name).publicKey, endpoint]).apply(([privateKey, hubPublicKey, hubEndpoint]) =>
                renderSpokeConfig({
                    name: peer,
                    privateKey,
                    meshAddress,
                    meshPrefix: spec.mesh.prefix,
                    mtu: spec.mesh.mtu,
                    meshCidr: spec.mesh.cidr,
                    hub: { name: hub.name, publicKey: hubPublicKey, endpoint: hubEndpoint },
                    routes: routesBehindOthers(peer),
                    ownRoutes: routesOf(peer),
                }),
            );
        const peers = [
            ...hosts.filter((h) => h !== hub).map((h) => ({ name: h.name, meshAddress: h.meshAddress })),
            ...spec.operators.map((o) => ({ name: o.name, meshAddress: o.meshAddress })),
        ];
        const hubConfig = pulumi.all([key(hub.name).privateKey, ...peers.map((p) => key(p.name).publicKey)]).apply(([privateKey, ...publicKeys]) =>
            renderHubConfig({
                name: hub.name,
                privateKey,
                meshAddress: hub.meshAddress,
                meshPrefix: spec.mesh.prefix,
                listenPort: spec.mesh.listenPort,
                mtu: spec.mesh.mtu,
                interfaceName: iface,
                peers: peers.map((p, i) => ({ ...p, publicKey: publicKeys[i], routes: routesOf(p.name) })),
            }),
        );
        const configOf = (host: Host) => (host === hub ? hubConfig : spokeConfig(host.name, host.meshAddress));
        const steps = { prepare: wireguardPrepare(iface), apply: wireguardApply(iface) };

        for (const host of [hub, ...hosts.filter((h) => h !== hub)].filter(args.reachable)) {
            // Hosts behind NAT are reached through the hub's mesh, so the hub must be up first.
            const after = host.spec.existing?.behindNat ? [this.steps.get(hub.name)!] : [];
            this.steps.set(
                host.name,
                new HostFiles(
                    `${host.name}-mesh`,
                    {
                        host,
                        files: [{ path: configPath, mode: "0600", content: configOf(host) }],
                        ...steps,
                        remove: `systemctl disable --now ${this.unitName}; rm -f ${configPath}`,
                        after,
                    },
                    { parent: this },
                ),
            );
        }

        this.operatorConfigs = pulumi.secret(pulumi.all(Object.fromEntries(spec.operators.map((o) => [o.name, spokeConfig(o.name, o.meshAddress)]))));
        const existing = hosts.filter((h) => h.spec.provider === "existing");
        this.bootstrapScripts = pulumi.secret(
            pulumi.all(
                Object.fromEntries(
                    existing.map((host) => [
                        host.name,
                        pulumi.all([configOf(host), secrets.sshPublicKey]).apply(([config, sshPublicKey]) => {
                            const behindNat = host.spec.existing?.behindNat ?? false;
                            // A NAT host brings its spoke up itself: Pulumi reaches it only over the mesh.
                            return renderBundle(
                                `bootstrap-${host.name}`,
                                `one-time bootstrap of ${host.name}: run it as root on the machine`,
                                behindNat ? [{ path: configPath, mode: "0600", content: config }] : [],
                                {
                                    prepare: behindNat ? steps.prepare : undefined,
                                    apply: [authorizeKey(host.spec.sshUser, sshPublicKey), behindNat ? steps.apply : ""].join("\n"),
                                },
                            );
                        }),
                    ]),
                ),
            ),
        );
        this.registerOutputs({ operatorConfigs: this.operatorConfigs, bootstrapScripts: this.bootstrapScripts });
    }

    joined(host: string): pulumi.Resource {
        const step = this.steps.get(host);
        if (!step) throw new Error(`WireGuardMesh: ${host} has no mesh step (not reachable yet?)`);
        return step;
    }
}

/** Installs wireguard-tools, and refuses an interface name someone else's config already uses. */
function wireguardPrepare(iface: string): string {
    const configPath = wireguardConfigPath(iface);
    return [
        installPackages({ apt: ["wireguard-tools"], dnf: ["wireguard-tools"] }, "wg-quick"),
        `if [ -f "$ROOT${configPath}" ] && ! grep -qxF ${configPath} "$ROOT${stateDir}/written" 2>/dev/null; then`,
        `  echo "hybrid-k3s: ${configPath} exists and is not ours: ${iface} is someone else's interface; set meshInterface to another name (e.g. wg-k3s)" >&2`,
        "  exit 1",
        "fi",
    ].join("\n");
}

/** Enables the interface, and applies a changed config without dropping tunnels. */
function wireguardApply(iface: string): string {
    const unit = wireguardUnitName(iface);
    return [
        `systemctl enable ${unit} >/dev/null`,
        `if systemctl is-active --quiet ${unit}; then`,
        // syncconf swaps peers in place; a restart would cut every SSH session riding the mesh.
        `  if hk3s_changed ${wireguardConfigPath(iface)}; then`,
        `    wg-quick strip ${iface} > /run/hk3s-${iface}.conf`,
        // wg quotes a line it cannot parse, and that line may be a key: keep its words out of the log.
        `    wg syncconf ${iface} /run/hk3s-${iface}.conf 2>/dev/null || { rm -f /run/hk3s-${iface}.conf; echo "hybrid-k3s: wg syncconf refused the new ${iface} config; run wg-quick strip ${iface} on the host to see why" >&2; exit 1; }`,
        `    rm -f /run/hk3s-${iface}.conf`,
        "  fi",
        "else",
        `  systemctl start ${unit}`,
        "fi",
    ].join("\n");
}
