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
