// Split DNS over the mesh: names under the mesh's domains resolve through DNS servers reached over the
// mesh interface, everything else as before. Applied per link with systemd-resolved (resolvectl).
//
// A oneshot unit bound to the interface's device unit, not a systemd-networkd drop-in: networkd does
// not manage wg0 or zt0 here (wg-quick and zerotier-one create them, and a .network file matching them
// would make networkd manage their addresses too), and per-link resolved settings vanish with the link.
// udev tags every network interface for systemd (systemd 99-systemd.rules: SUBSYSTEM=="net" ...
// SYSTEMD_ALIAS=/sys/subsystem/net/devices/$name), so sys-subsystem-net-devices-<iface>.device exists
// while the interface does (systemd.device(5)): WantedBy= it re-applies the settings whenever the mesh
// comes up (ZeroTier creates zt0 only once the member is authorized), and BindsTo= drops them with it.
import { interfaceNamePattern } from "../patterns";
import { isDnsSubdomain, parseIpv4 } from "../net";

export interface MeshDnsFacts {
    meshInterface: string;
    servers: string[];
    domains: string[];
}

export const resolvectlPath = "/usr/bin/resolvectl";

/** systemd's device unit for a network interface (systemd-escape of /sys/subsystem/net/devices/<iface>). */
export function interfaceDeviceUnit(iface: string): string {
    return `sys-subsystem-net-devices-${iface.replace(/-/g, "\\x2d")}.device`;
}

export function renderMeshDnsUnit(f: MeshDnsFacts): string {
    check(f);
    const device = interfaceDeviceUnit(f.meshInterface);
    return [
        "[Unit]",
        `Description=hybrid-k3s split DNS over ${f.meshInterface} (${f.domains.join(", ")})`,
        "Documentation=man:resolvectl(1) man:systemd-resolved.service(8)",
        `BindsTo=${device}`,
        `After=${device} systemd-resolved.service`,
        "",
        "[Service]",
        "Type=oneshot",
        "RemainAfterExit=yes",
        `ExecStart=${resolvectlPath} dns ${f.meshInterface} ${f.servers.join(" ")}`,
        // ~domain: a routing-only domain, queries under it go to this link's servers; no search suffix.
        `ExecStart=${resolvectlPath} domain ${f.meshInterface} ${f.domains.map((d) => `~${d}`).join(" ")}`,
        // Only those names: the host's other lookups keep their resolvers.
        `ExecStart=${resolvectlPath} default-route ${f.meshInterface} false`,
        `ExecStop=-${resolvectlPath} revert ${f.meshInterface}`,
        "",
        "[Install]",
        `WantedBy=${device}`,
        "",
    ].join("\n");
}

/** The apply step: refuses a host without systemd-resolved, then (re)starts the unit when it changed. */
export function meshDnsApply(unitName: string, unitPath: string): string {
    return [
        `if ! command -v resolvectl >/dev/null 2>&1 || ! systemctl is-active --quiet systemd-resolved; then`,
        '  echo "hybrid-k3s: meshDns needs systemd-resolved, which is not running here; install and start it (apt-get install systemd-resolved, or dnf install systemd-resolved; then systemctl enable --now systemd-resolved), or remove meshDns from the stack config" >&2',
        "  exit 1",
        "fi",
        "systemctl daemon-reload",
        `systemctl enable ${unitName} >/dev/null`,
        `if hk3s_changed ${unitPath} || ! systemctl is-active --quiet ${unitName}; then systemctl restart ${unitName}; fi`,
    ].join("\n");
}

function check(f: MeshDnsFacts): void {
    if (!interfaceNamePattern.test(f.meshInterface)) throw new Error(`meshDns: "${f.meshInterface}" is not an interface name`);
    if (f.servers.length === 0 || f.domains.length === 0) throw new Error("meshDns: needs at least one server and one domain");
    for (const s of f.servers) if (parseIpv4(s) === undefined) throw new Error(`meshDns: server "${s}" is not an IPv4 address`);
    for (const d of f.domains) if (!isDnsSubdomain(d)) throw new Error(`meshDns: "${d}" is not a DNS name`);
}
