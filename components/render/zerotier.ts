// ZeroTier files and steps: pure renderers, no Pulumi.
import { dirname } from "path/posix";
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

/**
 * ZeroTier's signing key, "ZeroTier, Inc. (ZeroTier Support and Release Signing Key)
 * <contact@zerotier.com>": the key ZeroTier's own installer embeds (github zerotier/install.zerotier.com,
 * install.sh.in) and publishes as github zerotier/ZeroTierOne doc/contact@zerotier.com.gpg; its
 * fingerprint was read with `gpg --show-keys` from that file.
 */
export const zerotierSigningKeyFingerprint = "74A5E9C458E1A431F1DA57A71657198823E52A61";
export const zerotierSigningKeyUrl = "https://raw.githubusercontent.com/zerotier/ZeroTierOne/master/doc/contact%40zerotier.com.gpg";
/** The package repositories install.sh.in configures (ZT_BASE_URL): debian/<codename>, redhat/fc/<release>, redhat/el/<release>. */
export const zerotierPackageBaseUrl = "https://download.zerotier.com";
export const zerotierAptKeyring = "/usr/share/keyrings/zerotier-archive-keyring.gpg";
export const zerotierAptSource = "/etc/apt/sources.list.d/zerotier.list";
export const zerotierRpmKey = "/etc/pki/rpm-gpg/RPM-GPG-KEY-zerotier";
export const zerotierDnfRepo = "/etc/yum.repos.d/zerotier.repo";

/**
 * Installs zerotier-one from ZeroTier's signed package repository, not a piped script: the key is
 * downloaded, refused unless it is exactly one key with the pinned fingerprint, and only then
 * trusted, for this repository alone (apt signed-by; dnf gpgcheck with this key).
 */
export function zerotierInstallScript(): string {
    const refuse = (why: string) => [`    echo "hybrid-k3s: ${why}" >&2`, '    rm -rf "$zt_tmp"', "    exit 1"];
    return [
        "if ! command -v zerotier-cli >/dev/null 2>&1; then",
        "  # A field of /etc/os-release, read rather than sourced.",
        `  zt_os() { sed -n "s/^$1=//p" "$ROOT/etc/os-release" | tr -d '"'; }`,
        "  zt_tmp=$(mktemp -d)",
        `  curl -fsSL --proto '=https' -o "$zt_tmp/key.asc" ${zerotierSigningKeyUrl}`,
        "  # Checked before anything trusts it: one primary key, and it is ZeroTier's.",
        '  zt_keys=$(GNUPGHOME="$zt_tmp" gpg --batch --show-keys --with-colons "$zt_tmp/key.asc" 2>/dev/null) || zt_keys=""',
        `  zt_primary=$(printf '%s\\n' "$zt_keys" | awk -F: '$1 == "pub" { n++ } $1 == "fpr" && !seen { print $10; seen = 1 } END { if (n != 1) print "not-exactly-one-key" }')`,
        `  if [ "$zt_primary" != "${zerotierSigningKeyFingerprint}" ]; then`,
        ...refuse(
            `the ZeroTier signing key from ${zerotierSigningKeyUrl} is not the pinned one (fingerprint ${zerotierSigningKeyFingerprint}; got $zt_primary); nothing was installed. Check the key on https://www.zerotier.com/download/ before changing the pin`,
        ),
        "  fi",
        "  if command -v apt-get >/dev/null 2>&1; then",
        "    zt_codename=$(zt_os VERSION_CODENAME)",
        '    if [ -z "$zt_codename" ]; then',
        ...refuse("/etc/os-release names no VERSION_CODENAME; install zerotier-one by hand").map((l) => "  " + l),
        "    fi",
        `    mkdir -p "$ROOT${dirname(zerotierAptKeyring)}" "$ROOT${dirname(zerotierAptSource)}"`,
        `    GNUPGHOME="$zt_tmp" gpg --batch --yes --dearmor -o "$ROOT${zerotierAptKeyring}" "$zt_tmp/key.asc"`,
        `    chmod 0644 "$ROOT${zerotierAptKeyring}"`,
        `    echo "deb [signed-by=${zerotierAptKeyring}] ${zerotierPackageBaseUrl}/debian/$zt_codename $zt_codename main" > "$ROOT${zerotierAptSource}"`,
        "    export DEBIAN_FRONTEND=noninteractive",
        "    apt-get update -qq",
        "    apt-get install -y -qq --no-install-recommends zerotier-one",
        "  elif command -v dnf >/dev/null 2>&1; then",
        '    if [ "$(zt_os ID)" = fedora ]; then zt_release="fc/$(zt_os VERSION_ID)"; else zt_release="el/$(zt_os VERSION_ID | cut -d. -f1)"; fi',
        `    mkdir -p "$ROOT${dirname(zerotierRpmKey)}" "$ROOT${dirname(zerotierDnfRepo)}"`,
        `    cp "$zt_tmp/key.asc" "$ROOT${zerotierRpmKey}"`,
        `    chmod 0644 "$ROOT${zerotierRpmKey}"`,
        `    printf '%s\\n' '[zerotier]' 'name=ZeroTier, Inc. RPM Release Repository' "baseurl=${zerotierPackageBaseUrl}/redhat/$zt_release" 'enabled=1' 'gpgcheck=1' 'gpgkey=file://${zerotierRpmKey}' > "$ROOT${zerotierDnfRepo}"`,
        `    rpm --import "$ROOT${zerotierRpmKey}"`,
        "    dnf install -y -q zerotier-one",
        "  else",
        ...refuse("no apt-get or dnf here; install zerotier-one from https://www.zerotier.com/download/ by hand"),
        "  fi",
        '  rm -rf "$zt_tmp"',
        "fi",
    ].join("\n");
}

/** Joins the network and prints the member id (the authorization step reads it from stdout). */
export function zerotierJoinScript(networkId: string): string {
    checkNetworkId(networkId);
    return [
        zerotierInstallScript(),
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

/** ZeroTier Central's API (docs.zerotier.com/openapi/central/v1.json: servers, "Authorization: token <t>"). */
export const zerotierCentralDefaultUrl = "https://api.zerotier.com";

/** A managed route the network must push to its members: the mesh itself (no via), or a LAN behind a member. */
export interface ZerotierRoute {
    target: string;
    via?: string;
}

export interface CentralAuthorizeFacts {
    /** Central's base URL (zerotierCentralUrl): api.zerotier.com, or a stand-in. */
    centralUrl: string;
    networkId: string;
    memberId: string;
    meshAddress: string;
    name: string;
    /** Routes the network must have; the first is the mesh CIDR. */
    routes: ZerotierRoute[];
    /** Add missing routes to the network (zerotierCreateRoutes), or fail naming them. */
    createRoutes: boolean;
}

/**
 * A shell step for the machine running Pulumi, against ZeroTier Central's API: checks that the
 * network pushes every route the cluster needs (GET /api/v1/network/{id}, config.routes; adds the
 * missing ones with POST /api/v1/network/{id} when allowed), then authorizes the member, pins its
 * address and names it (POST /api/v1/network/{id}/member/{memberId}). The API token arrives on
 * stdin as a header line and goes to curl through a 0600 file, never a command line; no answer of
 * Central's is echoed, so nothing it says can carry the token into a log.
 */
export function centralAuthorizeScript(f: CentralAuthorizeFacts): string {
    checkNetworkId(f.networkId);
    if (!/^[0-9a-f]{10}$/.test(f.memberId)) throw new Error(`zerotier: "${f.memberId}" is not a member id (10 hex digits)`);
    if (!/^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?(\/[A-Za-z0-9._~%/-]*)?$/.test(f.centralUrl)) throw new Error(`zerotier: "${f.centralUrl}" is not a URL`);
    if (!/^[A-Za-z0-9._-]{1,63}$/.test(f.name)) throw new Error(`zerotier: member name "${f.name}" must be letters, digits or ._-`);
    for (const address of [f.meshAddress, ...f.routes.flatMap((r) => [r.target.split("/")[0], ...(r.via ? [r.via] : [])])]) {
        if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(address)) throw new Error(`zerotier: "${address}" is not an IPv4 address`);
    }
    const base = f.centralUrl.replace(/\/+$/, "");
    const network = `${base}/api/v1/network/${f.networkId}`;
    const member = `${network}/member/${f.memberId}`;
    const memberBody = JSON.stringify({ name: f.name, config: { authorized: true, ipAssignments: [f.meshAddress] } });
    const routeJson = (r: ZerotierRoute) => JSON.stringify({ target: r.target, via: r.via ?? null });
    const routeText = (r: ZerotierRoute) => (r.via ? `${r.target} via ${r.via}` : r.target);
    return [
        "set -eu",
        "umask 077",
        "zt_dir=$(mktemp -d)",
        "trap 'rm -rf \"$zt_dir\"' EXIT",
        'cat > "$zt_dir/auth"',
        "# zt_call WHAT METHOD URL [BODY]: the answer in $zt_dir/answer; any failure stops the step with a message naming the fix.",
        "zt_call() {",
        '  if [ -n "${4:-}" ]; then',
        '    zt_code=$(curl -sS -o "$zt_dir/answer" -w "%{http_code}" -X "$2" -H @"$zt_dir/auth" -H "Content-Type: application/json" --data "$4" "$3" 2>"$zt_dir/curl-error") || zt_code=000',
        "  else",
        '    zt_code=$(curl -sS -o "$zt_dir/answer" -w "%{http_code}" -X "$2" -H @"$zt_dir/auth" "$3" 2>"$zt_dir/curl-error") || zt_code=000',
        "  fi",
        '  case "$zt_code" in',
        "    2??) return 0 ;;",
        `    000) echo "hybrid-k3s: could not reach ZeroTier Central at ${base} to $1; check zerotierCentralUrl and this machine's network" >&2 ;;`,
        `    401 | 403) echo "hybrid-k3s: ZeroTier Central refused the API token (HTTP $zt_code) to $1; create a token at my.zerotier.com (Account, API Access Tokens) and run pulumi config set --secret zerotierApiToken <token>" >&2 ;;`,
        `    404) echo "hybrid-k3s: ZeroTier Central has no network ${f.networkId} for this token (HTTP 404) to $1; check zerotierNetworkId, and that the token's account owns the network" >&2 ;;`,
        `    5??) echo "hybrid-k3s: ZeroTier Central failed (HTTP $zt_code) to $1; nothing was changed by this step, run pulumi up again later" >&2 ;;`,
        `    *) echo "hybrid-k3s: ZeroTier Central answered HTTP $zt_code to $1" >&2 ;;`,
        "  esac",
        "  exit 1",
        "}",
        `zt_call "read network ${f.networkId}" GET '${network}'`,
        "# config.routes as one line of JSON objects, one per line after the split (route objects hold no arrays).",
        `zt_routes=$(tr -d ' \\n\\t\\r' < "$zt_dir/answer" | sed -n 's/.*"routes":\\[\\([^]]*\\)\\].*/\\1/p')`,
        `zt_has_route() { printf '%s\\n' "$zt_routes" | sed 's/},{/}\\n{/g' | grep -F "\\"target\\":\\"$1\\"" | grep -qF "$2"; }`,
        'zt_missing=""',
        'zt_missing_text=""',
        ...f.routes.map(
            (r) =>
                `if ! zt_has_route '${r.target}' '${r.via ? `"via":"${r.via}"` : ""}'; then zt_missing="\${zt_missing:+$zt_missing,}"'${routeJson(r)}'; zt_missing_text="$zt_missing_text ${routeText(r).replace(/ /g, "_")}"; fi`,
        ),
        'if [ -n "$zt_missing" ]; then',
        ...(f.createRoutes
            ? [
                  `  zt_call "add the managed routes$(echo "$zt_missing_text" | tr _ ' ') to network ${f.networkId}" POST '${network}' "{\\"config\\":{\\"routes\\":[\${zt_routes:+$zt_routes,}$zt_missing]}}"`,
                  `  echo "hybrid-k3s: added managed routes to ZeroTier network ${f.networkId}:$(echo "$zt_missing_text" | tr _ ' ')"`,
              ]
            : [
                  `  echo "hybrid-k3s: ZeroTier network ${f.networkId} lacks the managed routes$(echo "$zt_missing_text" | tr _ ' '), without which members cannot reach each other; add them in ZeroTier Central (the network's Advanced, Managed Routes), or run pulumi config set zerotierCreateRoutes true to let this step add them" >&2`,
                  "  exit 1",
              ]),
        "fi",
        `zt_call "authorize ${f.name} (member ${f.memberId}) at ${f.meshAddress}" POST '${member}' '${memberBody}'`,
        `echo "hybrid-k3s: authorized ${f.name} (member ${f.memberId}) at ${f.meshAddress} on ZeroTier network ${f.networkId}"`,
    ].join("\n");
}

function checkNetworkId(networkId: string): void {
    if (!/^[0-9a-f]{16}$/.test(networkId)) throw new Error(`zerotier: network id "${networkId}" must be 16 hex digits`);
}
