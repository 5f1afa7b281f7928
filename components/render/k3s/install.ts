// The k3s install script (POSIX sh, safe to re-run). It installs the release named in the version
// file on a host that has none (a new host, or a replaced VM), and moves a running node to it only
// when called with `upgrade` (the rolling upgrade's step, after the drain). The unit, config.yaml
// and tokens are shipped as files beside it. ROOT prefixes every path and commands come from PATH,
// so tests run it against a scratch directory with stubs.
//
// Why not get.k3s.io: it always rewrites the systemd unit and its .env file (INSTALL_K3S_SKIP_ENABLE
// and SKIP_START only skip enabling and starting), and the unit is ours. So this script fetches the
// release binary and checks it against the release's sha256sum file.
import { k3sBinaryPath, k3sConfigPath, k3sDatastoreConfigPath, k3sKubeconfigPath, k3sServerCaPath, k3sUnitName, k3sVersionPath, stateDir } from "../../paths";
import { k3sVersionExample } from "../../patterns";
import { K3sNodeFacts, k3sTokenFiles, validateFacts } from "./facts";

/** Shell: `older_than A B` is true when release tag A is older than B (the preflight uses it too). */
export const olderThanFunction = `# Sorts two release tags as versions: true when $1 is older than $2.
older_than() {
    [ "$1" != "$2" ] && [ "$(printf '%s\\n%s\\n' "$1" "$2" | sed 's/^v//; s/+k3s/./' | sort -t. -k1,1n -k2,2n -k3,3n -k4,4n | head -n 1)" = "$(printf '%s' "$1" | sed 's/^v//; s/+k3s/./')" ]
}`;

/** What the server's install prints for the agents' tokens (read by the program from stdout). */
export const serverCaLinePrefix = "hybrid-k3s: server-ca sha256 ";

export function renderK3sInstallScript(f: K3sNodeFacts): string {
    validateFacts(f);
    const unitName = k3sUnitName(f.role);
    const asset = f.arch === "arm64" ? "k3s-arm64" : "k3s";
    const tokens = k3sTokenFiles(f);
    const inputs = [
        '"$bin"',
        '"$unit"',
        `"$ROOT${k3sConfigPath}"`,
        ...tokens.map((t) => `"$ROOT${t}"`),
        ...(f.externalDatastore ? [`"$ROOT${k3sDatastoreConfigPath}"`] : []),
    ];
    const serverReady =
        f.role === "server"
            ? `wait_for "the API server to answer /readyz" "$bin" kubectl --kubeconfig "$ROOT${k3sKubeconfigPath}" get --raw /readyz
# Agents pin this CA in their join token (K10<hash>::node:<password>).
echo "${serverCaLinePrefix}$(sha256sum "$ROOT${k3sServerCaPath}" | awk '{ print $1 }')"
`
            : "";
    return `#!/bin/sh
# Installs k3s (${f.role}) on ${f.nodeName}. Rendered by hybrid-k3s; safe to re-run.
# Usage: install-k3s.sh [install|upgrade]. install: a host without k3s gets the release in
# ${k3sVersionPath}; a running node keeps its release. upgrade: moves it to that release.
set -eu

ROOT="\${ROOT:-}"
READY_TIMEOUT_SECONDS="\${READY_TIMEOUT_SECONDS:-300}"
mode="\${1:-install}"
arch='${f.arch}'
asset='${asset}'
release_base='${f.releaseBaseUrl}'
unit_name='${unitName}'
bin="$ROOT${k3sBinaryPath}"
unit="$ROOT/etc/systemd/system/${unitName}"
# Digest of what k3s read at its last successful (re)start.
applied="$ROOT${stateDir}/k3s.applied.sha256"

fail() {
    echo "k3s install on ${f.nodeName}: $*" >&2
    exit 1
}

version=$(cat "$ROOT${k3sVersionPath}" 2>/dev/null) || fail "${k3sVersionPath} is missing; ship it before running this script"
case "$version" in
    v[0-9]*.[0-9]*.[0-9]*+k3s[0-9]*) ;;
    *) fail "${k3sVersionPath} says '$version', not a k3s release tag like ${k3sVersionExample}" ;;
esac
case "$mode" in
    install | upgrade) ;;
    *) fail "unknown mode '$mode' (install or upgrade)" ;;
esac

check_arch() {
    machine=$(uname -m)
    case "$machine" in
        x86_64 | amd64) host_arch=amd64 ;;
        aarch64 | arm64) host_arch=arm64 ;;
        *) host_arch=unsupported ;;
    esac
    [ "$host_arch" = "$arch" ] || fail "this host is $machine but the stack config declares it $arch; fix the node's arch"
}

# "k3s version v1.36.1+k3s1 (452dbbc1)" -> v1.36.1+k3s1; empty when there is no binary yet.
installed_version() {
    if [ -x "$bin" ]; then
        "$bin" --version 2>/dev/null | awk 'NR == 1 { print $3 }'
    fi
}

${olderThanFunction}

install_binary() {
    mkdir -p "$(dirname "$bin")"
    download_dir=$(mktemp -d "$(dirname "$bin")/.k3s-download.XXXXXX")
    trap 'rm -rf "$download_dir"' EXIT
    # Release tags carry a '+', which the download URL spells %2B.
    release_url="$release_base/$(printf '%s' "$version" | sed 's/+/%2B/g')"
    curl -fsSL --retry 3 -o "$download_dir/sha256sum.txt" "$release_url/sha256sum-$arch.txt" || fail "cannot download $release_url/sha256sum-$arch.txt"
    curl -fsSL --retry 3 -o "$download_dir/$asset" "$release_url/$asset" || fail "cannot download $release_url/$asset"
    expected=$(awk -v asset="$asset" '$2 == asset || $2 == "*" asset { print $1 }' "$download_dir/sha256sum.txt")
    actual=$(sha256sum "$download_dir/$asset" | awk '{ print $1 }')
    [ -n "$expected" ] || fail "sha256sum-$arch.txt of $version lists no $asset"
    [ "$actual" = "$expected" ] || fail "checksum mismatch for $asset $version (expected $expected, got $actual); the installed binary was left alone"
    chmod 0755 "$download_dir/$asset"
    # Same directory as the target, so the rename is atomic: nobody ever runs half a binary.
    mv -f "$download_dir/$asset" "$bin"
}

fingerprint() {
    sha256sum ${inputs.join(" ")} | sha256sum | awk '{ print $1 }'
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

need_token() {
    [ -s "$1" ] || fail "$1 is missing or empty; ship the tokens before running this script"
    chmod 0600 "$1"
}

check_arch
[ -f "$unit" ] || fail "$unit is missing; ship the unit before running this script"
${tokens.map((t) => `need_token "$ROOT${t}"`).join("\n")}
mkdir -p "$(dirname "$applied")"

current=$(installed_version)
if [ -z "$current" ]; then
    echo "installing k3s $version"
    install_binary
elif [ "$current" = "$version" ]; then
    echo "k3s $version is installed"
elif [ "$mode" = upgrade ]; then
    if older_than "$version" "$current"; then
        fail "k3s $current runs here and k3s does not support downgrades to $version; set k3sVersion to $current or newer"
    fi
    echo "upgrading k3s $current to $version"
    install_binary
else
    echo "k3s $current runs here; the rolling upgrade step moves it to $version"
fi

systemctl daemon-reload
systemctl enable "$unit_name"
if [ -f "$applied" ] && [ "$(cat "$applied")" = "$(fingerprint)" ]; then
    # Nothing k3s reads changed: only make sure it runs (after a reboot or a manual stop).
    systemctl start --no-block "$unit_name"
else
    echo "binary, unit, config or tokens changed: restarting $unit_name"
    systemctl restart --no-block "$unit_name"
fi
# --no-block and a bounded wait: with TimeoutStartSec=0 a blocking restart could wait forever.
wait_for "$unit_name to become active" systemctl is-active --quiet "$unit_name"
${serverReady}# Recorded only after success, so a failed run restarts again next time.
fingerprint > "$applied.new"
chmod 0600 "$applied.new"
mv -f "$applied.new" "$applied"
`;
}
