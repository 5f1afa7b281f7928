// Small systemd units of our own (k3s units live in render/k3s.ts).

export const firewallUnitName = "hybrid-k3s-firewall.service";

/**
 * Loads /etc/nftables.conf at boot, before the network and the mesh come up, on every distro
 * (Debian's nftables.service and RHEL's read different files; ours reads the one we ship).
 */
export function renderFirewallUnit(): string {
    return [
        "[Unit]",
        "Description=hybrid-k3s host firewall (nftables table hybrid_k3s)",
        "Documentation=man:nft(8)",
        "DefaultDependencies=no",
        "Wants=network-pre.target",
        "Before=network-pre.target shutdown.target",
        "Conflicts=shutdown.target",
        "",
        "[Service]",
        "Type=oneshot",
        "RemainAfterExit=yes",
        "ExecStart=/usr/sbin/nft -f /etc/nftables.conf",
        "ExecReload=/usr/sbin/nft -f /etc/nftables.conf",
        "",
        "[Install]",
        "WantedBy=sysinit.target",
        "",
    ].join("\n");
}
