// k3s on the private mesh: flags, systemd unit, install/uninstall scripts, node lifecycle commands
// and a kubeconfig that reaches the API over the mesh. Pure functions, no Pulumi.
// k3s's listeners and every address it advertises are the node's mesh address (--bind-address
// defaults to 0.0.0.0, and --node-ip does not choose flannel's interface); what k3s cannot pin, such
// as the kubelet's port, the host firewall closes. No secret is ever a command-line value: the token
// and the datastore endpoint live in 0600 files that k3s reads itself.
import { isIP } from "node:net";
import { isDnsSubdomain } from "../net";

export interface K3sNodeFacts {
    /** Kubernetes node name (RFC 1123 subdomain). */
    nodeName: string;
    role: "server" | "agent";
    /** The node's address on the mesh; every k3s listener and advertisement uses it. */
    meshAddress: string;
    /** wg0 or zt...: flannel's interface. */
    meshInterface: string;
    /** "wg-quick@wg0.service" or "zerotier-one.service": k3s starts after it and stops with it. */
    meshUnit: string;
    arch: "arm64" | "amd64";
    /** k3s release tag, e.g. v1.31.1+k3s1. */
    version: string;
    /** Agents and joining servers: https://10.0.0.4:6443. */
    serverUrl?: string;
    /** First of several embedded-etcd servers. */
    clusterInit?: boolean;
    clusterCidr: string;
    serviceCidr: string;
    /** Extra names or addresses for the API certificate; the mesh address is always included. */
    tlsSans: string[];
    flannelBackend: "wireguard-native" | "vxlan";
    /** External datastore: path of a 0600 k3s config file (see renderDatastoreConfig); never inline. */
    datastoreEndpointFile?: string;
    extraFlags: string[];
    nodeLabels?: string[];
    nodeTaints?: string[];
}

/** Where the file shipper puts the cluster token (mode 0600); k3s reads it through --token-file. */
export const K3S_TOKEN_FILE = "/etc/rancher/k3s/token";
const K3S_BINARY = "/usr/local/bin/k3s";
const K3S_RELEASES = "https://github.com/k3s-io/k3s/releases/download";
/** Long enough for pods with a graceful shutdown to move; a stuck drain then fails instead of hanging. */
const DRAIN_TIMEOUT = "300s";

// ---------------------------------------------------------------------------------------------
// Flags

/** Flags the renderer sets itself: a second value would rebind k3s off the mesh, bypass the token file or change the topology. */
const RENDERER_OWNED_FLAGS = new Set([
    "--node-name", "--node-ip", "--node-external-ip", "--advertise-address", "--bind-address",
    "--flannel-iface", "--flannel-backend", "--flannel-external-ip", "--cluster-cidr", "--service-cidr",
    "--server", "--cluster-init", "--token-file", "--config", "--data-dir", "--write-kubeconfig-mode",
]);
/** Names of settings whose value is a credential: on the command line it shows in `ps` and in the unit file. */
const SECRET_NAME = /token|secret|password|access-key|vpn-auth|datastore-endpoint/;
/** Flags that pass `key=value` straight to an embedded component. */
const COMPONENT_ARG_FLAG = /^--(kube-apiserver|kube-controller-manager|kube-scheduler|kube-cloud-controller-manager|kube-proxy|kubelet|etcd)-arg$/;
/** Component settings that choose where the component listens or what address it announces. */
const REBINDING_COMPONENT_ARG = /(^|-)(bind-)?address$|advertise-|^listen-|^node-ip$/;

/**
 * The k3s command-line flags for one node (after `server` / `agent`). Throws on facts that would
 * bind k3s off the mesh, put a secret on the command line or describe an impossible topology.
 */
export function k3sFlags(f: K3sNodeFacts): string[] {
    validateFacts(f);
    const mesh = f.meshAddress;
    const flags = [
        `--node-name=${f.nodeName}`,
        `--node-ip=${mesh}`,
        `--node-external-ip=${mesh}`,
        `--bind-address=${mesh}`,
        `--flannel-iface=${f.meshInterface}`,
        `--token-file=${K3S_TOKEN_FILE}`,
        ...(f.role === "server" ? serverFlags(f) : [`--server=${f.serverUrl}`]),
        ...(f.nodeLabels ?? []).map((label) => `--node-label=${label}`),
        ...(f.nodeTaints ?? []).map((taint) => `--node-taint=${taint}`),
        ...f.extraFlags,
    ];
    flags.forEach(assertUnitSafeFlag);
    return flags;
}

function serverFlags(f: K3sNodeFacts): string[] {
    const mesh = f.meshAddress;
    return [
        `--advertise-address=${mesh}`,
        `--flannel-backend=${f.flannelBackend}`,
        // Needs --node-external-ip (set above); flannel then uses the mesh address between nodes.
        "--flannel-external-ip",
        // Both grab host ports 80/443 that the edge proxy and Istio need.
        "--disable=traefik",
        "--disable=servicelb",
        ...[...new Set([mesh, ...f.tlsSans])].map((san) => `--tls-san=${san}`),
        `--cluster-cidr=${f.clusterCidr}`,
        `--service-cidr=${f.serviceCidr}`,
        // The kubeconfig holds cluster-admin credentials: root only.
        "--write-kubeconfig-mode=0600",
        ...(f.clusterInit ? ["--cluster-init"] : []),
        ...(f.serverUrl ? [`--server=${f.serverUrl}`] : []),
        ...(f.datastoreEndpointFile ? [`--config=${f.datastoreEndpointFile}`] : []),
    ];
}

/**
 * Content of the file at `datastoreEndpointFile`: a k3s config file (passed with --config) holding
 * only the endpoint, so credentials in it never reach a command line or an environment variable.
 * JSON string syntax is valid YAML, so any character in a password is quoted correctly.
 */
export function renderDatastoreConfig(endpoint: string): string {
    if (endpoint.trim() === "") fail("the datastore endpoint is empty");
    return `datastore-endpoint: ${JSON.stringify(endpoint)}\n`;
}

function validateFacts(f: K3sNodeFacts): void {
    assertDnsSubdomain("node name", f.nodeName);
    const who = `node ${f.nodeName}`;
    assertMeshAddress(`${who}: meshAddress`, f.meshAddress);
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(f.meshInterface)) fail(`${who}: meshInterface "${f.meshInterface}" is not a Linux interface name (1-15 of A-Z a-z 0-9 _ . -)`);
    if (!/^[A-Za-z0-9:_.@-]+\.service$/.test(f.meshUnit)) fail(`${who}: meshUnit "${f.meshUnit}" is not a systemd service name like wg-quick@wg0.service`);
    assertVersion(f.version);
    if (f.serverUrl !== undefined) assertServerUrl(`${who}: serverUrl`, f.serverUrl);
    if (f.datastoreEndpointFile !== undefined && !/^\/[A-Za-z0-9._/-]+\.yaml$/.test(f.datastoreEndpointFile)) {
        fail(`${who}: datastoreEndpointFile "${f.datastoreEndpointFile}" must be an absolute path to a .yaml k3s config file`);
    }
    if (f.role === "agent") {
        if (f.serverUrl === undefined) fail(`${who}: an agent needs serverUrl (https://<server mesh address>:6443)`);
        if (f.clusterInit || f.datastoreEndpointFile !== undefined) fail(`${who}: clusterInit and datastoreEndpointFile are server settings, not agent ones`);
    } else {
        assertCidr(`${who}: clusterCidr`, f.clusterCidr);
        assertCidr(`${who}: serviceCidr`, f.serviceCidr);
        f.tlsSans.forEach((san) => {
            if (isIP(san) === 0 && !isDnsSubdomain(san)) fail(`${who}: tlsSans entry "${san}" is neither an IP address nor a DNS name`);
        });
        if (f.clusterInit && f.serverUrl !== undefined) fail(`${who}: clusterInit starts a new etcd cluster, serverUrl joins one; set only one`);
        if (f.datastoreEndpointFile !== undefined && (f.clusterInit || f.serverUrl !== undefined)) {
            fail(`${who}: with an external datastore servers neither init nor join embedded etcd; drop clusterInit and serverUrl`);
        }
    }
    f.extraFlags.forEach((flag) => assertHarmlessExtraFlag(who, flag));
}

function assertHarmlessExtraFlag(who: string, flag: string): void {
    const match = /^(--[a-z0-9][a-z0-9-]*)(?:=(.*))?$/s.exec(flag);
    if (!match) fail(`${who}: extra flag "${flag}" must be written --name or --name=value (one array element per flag)`);
    const [, name, value = ""] = match;
    if (RENDERER_OWNED_FLAGS.has(name)) fail(`${who}: extra flag "${flag}" would override ${name}, which is set from the node facts (mesh binding, token file, topology)`);
    if (namesSecret(name) || /\/\/[^/\s@]+@/.test(value)) {
        fail(`${who}: extra flag "${flag}" would put a secret on the k3s command line (visible in ps and the unit); ship it in a 0600 file`);
    }
    if (COMPONENT_ARG_FLAG.test(name)) {
        const key = value.split("=")[0];
        if (REBINDING_COMPONENT_ARG.test(key)) fail(`${who}: extra flag "${flag}" rebinds ${name.slice(2, -4)} ${key} off the mesh address`);
        if (namesSecret(key)) fail(`${who}: extra flag "${flag}" would put a secret on the k3s command line; ship it in a 0600 file`);
    }
    if (/(^|[^0-9.])0\.0\.0\.0(?![0-9.])|\[::\]|(^|[=,])::($|[,/])/.test(value)) {
        fail(`${who}: extra flag "${flag}" names a wildcard address; k3s must stay on the mesh address`);
    }
}

/** A `...-file` setting holds a path to the secret, which is what we want. */
function namesSecret(name: string): boolean {
    return SECRET_NAME.test(name) && !name.endsWith("-file");
}

/** Each flag becomes one single-quoted ExecStart word, which systemd would still split, unescape or expand. */
function assertUnitSafeFlag(flag: string): void {
    if (!/^--[a-z0-9][a-z0-9-]*(=[^\s'"\\$%\x00-\x1f\x7f]*)?$/.test(flag)) {
        fail(`flag "${flag}" contains whitespace, a quote, a backslash, '$' or '%', which systemd would re-interpret in ExecStart`);
    }
}

// ---------------------------------------------------------------------------------------------
// systemd unit

function unitNameOf(role: K3sNodeFacts["role"]): string {
    return role === "server" ? "k3s.service" : "k3s-agent.service";
}

/** The unit k3s's own installer would write, bound to the mesh and started behind the host firewall. */
export function renderK3sUnit(f: K3sNodeFacts): { path: string; content: string } {
    const flags = k3sFlags(f);
    const execStart = [K3S_BINARY, f.role, ...flags.map((flag) => `'${flag}'`)].join(" \\\n    ");
    const content = `# Rendered by hybrid-k3s for ${f.nodeName}; shipped as a file, never written by k3s's installer.
[Unit]
Description=Lightweight Kubernetes (k3s ${f.role} on the ${f.meshInterface} mesh)
Documentation=https://k3s.io
Wants=network-online.target
# k3s binds to the mesh address, so the mesh must be up first, and k3s goes down with it.
# Requires= only works here, in [Unit]; systemd ignores it under [Install].
After=network-online.target ${f.meshUnit} nftables.service
Requires=${f.meshUnit}

[Install]
WantedBy=multi-user.target

[Service]
Type=notify
# For proxy settings only; the official installer's .service.env, which holds the token, is not read.
EnvironmentFile=-/etc/default/%N
EnvironmentFile=-/etc/sysconfig/%N
KillMode=process
Delegate=yes
# Having non-zero Limit*s causes performance problems due to accounting overhead
# in the kernel. We recommend using cgroups to do container-local accounting.
LimitNOFILE=1048576
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
TimeoutStartSec=0
Restart=always
RestartSec=5s
ExecStartPre=-/sbin/modprobe br_netfilter
ExecStartPre=-/sbin/modprobe overlay
# Load the host firewall before k3s opens any port; without it k3s does not start (fail closed).
ExecStartPre=/usr/sbin/nft -f /etc/nftables.conf
ExecStart=${execStart}
`;
    return { path: `/etc/systemd/system/${unitNameOf(f.role)}`, content };
}

// ---------------------------------------------------------------------------------------------
// Install and uninstall scripts

function uninstallScriptPathOf(role: K3sNodeFacts["role"]): string {
    return role === "server" ? "/usr/local/bin/k3s-uninstall.sh" : "/usr/local/bin/k3s-agent-uninstall.sh";
}

/**
 * POSIX sh that installs the pinned k3s release and (re)starts the unit; safe to re-run. The unit,
 * token and datastore config must already be in place (shipped as files). ROOT prefixes every path
 * and commands are looked up on PATH, so tests run it against a scratch directory with stubs.
 */
export function renderK3sInstallScript(f: K3sNodeFacts): string {
    validateFacts(f);
    const unitName = unitNameOf(f.role);
    const asset = f.arch === "arm64" ? "k3s-arm64" : "k3s";
    const fingerprintedFiles = ['"$bin"', '"$unit"', '"$token"', ...(f.datastoreEndpointFile ? ['"$datastore_config"'] : [])].join(" ");
    const waitForApi = f.role === "server"
        ? `wait_for "the API server to answer /readyz" "$bin" kubectl --kubeconfig "$ROOT/etc/rancher/k3s/k3s.yaml" get --raw /readyz\n`
        : "";
    return `#!/bin/sh
# Installs k3s (${f.role}) on ${f.nodeName}: the release K3S_VERSION names. Rendered by hybrid-k3s;
# safe to re-run. The version comes from the environment so this file stays the same across
# upgrades: the rolling upgrade step, not a changed file, decides when a node moves.
#
# Why not the official get.k3s.io script: it always rewrites the systemd unit and its .env file
# (INSTALL_K3S_SKIP_ENABLE/SKIP_START only skip enabling and starting), and the unit is ours,
# shipped separately and bound to the mesh. So this script fetches the pinned release binary,
# checks it against the release's sha256sum file, and installs our own uninstall script.
set -eu

ROOT="\${ROOT:-}"
READY_TIMEOUT_SECONDS="\${READY_TIMEOUT_SECONDS:-300}"

version="\${K3S_VERSION:-}"
case "$version" in
    v[0-9]*.[0-9]*.[0-9]*+k3s[0-9]*) ;;
    *) echo "install-k3s: K3S_VERSION='$version' is not a k3s release tag like v1.31.1+k3s1" >&2; exit 1 ;;
esac
arch='${f.arch}'
asset='${asset}'
# Release tags carry a '+', which the download URL spells %2B.
release_url="${K3S_RELEASES}/$(printf '%s' "$version" | sed 's/+/%2B/g')"
unit_name='${unitName}'

bin="$ROOT${K3S_BINARY}"
unit="$ROOT/etc/systemd/system/${unitName}"
token="$ROOT${K3S_TOKEN_FILE}"
${f.datastoreEndpointFile ? `datastore_config="$ROOT${f.datastoreEndpointFile}"\n` : ""}uninstall_script="$ROOT${uninstallScriptPathOf(f.role)}"
# Digest of what k3s read at its last successful (re)start.
applied="$ROOT/var/lib/hybrid-k3s/k3s.applied.sha256"

fail() {
    echo "k3s install on ${f.nodeName}: $*" >&2
    exit 1
}

check_arch() {
    machine=$(uname -m)
    case "$machine" in
        x86_64 | amd64) host_arch=amd64 ;;
        aarch64 | arm64) host_arch=arm64 ;;
        *) host_arch=unsupported ;;
    esac
    [ "$host_arch" = "$arch" ] || fail "this host is $machine but the stack config declares it $arch; fix the node's arch"
}

# "k3s version v1.31.1+k3s1 (452dbbc1)" -> v1.31.1+k3s1; empty when there is no binary yet.
installed_version() {
    if [ -x "$bin" ]; then
        "$bin" --version 2>/dev/null | awk 'NR == 1 { print $3 }'
    fi
}

install_binary() {
    download_dir=$(mktemp -d "$ROOT/usr/local/bin/.k3s-download.XXXXXX")
    trap 'rm -rf "$download_dir"' EXIT
    curl -fsSL --retry 3 -o "$download_dir/sha256sum.txt" "$release_url/sha256sum-$arch.txt"
    curl -fsSL --retry 3 -o "$download_dir/$asset" "$release_url/$asset"
    expected=$(awk -v asset="$asset" '$2 == asset || $2 == "*" asset { print $1 }' "$download_dir/sha256sum.txt")
    actual=$(sha256sum "$download_dir/$asset" | awk '{ print $1 }')
    [ -n "$expected" ] || fail "sha256sum-$arch.txt of $version lists no $asset"
    [ "$actual" = "$expected" ] || fail "checksum mismatch for $asset $version (expected $expected, got $actual); the installed binary was left alone"
    chmod 0755 "$download_dir/$asset"
    # Same directory as the target, so the rename is atomic: nobody ever runs half a binary.
    mv -f "$download_dir/$asset" "$bin"
}

install_uninstall_script() {
    cat > "$uninstall_script.new" <<'HYBRID_K3S_UNINSTALL'
${renderUninstallScript(f)}HYBRID_K3S_UNINSTALL
    chmod 0755 "$uninstall_script.new"
    mv -f "$uninstall_script.new" "$uninstall_script"
}

fingerprint() {
    sha256sum ${fingerprintedFiles} | sha256sum | awk '{ print $1 }'
}

# wait_for WHAT COMMAND...: retries COMMAND every 2 s until it succeeds or the timeout passes.
wait_for() {
    what=$1
    shift
    attempts=$((READY_TIMEOUT_SECONDS / 2))
    until "$@" > /dev/null 2>&1; do
        attempts=$((attempts - 1))
        [ "$attempts" -gt 0 ] || fail "timed out after \${READY_TIMEOUT_SECONDS}s waiting for $what; see journalctl -u $unit_name"
        sleep 2
    done
}

check_arch
[ -f "$unit" ] || fail "$unit is missing; ship the unit before running this script"
[ -s "$token" ] || fail "$token is missing or empty; ship the token before running this script"
chmod 0600 "$token"
${f.datastoreEndpointFile ? `[ -s "$datastore_config" ] || fail "$datastore_config is missing or empty; ship the datastore config first"\nchmod 0600 "$datastore_config"\n` : ""}mkdir -p "$ROOT/usr/local/bin" "$(dirname "$applied")"

current=$(installed_version)
if [ "$current" = "$version" ]; then
    echo "k3s $version is already installed"
else
    echo "installing k3s $version (found: \${current:-none})"
    install_binary
fi
install_uninstall_script

systemctl daemon-reload
systemctl enable "$unit_name"
if [ -f "$applied" ] && [ "$(cat "$applied")" = "$(fingerprint)" ]; then
    # Nothing k3s reads changed: only make sure it runs (after a reboot or a manual stop).
    systemctl start --no-block "$unit_name"
else
    echo "binary, unit or token changed: restarting $unit_name"
    systemctl restart --no-block "$unit_name"
fi
# --no-block and a bounded wait: with TimeoutStartSec=0 a blocking restart could wait forever.
wait_for "$unit_name to become active" systemctl is-active --quiet "$unit_name"
${waitForApi}# Recorded only after success, so a failed run restarts again next time.
fingerprint > "$applied.new"
chmod 0600 "$applied.new"
mv -f "$applied.new" "$applied"
`;
}

/**
 * POSIX sh that removes k3s from a node (drain and delete it from a server first); safe to re-run.
 * Does what k3s-killall.sh does (pods outlive the unit: KillMode=process), then removes the binary,
 * unit, /etc/rancher and /var/lib/rancher state. ROOT prefixes every path, as in the install script.
 */
export function renderUninstallScript(f: K3sNodeFacts): string {
    validateFacts(f);
    const unitName = unitNameOf(f.role);
    return `#!/bin/sh
# Removes k3s (${f.role}) from ${f.nodeName}. Rendered by hybrid-k3s; safe to re-run.
set -eu

ROOT="\${ROOT:-}"
unit_name='${unitName}'
unit="$ROOT/etc/systemd/system/${unitName}"
data_dir="$ROOT/var/lib/rancher/k3s"

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

rm -rf "$ROOT/etc/rancher/k3s" "$ROOT/etc/rancher/node" "$data_dir" "$ROOT/var/lib/kubelet" \\
    "$ROOT/var/lib/cni" "$ROOT/run/k3s" "$ROOT/run/flannel"
rm -f "$unit" "$ROOT${K3S_BINARY}" "$ROOT${uninstallScriptPathOf(f.role)}" "$ROOT/var/lib/hybrid-k3s/k3s.applied.sha256"
systemctl daemon-reload
`;
}

// ---------------------------------------------------------------------------------------------
// Node lifecycle commands, run on a server

/** Drains a node; a node that is already gone counts as drained (removal may be re-run). */
export function drainCommand(nodeName: string): string {
    const node = nodeArg(nodeName);
    // --ignore-not-found prints nothing for a missing node but still fails when the API is down,
    // so an unreachable cluster is never mistaken for a node that is gone.
    return `present=$(k3s kubectl get node ${node} --ignore-not-found -o name) && ` +
        `{ [ -z "$present" ] || k3s kubectl drain ${node} --ignore-daemonsets --delete-emptydir-data --timeout=${DRAIN_TIMEOUT}; }`;
}

export function uncordonCommand(nodeName: string): string {
    return `k3s kubectl uncordon ${nodeArg(nodeName)}`;
}

/** Deletes a node object; a node that is already gone is fine (removal may be re-run). */
export function deleteNodeCommand(nodeName: string): string {
    return `k3s kubectl delete node ${nodeArg(nodeName)} --ignore-not-found`;
}

/** Validated, then quoted anyway: the name ends up in a shell string. */
function nodeArg(nodeName: string): string {
    assertDnsSubdomain("node name", nodeName);
    return `'${nodeName}'`;
}

// ---------------------------------------------------------------------------------------------
// Kubeconfig

/**
 * Turns the kubeconfig k3s writes (/etc/rancher/k3s/k3s.yaml) into one for operators on the mesh:
 * the API at the server's mesh address, and cluster, context and user named after the cluster
 * instead of "default", so it can be merged with other kubeconfigs.
 */
export function kubeconfigForMesh(rawKubeconfig: string, serverMeshAddress: string, clusterName: string): string {
    assertMeshAddress("serverMeshAddress", serverMeshAddress);
    assertDnsSubdomain("cluster name", clusterName);
    const host = isIP(serverMeshAddress) === 6 ? `[${serverMeshAddress}]` : serverMeshAddress;
    const loopbackServer = /^(\s*server:\s*)https:\/\/127\.0\.0\.1:6443\s*$/m;
    if (!loopbackServer.test(rawKubeconfig)) fail("kubeconfig has no `server: https://127.0.0.1:6443` line; is it the one k3s wrote?");
    let renamed = 0;
    const rewritten = rawKubeconfig
        .replace(loopbackServer, `$1https://${host}:6443`)
        .replace(/^(\s*(?:-\s+)?(?:name|cluster|user|current-context):\s*)default\s*$/gm, (_line, key: string) => {
            renamed++;
            return `${key}${clusterName}`;
        });
    if (renamed === 0) fail('kubeconfig names no cluster, context or user "default"; is it the one k3s wrote?');
    return rewritten;
}

// ---------------------------------------------------------------------------------------------
// Validation helpers

function fail(message: string): never {
    throw new Error(`k3s: ${message}`);
}

function assertDnsSubdomain(what: string, name: string): void {
    if (!isDnsSubdomain(name)) {
        fail(`${what} ${JSON.stringify(name)} is not an RFC 1123 name (lowercase letters, digits, '-' and '.'; labels of at most 63)`);
    }
}

function assertMeshAddress(what: string, address: string): void {
    const family = isIP(address);
    if (family === 0) fail(`${what} "${address}" is not an IP address`);
    const wildcardOrLoopback = family === 4 ? /^(0\.0\.0\.0|127\.)/ : /^(::|::1|[0:]+)$/;
    if (wildcardOrLoopback.test(address)) fail(`${what} "${address}" is a wildcard or loopback address; use the node's mesh address`);
}

function assertServerUrl(what: string, url: string): void {
    const match = /^https:\/\/(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$/.exec(url);
    if (!match) fail(`${what} "${url}" must look like https://10.0.0.4:6443`);
    const host = match[1].replace(/^\[|\]$/g, "");
    if (isIP(host) !== 0) assertMeshAddress(what, host);
}

function assertVersion(version: string): void {
    if (!/^v[0-9]+\.[0-9]+\.[0-9]+(-rc[0-9]+)?\+k3s[0-9]+$/.test(version)) fail(`version "${version}" is not a k3s release tag like v1.31.1+k3s1`);
}

function assertCidr(what: string, cidrs: string): void {
    // Dual-stack clusters give one IPv4 and one IPv6 CIDR, comma-separated.
    for (const cidr of cidrs.split(",")) {
        const [address, prefix, ...rest] = cidr.split("/");
        const family = isIP(address);
        const maxPrefix = family === 4 ? 32 : 128;
        if (family === 0 || rest.length > 0 || !/^[0-9]{1,3}$/.test(prefix ?? "") || Number(prefix) > maxPrefix) {
            fail(`${what} "${cidrs}" is not a CIDR like 10.42.0.0/16`);
        }
    }
}
