// Shell snippets shared by apply steps and bootstrap scripts: installing packages with whichever
// manager the host has (the seeds run Debian, Ubuntu and a RHEL-family hub), authorizing our key.
import { unixUserPattern } from "../patterns";

export interface PackageNames {
    apt: string[];
    dnf: string[];
}

/** Installs the packages only when one is missing, so a re-run costs no package-manager call. */
export function installPackages(names: PackageNames, probeCommand: string): string {
    return [
        `if ! command -v ${probeCommand} >/dev/null 2>&1; then`,
        "  if command -v apt-get >/dev/null 2>&1; then",
        "    export DEBIAN_FRONTEND=noninteractive",
        "    apt-get update -qq",
        // A conffile we ship (haproxy.cfg, nginx.conf) must never stop the install at dpkg's prompt.
        `    apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold ${names.apt.join(" ")}`,
        "  elif command -v dnf >/dev/null 2>&1; then",
        `    dnf install -y -q ${names.dnf.join(" ")}`,
        "  else",
        `    echo "hybrid-k3s: no apt-get or dnf here; install ${names.apt.join(" ")} by hand" >&2`,
        "    exit 1",
        "  fi",
        "fi",
    ].join("\n");
}

/** Adds the cluster's SSH key to a user's authorized_keys once. */
export function authorizeKey(user: string, publicKey: string): string {
    if (!unixUserPattern.test(user)) throw new Error(`authorizeKey: "${user}" is not a login name`);
    if (!/^ssh-[a-z0-9-]+ [A-Za-z0-9+/=]+( [^'\n]*)?$/.test(publicKey.trim())) throw new Error("authorizeKey: not an SSH public key line");
    const home = user === "root" ? "/root" : `/home/${user}`;
    const line = publicKey.trim();
    return [
        `mkdir -p "$ROOT${home}/.ssh"`,
        `touch "$ROOT${home}/.ssh/authorized_keys"`,
        `grep -qxF '${line}' "$ROOT${home}/.ssh/authorized_keys" || echo '${line}' >> "$ROOT${home}/.ssh/authorized_keys"`,
        `chmod 700 "$ROOT${home}/.ssh" && chmod 600 "$ROOT${home}/.ssh/authorized_keys"`,
        user === "root" ? "" : `chown -R ${user}: "$ROOT${home}/.ssh"`,
    ]
        .filter(Boolean)
        .join("\n");
}
