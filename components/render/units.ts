// Small systemd units of our own (k3s units live in render/k3s/).
import { firewallRulesetPath } from "../paths";
import { nftTableName } from "./nftables";

/**
 * Loads our ruleset at boot, before the network and the mesh come up, on every distro (Debian's
 * nftables.service and RHEL's read different files; ours reads the one we ship, and stopping it
 * removes only our table).
 */
export function renderFirewallUnit(): string {
    return [
        "[Unit]",
        `Description=hybrid-k3s host firewall (nftables table ${nftTableName})`,
        "Documentation=man:nft(8)",
        "DefaultDependencies=no",
        "Wants=network-pre.target",
        "Before=network-pre.target shutdown.target",
        "Conflicts=shutdown.target",
        "",
        "[Service]",
        "Type=oneshot",
        "RemainAfterExit=yes",
        `ExecStart=/usr/sbin/nft -f ${firewallRulesetPath}`,
        `ExecReload=/usr/sbin/nft -f ${firewallRulesetPath}`,
        "",
        "[Install]",
        "WantedBy=sysinit.target",
        "",
    ].join("\n");
}
