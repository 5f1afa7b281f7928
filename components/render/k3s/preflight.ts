// The k3s step's prepare (POSIX sh, before any file of the step is written): a k3s this project did
// not install is refused unless the node says adopt, and a host that is about to get its first k3s is
// checked for what k3s needs, so it fails in seconds with the fix instead of after the install's
// 5-minute wait. ROOT prefixes every path and commands come from PATH, as in the install script.
import { configDir, k3sBinaryPath, k3sDataDir, k3sUnitName, k3sVersionPath } from "../../paths";
import { K3sNodeFacts, validateFacts } from "./facts";
import { olderThanFunction } from "./install";

/** Images and containerd's snapshots of a small node; k3s's docs ask for "at least" a few GB. */
export const k3sMinimumFreeMiB = 2048;
/** Where k3s keeps its data (k3sDataDir's parent, the directory that exists first). */
const rancherDir = "/var/lib/rancher";
/** Machines k3s publishes binaries for (github.com/k3s-io/k3s releases: k3s, k3s-arm64, k3s-armhf). */
const k3sMachines = ["x86_64", "aarch64", "armv7l"];

export function renderK3sPreflight(f: K3sNodeFacts): string {
    validateFacts(f);
    const field = `nodes[${f.nodeName}].adopt`;
    const units = ["server", "agent"].map((role) => `"$ROOT/etc/systemd/system/${k3sUnitName(role as "server" | "agent")}"`).join(" ");
    return `# k3s preflight on ${f.nodeName}: what is already here, and what k3s needs.
${olderThanFunction}
hk3s_k3s_fail() {
  echo "hybrid-k3s: ${f.nodeName}: $*" >&2
  exit 1
}
hk3s_k3s_preflight() {
  hk3s_bin="$ROOT${k3sBinaryPath}"
  # Ours: the version file only this project writes (${configDir}). Anything else k3s-shaped is not.
  if [ ! -f "$ROOT${k3sVersionPath}" ]; then
    hk3s_found=""
    [ ! -e "$hk3s_bin" ] || hk3s_found="${k3sBinaryPath}"
    for hk3s_unit in ${units}; do
      [ ! -f "$hk3s_unit" ] || hk3s_found="\${hk3s_found:+$hk3s_found, }\${hk3s_unit#"$ROOT"}"
    done
    if [ -n "$hk3s_found" ]; then
      hk3s_running=$("$hk3s_bin" --version 2>/dev/null | awk 'NR == 1 { print $3 }') || true
      ${
          f.adopt
              ? `if [ -n "$hk3s_running" ] && older_than '${f.version}' "$hk3s_running"; then
        hk3s_k3s_fail "k3s $hk3s_running runs here, newer than k3sVersion ${f.version}, and k3s does not support downgrades; set k3sVersion to $hk3s_running or newer"
      fi
      echo "hybrid-k3s: ${f.nodeName}: adopting the k3s already here (\${hk3s_running:-unknown version}: $hk3s_found); its data in ${k3sDataDir} and its token stay"
      return 0`
              : `hk3s_k3s_fail "a k3s this project did not install is here (\${hk3s_running:-unknown version}: $hk3s_found); set ${field}: true to take it over (its data in ${k3sDataDir} and its token stay), or remove it first (k3s-uninstall.sh)"`
      }
    fi
  fi
  # Checked before the first install only: a running node needs nothing new.
  [ ! -e "$hk3s_bin" ] || return 0
  hk3s_machine=$(uname -m)
  case "$hk3s_machine" in
    ${k3sMachines.join(" | ")}) ;;
    *) hk3s_k3s_fail "this is a $hk3s_machine machine; k3s runs on ${k3sMachines.join(", ")} only" ;;
  esac
  [ -d "$ROOT/run/systemd/system" ] || hk3s_k3s_fail "systemd is not running here (no /run/systemd/system); k3s runs as a systemd unit, so use a systemd distribution"
  # The memory controller: cgroup v2 lists it in cgroup.controllers, v1 marks it enabled in /proc/cgroups.
  if [ -f "$ROOT/sys/fs/cgroup/cgroup.controllers" ]; then
    grep -qw memory "$ROOT/sys/fs/cgroup/cgroup.controllers" && hk3s_memory=1 || hk3s_memory=0
  else
    awk '$1 == "memory" && $4 == 1 { found = 1 } END { exit !found }' "$ROOT/proc/cgroups" 2>/dev/null && hk3s_memory=1 || hk3s_memory=0
  fi
  if [ "$hk3s_memory" -ne 1 ]; then
    hk3s_k3s_fail "the kernel runs without the memory cgroup, so k3s would never start; on a Raspberry Pi add cgroup_memory=1 cgroup_enable=memory to the one line of /boot/firmware/cmdline.txt (/boot/cmdline.txt on older images), elsewhere to the kernel command line (GRUB_CMDLINE_LINUX), then reboot"
  fi
  hk3s_dir="$ROOT${rancherDir}"
  while [ ! -d "$hk3s_dir" ]; do hk3s_dir=$(dirname "$hk3s_dir"); done
  hk3s_free=$(df -Pk "$hk3s_dir" | awk 'NR == 2 { print int($4 / 1024) }')
  if [ "\${hk3s_free:-0}" -lt ${k3sMinimumFreeMiB} ]; then
    hk3s_k3s_fail "only \${hk3s_free:-0} MiB free for ${rancherDir} (on \${hk3s_dir#"$ROOT"}); k3s needs at least ${k3sMinimumFreeMiB} MiB for its images and containers: free some space or grow the disk"
  fi
}
hk3s_k3s_preflight`;
}
