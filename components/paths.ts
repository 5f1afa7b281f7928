// Every path and unit name the program puts on a host, once. Renderers, apply steps, the uninstall
// script and the tests read them from here.

/** Our own directory for what no package owns: nothing else writes here. */
export const configDir = "/etc/hybrid-k3s";
/** Scripts we ship (install, uninstall). */
export const libDir = "/usr/local/lib/hybrid-k3s";
/** Run state: what a bundle changed (kept for the retry after a failed run), applied fingerprints, the lock. */
export const stateDir = "/var/lib/hybrid-k3s";
/** A leaving host's last cleanup, run from /run (our own directories are what it removes). */
export const leaveCleanupPath = "/run/hybrid-k3s-cleanup.sh";

/** Our nftables ruleset, in our own file: the distro's /etc/nftables.conf stays the owner's. */
export const firewallRulesetPath = `${configDir}/firewall.nft`;
export const firewallUnitName = "hybrid-k3s-firewall.service";

export const k3sBinaryPath = "/usr/local/bin/k3s";
/** k3s reads this file by default, then config.yaml.d/*.yaml in order (docs.k3s.io, "Configuration File"). */
export const k3sConfigPath = "/etc/rancher/k3s/config.yaml";
/** A drop-in for the external datastore endpoint, 0600 (it may hold a password). */
export const k3sDatastoreConfigPath = "/etc/rancher/k3s/config.yaml.d/50-datastore.yaml";
/** The server token (servers only) and the agent token (agents; servers hold it to accept them). */
export const k3sTokenPath = "/etc/rancher/k3s/token";
export const k3sAgentTokenPath = "/etc/rancher/k3s/agent-token";
/** The kubeconfig k3s writes on servers (--write-kubeconfig default). */
export const k3sKubeconfigPath = "/etc/rancher/k3s/k3s.yaml";
/** The CA k3s serves the API with; its hash pins the server in agents' tokens. */
export const k3sServerCaPath = "/var/lib/rancher/k3s/server/tls/server-ca.crt";
export const k3sDataDir = "/var/lib/rancher/k3s";
/** The server token k3s writes itself (docs.k3s.io/cli/token); an adopted server keeps reading it. */
export const k3sOwnServerTokenPath = `${k3sDataDir}/server/token`;
/** The release this node runs: the install installs it on a fresh host, the upgrade step moves a running one. */
export const k3sVersionPath = `${configDir}/k3s-version`;
export const k3sInstallScriptPath = `${libDir}/install-k3s.sh`;
export const k3sUninstallScriptPath = `${libDir}/uninstall-k3s.sh`;

export function k3sUnitName(role: "server" | "agent"): string {
    return role === "server" ? "k3s.service" : "k3s-agent.service";
}

export function wireguardConfigPath(interfaceName: string): string {
    return `/etc/wireguard/${interfaceName}.conf`;
}

export function wireguardUnitName(interfaceName: string): string {
    return `wg-quick@${interfaceName}.service`;
}

export const zerotierUnitName = "zerotier-one.service";
/** Pinned through ZeroTier's devicemap, so the firewall and k3s know it before the host joins. */
export const zerotierInterfaceName = "zt0";
export const zerotierHome = "/var/lib/zerotier-one";

/** Split DNS over the mesh (render/meshdns.ts): a oneshot bound to the mesh interface. */
export const meshDnsUnitName = "hybrid-k3s-mesh-dns.service";

/** A ZeroTier gateway to a LAN (node routes) forwards; a WireGuard one does it in its PostUp, as the hub does. */
export const gatewaySysctlPath = "/etc/sysctl.d/90-hybrid-k3s-gateway.conf";

export const haproxyConfigPath = "/etc/haproxy/haproxy.cfg";
export const nginxConfigPath = "/etc/nginx/nginx.conf";
