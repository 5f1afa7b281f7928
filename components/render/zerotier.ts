// ZeroTier files and steps: pure renderers, no Pulumi.
import { zerotierInterfaceName as zerotierInterface } from "../paths";

/**
 * local.conf: without the blacklist ZeroTier binds to flannel's and the CNI's interfaces and loops
 * pod traffic into the mesh (seed 002's "cryptomining" lockup, ZeroTierOne#779 and #1423).
 */
export function renderZerotierLocalConf(): string {
    return JSON.stringify({ settings: { interfacePrefixBlacklist: ["flannel", "cni"] } }, null, 2) + "\n";
}

/** devicemap: network id → interface name. */
export function renderZerotierDeviceMap(networkId: string): string {
    checkNetworkId(networkId);
    return `${networkId}=${zerotierInterface}\n`;
}

/** Joins the network and prints the member id (the authorization step reads it from stdout). */
export function zerotierJoinScript(networkId: string): string {
    checkNetworkId(networkId);
    return [
        "if ! command -v zerotier-cli >/dev/null 2>&1; then",
        "  # ZeroTier's own package repository (not in Debian or Fedora).",
        "  curl -fsSL https://install.zerotier.com | bash",
        "fi",
        "systemctl enable zerotier-one >/dev/null",
        "if hk3s_changed /var/lib/zerotier-one/local.conf || hk3s_changed /var/lib/zerotier-one/devicemap; then systemctl restart zerotier-one; else systemctl start zerotier-one; fi",
        `zerotier-cli join ${networkId} >/dev/null`,
        `echo "hybrid-k3s: zerotier member $(zerotier-cli info | cut -d' ' -f3)"`,
    ].join("\n");
}

/** Waits until the member has its assigned mesh address (after Central authorized it). */
export function zerotierWaitScript(meshAddress: string): string {
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(meshAddress)) throw new Error(`zerotier: "${meshAddress}" is not an IPv4 address`);
    return [
        "i=0",
        `until ip -4 addr show dev ${zerotierInterface} 2>/dev/null | grep -q 'inet ${meshAddress}/'; do`,
        "  i=$((i + 1))",
        `  if [ "$i" -gt 120 ]; then echo "hybrid-k3s: ${zerotierInterface} never got ${meshAddress}; is the member authorized?" >&2; exit 1; fi`,
        "  sleep 2",
        "done",
    ].join("\n");
}

/** The member id out of the join step's stdout. */
export function memberIdFromJoinOutput(stdout: string): string {
    const match = /hybrid-k3s: zerotier member ([0-9a-f]{10})/.exec(stdout);
    if (!match) throw new Error("zerotier: the join step printed no member id");
    return match[1];
}

/**
 * A shell step for the machine running Pulumi: authorizes a member and pins its address through
 * ZeroTier Central. The API token arrives on stdin as a header line, never on the command line.
 */
export function centralAuthorizeScript(networkId: string, memberId: string, meshAddress: string, name: string): string {
    checkNetworkId(networkId);
    if (!/^[0-9a-f]{10}$/.test(memberId)) throw new Error(`zerotier: "${memberId}" is not a member id`);
    const body = JSON.stringify({ name, config: { authorized: true, ipAssignments: [meshAddress] } });
    return `curl -fsS -X POST -H @- -H 'Content-Type: application/json' --data '${body}' https://api.zerotier.com/api/v1/network/${networkId}/member/${memberId} >/dev/null`;
}

function checkNetworkId(networkId: string): void {
    if (!/^[0-9a-f]{16}$/.test(networkId)) throw new Error(`zerotier: network id "${networkId}" must be 16 hex digits`);
}
