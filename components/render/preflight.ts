// What an existing host already runs, checked before our first ruleset cuts it off, and the other
// firewalls on it (Docker, firewalld, ufw) told about the mesh. Pure renderers: facts in, shell out.
// ROOT prefixes every path and every command comes from PATH, so tests run these against a scratch
// directory with command shims.
import { interfaceNamePattern } from "../patterns";
import { firewallRulesetPath, libDir, zerotierInterfaceName } from "../paths";
import { httpPort, httpsPort, meshOnlyPorts, PortProtocol } from "../ports";
import { parseCidr, parseIpv4 } from "../net";

export interface PreflightFacts {
    /** The node's name, as the stack config spells it (messages name nodes[<name>].<field>). */
    nodeName: string;
    meshInterface: string;
    meshAddress: string;
    clusterCidr: string;
    serviceCidr: string;
    isHub: boolean;
    /** What the ruleset accepts from outside the mesh, by protocol (SSH, mesh port, 80/443 on edges, public ports). */
    openTcpPorts: number[];
    openUdpPorts: number[];
    /** Edge hosts: the proxy takes 80 and 443, so nothing else may listen there. */
    isEdge: boolean;
    /** The node's edgeFallback, when it has one: where the owner's web server moves. */
    edgeFallback?: { http: string; https: string };
}

/** Installed on existing hosts: the firewall step runs it after every load, Docker after every start, the teardown once. */
export const otherFirewallsScriptPath = `${libDir}/other-firewalls.sh`;
/** A drop-in for Docker's unit: a file of ours beside the owner's unit, never an edit of it. */
export const dockerDropInPath = "/etc/systemd/system/docker.service.d/50-hybrid-k3s.conf";

/**
 * UDP ports a listener may hold without being reachable through the ruleset: DHCP clients
 * (dhclient, systemd-networkd) read their replies from a packet socket, before netfilter.
 */
const udpSeenBeforeFirewall = [68];

function checkFacts(f: PreflightFacts): void {
    if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(f.nodeName)) throw new Error(`preflight: node name "${f.nodeName}" is not a DNS label`);
    if (!interfaceNamePattern.test(f.meshInterface)) throw new Error(`preflight ${f.nodeName}: "${f.meshInterface}" is not an interface name`);
    if (!parseIpv4(f.meshAddress)) throw new Error(`preflight ${f.nodeName}: mesh address "${f.meshAddress}" is not an IPv4 address`);
    for (const cidr of [f.clusterCidr, f.serviceCidr]) if (!parseCidr(cidr)) throw new Error(`preflight ${f.nodeName}: "${cidr}" is not a CIDR`);
    for (const port of [...f.openTcpPorts, ...f.openUdpPorts]) {
        if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`preflight ${f.nodeName}: ${port} is not a port`);
    }
    for (const address of Object.values(f.edgeFallback ?? {})) {
        if (!/^[A-Za-z0-9.:[\]-]+$/.test(address)) throw new Error(`preflight ${f.nodeName}: edgeFallback "${address}" is not host:port`);
    }
}

/** " 22 80 443 " for awk's index(): a port is listed when " <port> " occurs. */
const portList = (ports: number[]) => ` ${[...new Set(ports)].sort((a, b) => a - b).join(" ")} `;

const meshOnlyList = (protocol: PortProtocol) =>
    meshOnlyPorts
        .filter((p) => p.protocol === protocol)
        .map((p) => `${p.from}-${p.to}`)
        .join(" ");

/**
 * Shell for the firewall step's prepare: `hk3s_preflight` (before our first ruleset only: our
 * ruleset file does not exist yet) and `hk3s_ufw` (every run). Every refusal is one line on stderr naming the port, the process and the field to set.
 */
export function renderFirewallPreflight(f: PreflightFacts): string {
    checkFacts(f);
    const field = (name: string) => `nodes[${f.nodeName}].${name}`;
    const mesh = f.meshInterface;
    const fallback = f.edgeFallback;
    const edgeFix = fallback
        ? `move it to its edgeFallback (http ${fallback.http}, https ${fallback.https}) first: the edge proxy takes ${httpPort} and ${httpsPort} and passes it every name that is not a cluster app`
        : `move that web server to other ports (e.g. 127.0.0.1:8080 and 127.0.0.1:8443) and set ${field("edgeFallback")}: { http: \\"127.0.0.1:8080\\", https: \\"127.0.0.1:8443\\" }, so the edge proxy passes it every name that is not a cluster app`;
    // ufw rules the mesh needs; `ufw status` prints each as matched below.
    const ufwRules = [
        { command: `ufw allow in on ${mesh}`, shows: `on ${mesh}[[:space:]]+ALLOW IN` },
        { command: `ufw allow from ${f.clusterCidr}`, shows: `ALLOW IN[[:space:]]+${f.clusterCidr.replace(/\./g, "\\.")}` },
        ...(f.isHub ? [{ command: `ufw route allow in on ${mesh} out on ${mesh}`, shows: `on ${mesh}[[:space:]]+ALLOW FWD` }] : []),
        ...f.openUdpPorts.map((port) => ({ command: `ufw allow ${port}/udp`, shows: `^${port}(/udp)?[[:space:]]+ALLOW IN` })),
        ...f.openTcpPorts.map((port) => ({ command: `ufw allow ${port}/tcp`, shows: `^${port}(/tcp)?[[:space:]]+ALLOW IN` })),
    ];
    return `# hk3s_preflight: before our first ruleset, every listener it would cut off from the internet must
# be one the config declares (a mail server or resolver nobody declared would silently go dark).
hk3s_preflight() {
  [ ! -f "$ROOT${firewallRulesetPath}" ] || return 0
  command -v ss >/dev/null 2>&1 || { echo "hybrid-k3s: ${f.nodeName}: ss is missing; install iproute2 (it lists what this host serves)" >&2; exit 1; }
  # Local address is field 5 ("0.0.0.0:25", "[::]:53", "127.0.0.53%lo:53"), the process the last one.
  # Skipped: loopback and mesh binds, sockets without a process (the kernel's: WireGuard, VXLAN),
  # what the ruleset accepts anyway, k3s ports, which are meant to be mesh only, and the mesh's own
  # sockets: a spoke's WireGuard port (random, only answers what it sent) when wg-quick runs the
  # userspace wireguard-go, as it does where the kernel has no WireGuard module (wg-quick(8)); and
  # zerotier-one's ports besides 9993 on a ZeroTier host.
  hk3s_mesh_port=$(wg show ${mesh} listen-port 2>/dev/null || true)
  hk3s_listeners=$(ss -Hltnup | awk -v mesh_addr='${f.meshAddress}' -v mesh_if='${mesh}' -v mesh_port="$hk3s_mesh_port" -v zerotier='${mesh === zerotierInterfaceName ? 1 : 0}' \\
      -v open_tcp='${portList(f.openTcpPorts)}' -v open_udp='${portList([...f.openUdpPorts, ...udpSeenBeforeFirewall])}' \\
      -v only_tcp='${meshOnlyList("tcp")}' -v only_udp='${meshOnlyList("udp")}' -v edge='${f.isEdge ? 1 : 0}' '
    function mesh_only(proto, port,   n, i, r, range) {
      n = split(proto == "tcp" ? only_tcp : only_udp, range, " ")
      for (i = 1; i <= n; i++) { split(range[i], r, "-"); if (port + 0 >= r[1] + 0 && port + 0 <= r[2] + 0) return 1 }
      return 0
    }
    {
      proto = $1; local = $5; proc = ""
      if (match($0, /users:\\(\\("[^"]*"/)) proc = substr($0, RSTART + 9, RLENGTH - 10)
      port = local; sub(/.*:/, "", port)
      addr = local; sub(/:[^:]*$/, "", addr); gsub(/[][]/, "", addr)
      iface = ""; if (index(addr, "%")) { iface = addr; sub(/.*%/, "", iface); sub(/%.*/, "", addr) }
      if (proc == "" || iface == "lo" || iface == mesh_if || addr ~ /^127\\./ || addr == "::1" || addr == mesh_addr) next
      if ((proto == "udp" && port == mesh_port) || (zerotier && proc == "zerotier-one")) next
      if (edge && proto == "tcp" && (port == ${httpPort} || port == ${httpsPort})) { print "edge " proto " " port " " proc " " addr; next }
      if (index(proto == "tcp" ? open_tcp : open_udp, " " port " ") || mesh_only(proto, port)) next
      print "cut " proto " " port " " proc " " addr
    }' | sort -u -k2,2 -k3,3n)
  hk3s_cut=$(printf '%s\\n' "$hk3s_listeners" | awk '$1 == "cut" { printf "%s%s %s (%s on %s)", sep, $2, $3, $4, $5; sep = ", " }')
  if [ -n "$hk3s_cut" ]; then
    hk3s_tcp=$(printf '%s\\n' "$hk3s_listeners" | awk '$1 == "cut" && $2 == "tcp" { printf "%s%s", sep, $3; sep = ", " }')
    hk3s_udp=$(printf '%s\\n' "$hk3s_listeners" | awk '$1 == "cut" && $2 == "udp" { printf "%s%s", sep, $3; sep = ", " }')
    hk3s_fields=""
    [ -z "$hk3s_tcp" ] || hk3s_fields="${field("publicTcpPorts")} [$hk3s_tcp]"
    [ -z "$hk3s_udp" ] || hk3s_fields="\${hk3s_fields:+$hk3s_fields and }${field("publicUdpPorts")} [$hk3s_udp]"
    echo "hybrid-k3s: ${f.nodeName}: the firewall would cut $hk3s_cut off from the internet; add $hk3s_fields if the internet uses it, or bind it to 127.0.0.1 or ${f.meshAddress}" >&2
    exit 1
  fi
  hk3s_web=$(printf '%s\\n' "$hk3s_listeners" | awk '$1 == "edge" { printf "%s%s %s (%s)", sep, $2, $3, $4; sep = ", " }')
  if [ -n "$hk3s_web" ]; then
    echo "hybrid-k3s: ${f.nodeName}: $hk3s_web already serve the internet on this edge; ${edgeFix}" >&2
    exit 1
  fi
}

# hk3s_ufw: ufw is refused with the commands to run rather than edited: its rules are one numbered
# list its owner edits by number and \`ufw reset\` wipes, so rules we inserted would shift those
# numbers or vanish without a word. Checked on every run (ufw may be enabled later).
hk3s_ufw() {
  if command -v ufw >/dev/null 2>&1 && ufw status verbose | grep -q "^Status: active"; then
    hk3s_ufw_rules=$(ufw status verbose)
    hk3s_missing=""
${ufwRules.map((r) => `    printf '%s\\n' "$hk3s_ufw_rules" | grep -Eq '${r.shows}' || hk3s_missing="\${hk3s_missing:+$hk3s_missing && }${r.command}"`).join("\n")}
    if [ -n "$hk3s_missing" ]; then
      echo "hybrid-k3s: ${f.nodeName}: ufw is active and would drop the mesh; run: $hk3s_missing (or ufw disable: the hybrid-k3s table guards this host)" >&2
      exit 1
    fi
  fi
}
hk3s_preflight
hk3s_ufw`;
}

/**
 * POSIX sh, `other-firewalls.sh add|remove [all|docker]`, run by the firewall step's apply (add), by
 * Docker's drop-in after each Docker start (add docker) and by the teardown (remove): the mesh's
 * accepts in the other firewalls on the host, each added once; remove takes exactly those out.
 *
 * A second firewall drops what ours accepts (every base chain on a hook must accept a packet):
 * - Docker: its FORWARD policy is drop; DOCKER-USER is the chain Docker keeps for the owner's rules,
 *   evaluated before its own (docs.docker.com/engine/network/firewall-iptables), which Docker creates
 *   when missing and never flushes. The hub's spoke-to-spoke traffic and the mesh's traffic to pods
 *   are accepted there.
 * - firewalld: zones are additive by design, and k3s's docs open it the same way (docs.k3s.io,
 *   "Requirements", firewalld): the mesh interface and the pod and service ranges join the trusted
 *   zone, the public ports the default zone, permanent and at once.
 * - ufw: refused in prepare instead (hk3s_ufw, see there).
 */
export function renderOtherFirewallsScript(f: PreflightFacts): string {
    checkFacts(f);
    const mesh = f.meshInterface;
    const dockerRules = [...(f.isHub ? [`-i ${mesh} -o ${mesh}`] : []), `-i ${mesh} -d ${f.clusterCidr}`, `-s ${f.clusterCidr}`].map(
        (match) => `${match} -m comment --comment hybrid-k3s -j ACCEPT`,
    );
    const firewalldChanges = [
        `--zone=trusted --\${change}-interface=${mesh}`,
        `--zone=trusted --\${change}-source=${f.clusterCidr}`,
        `--zone=trusted --\${change}-source=${f.serviceCidr}`,
        ...f.openTcpPorts.map((p) => `--\${change}-port=${p}/tcp`),
        ...f.openUdpPorts.map((p) => `--\${change}-port=${p}/udp`),
    ];
    return `#!/bin/sh
# The mesh's accepts in Docker's and firewalld's rules on ${f.nodeName}. Rendered by hybrid-k3s; safe to re-run.
# Usage: other-firewalls.sh add|remove [all|docker]
set -eu
mode="\${1:-add}"
which="\${2:-all}"
case "$mode" in add | remove) ;; *) echo "other-firewalls: unknown mode $mode" >&2; exit 1 ;; esac

docker_user() {
    # Docker creates the chain when it starts; at boot ours may run first, so create it if missing.
    iptables -n -L DOCKER-USER >/dev/null 2>&1 || iptables -N DOCKER-USER
    for rule in ${dockerRules.map((r) => `'${r}'`).join(" ")}; do
        # shellcheck disable=SC2086 # one iptables word per word
        if iptables -C DOCKER-USER $rule 2>/dev/null; then
            [ "$mode" = add ] || iptables -D DOCKER-USER $rule
        elif [ "$mode" = add ]; then
            iptables -I DOCKER-USER $rule
        fi
    done
}

firewalld() {
    change=$mode
    for args in ${firewalldChanges.map((c) => `"${c}"`).join(" ")}; do
        # shellcheck disable=SC2086 # zone and change, one word each
        firewall-cmd --permanent $args >/dev/null
    done
    firewall-cmd --reload >/dev/null
    echo "hybrid-k3s: firewalld: ${mesh} and the cluster ranges $([ "$mode" = add ] && echo trusted || echo untrusted again), the public ports $([ "$mode" = add ] && echo open || echo closed again)"
}

if command -v iptables >/dev/null 2>&1 && { [ "$which" = docker ] || iptables -n -L DOCKER-USER >/dev/null 2>&1; }; then
    docker_user
fi
if [ "$which" = all ] && command -v firewall-cmd >/dev/null 2>&1 && systemctl is-active --quiet firewalld; then
    firewalld
fi
`;
}

/** Docker runs our script after each start: it rebuilds its chains then. */
export function renderDockerDropIn(): string {
    return [
        "# hybrid-k3s: the mesh's accepts in DOCKER-USER after every Docker start.",
        "[Service]",
        `ExecStartPost=/bin/sh ${otherFirewallsScriptPath} add docker`,
        "",
    ].join("\n");
}
