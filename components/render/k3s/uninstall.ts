// The k3s uninstall script (POSIX sh, safe to re-run), shipped once beside the install script.
import { k3sBinaryPath, k3sDataDir, k3sInstallScriptPath, k3sUninstallScriptPath, k3sUnitName, k3sVersionPath, stateDir } from "../../paths";
import { K3sNodeFacts, validateFacts } from "./facts";

/**
 * POSIX sh that removes k3s from a node (drain and delete it from a server first); safe to re-run.
 * Does what k3s-killall.sh does (pods outlive the unit: KillMode=process), then removes the binary,
 * unit, config and tokens. The data directory (local-path volumes, images, an adopted cluster's
 * datastore) stays unless the node says purge. ROOT prefixes every path, as in the install script.
 */
export function renderUninstallScript(f: K3sNodeFacts): string {
    validateFacts(f);
    const unitName = k3sUnitName(f.role);
    return `#!/bin/sh
# Removes k3s (${f.role}) from ${f.nodeName}. Rendered by hybrid-k3s; safe to re-run.
set -eu

ROOT="\${ROOT:-}"
unit_name='${unitName}'
unit="$ROOT/etc/systemd/system/${unitName}"
data_dir="$ROOT${k3sDataDir}"

if [ -f "$unit" ]; then
    systemctl disable --now "$unit_name"
fi

# k3s ships its own iptables in the data dir; hosts that use nftables may have no other.
for dir in "$data_dir"/data/*/bin; do
    if [ -d "$dir" ]; then
        PATH="$PATH:$dir:$dir/aux"
    fi
done

# Prints the given pids and all their descendants.
process_tree() {
    for pid in "$@"; do
        echo "$pid"
        # shellcheck disable=SC2046 # one child pid per word
        process_tree $(ps -e -o ppid= -o pid= | awk -v parent="$pid" '$1 == parent { print $2 }')
    done
}

# Pods keep running after the unit stops (KillMode=process): kill their shims and containers.
shims=$(ps -e -o pid= -o args= | awk -v dir="$data_dir/data/" 'index($2, dir) == 1 && $2 ~ /containerd-shim/ { print $1 }')
if [ -n "$shims" ]; then
    # shellcheck disable=SC2046,SC2086 # one pid per word
    kill -9 $(process_tree $shims) 2> /dev/null || true
fi

# Unmount deepest first. A failed unmount stops the script: removing the tree below a mounted
# volume would delete the volume's data.
for prefix in "$ROOT/run/k3s" "$ROOT/var/lib/kubelet/pods" "$ROOT/var/lib/kubelet/plugins" "$ROOT/run/netns/cni-"; do
    awk -v prefix="$prefix" 'index($2, prefix) == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r mount_point; do
        umount -f "$mount_point"
    done
done

for netns in "$ROOT"/run/netns/cni-*; do
    if [ -e "$netns" ]; then
        ip netns delete "\${netns##*/}"
    fi
done
for link in cni0 flannel.1 flannel-v6.1 flannel-wg flannel-wg-v6 kube-ipvs0; do
    if ip link show "$link" > /dev/null 2>&1; then
        ip link delete "$link"
    fi
done

# Drop the rules kube-proxy, flannel and the CNI plugins left; the host firewall (nftables) stays.
for tables in iptables ip6tables; do
    if command -v "$tables-save" > /dev/null 2>&1; then
        "$tables-save" | grep -v -i -e KUBE- -e CNI- -e flannel | "$tables-restore"
    fi
done

rm -rf "$ROOT/etc/rancher/k3s" "$ROOT/etc/rancher/node" "$ROOT/var/lib/kubelet" \\
    "$ROOT/var/lib/cni" "$ROOT/run/k3s" "$ROOT/run/flannel"
${
    f.purge
        ? `# purge: the node's data goes too (volumes, images, datastore).
rm -rf "$data_dir"`
        : `# Kept: local-path volumes, images and (servers) the datastore. The node says purge to delete them.
if [ -d "$data_dir" ]; then
    echo "hybrid-k3s: kept $data_dir (volumes, images); set purge: true on the node to delete it"
fi`
}
rm -f "$unit" "$ROOT${k3sBinaryPath}" "$ROOT${k3sVersionPath}" "$ROOT${k3sInstallScriptPath}" "$ROOT${stateDir}/k3s.applied.sha256"
# This script last: it is the one running.
rm -f "$ROOT${k3sUninstallScriptPath}"
systemctl daemon-reload
`;
}
