// Installing and reloading the edge proxy on its host.
import { EdgeKind, edgeConfigPath } from "./plan";

interface EdgePackaging {
    service: string;
    aptPackages: string[];
    dnfPackages: string[];
    validate: string;
    /** Lets the proxy connect to NodePorts (30000-32767), which SELinux does not allow by default. */
    selinuxBoolean: string;
}

const packaging: Record<EdgeKind, EdgePackaging> = {
    haproxy: {
        service: "haproxy",
        aptPackages: ["haproxy"],
        dnfPackages: ["haproxy"],
        validate: 'haproxy -c -q -f "$config"',
        selinuxBoolean: "haproxy_connect_any",
    },
    nginx: {
        service: "nginx",
        aptPackages: ["nginx", "libnginx-mod-stream"],
        dnfPackages: ["nginx", "nginx-mod-stream"],
        validate: 'nginx -t -q -c "$config"',
        selinuxBoolean: "httpd_can_network_connect",
    },
};

/**
 * POSIX sh, run as root on the edge host after the config file is written: installs the proxy
 * (apt-get or dnf), validates the config, and only then enables and reloads (or starts) the
 * service, so a bad config fails the run while the running proxy keeps the last good one.
 * Idempotent: installed packages are not touched again.
 */
export function edgeInstallScript(kind: EdgeKind): string {
    const p = packaging[kind];
    return `#!/bin/sh
# Installs and reloads the ${kind} edge proxy (hybrid-k3s). Idempotent.
set -eu

config=${edgeConfigPath[kind]}
if [ "$(id -u)" -ne 0 ]; then
    echo "edge: must run as root" >&2
    exit 1
fi
if [ ! -s "$config" ]; then
    echo "edge: $config is missing; write it before running this script" >&2
    exit 1
fi

# Prints those of its arguments that dpkg does not have installed.
uninstalled_debs() {
    for package in "$@"; do
        dpkg-query -W -f '\${Status}' "$package" 2>/dev/null | grep -q "ok installed" || printf '%s ' "$package"
    done
}

if command -v apt-get >/dev/null 2>&1; then
    missing=$(uninstalled_debs ${p.aptPackages.join(" ")})
    if [ -n "$missing" ]; then
        # Debian's postinst scripts start the service with whatever config is on disk (nginx's even
        # before libnginx-mod-stream is set up, which fails the install), so service starts are denied
        # while apt runs (policy-rc.d, see invoke-rc.d(8)); the service is started below, once valid.
        policy=/usr/sbin/policy-rc.d
        if [ ! -e "$policy" ]; then
            trap 'rm -f "$policy"' EXIT
            trap 'exit 1' HUP INT TERM
            printf '#!/bin/sh\\nexit 101\\n' >"$policy"
            chmod 755 "$policy"
        fi
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        # confold keeps the config written before the package instead of asking about it.
        # shellcheck disable=SC2086 # $missing is a list of package names
        apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold $missing
    fi
elif command -v dnf >/dev/null 2>&1; then
    # RPM keeps an existing config (%config(noreplace)) and puts the packaged one beside it as .rpmnew.
    rpm -q ${p.dnfPackages.join(" ")} >/dev/null 2>&1 || dnf install -y -q ${p.dnfPackages.join(" ")}
    if command -v selinuxenabled >/dev/null 2>&1 && selinuxenabled; then
        setsebool -P ${p.selinuxBoolean} on
    fi
else
    echo "edge: neither apt-get nor dnf found" >&2
    exit 1
fi

${p.validate}
systemctl enable --quiet ${p.service}
systemctl reload-or-restart ${p.service}
`;
}
