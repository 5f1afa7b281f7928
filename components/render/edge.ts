// The public edge: a layer-4 proxy (HAProxy or NGINX) on a host with a public address that forwards
// TCP 80 and 443 over the mesh to the Istio gateway's NodePorts on the ingress nodes. It never
// terminates TLS: cert-manager issues the certificates and the Istio gateway serves them, so the edge
// holds no keys and needs no change when a hostname is added. Pure renderers: text in, text out.
import { isIP } from "node:net";

/** An ingress node as the edge reaches it. */
export interface EdgeBackend {
    name: string;
    meshAddress: string;
}

export interface EdgeFacts {
    edgeName: string;
    backends: EdgeBackend[];
    /** The Istio gateway's NodePorts on the ingress nodes, e.g. 30080 and 30443. */
    httpNodePort: number;
    httpsNodePort: number;
    /** Public ports on the edge host, normally 80 and 443. */
    listenHttp: number;
    listenHttps: number;
    /** How often a backend is probed (HAProxy) or how long a failed one rests (NGINX); default 5s. */
    healthCheckInterval?: string;
    /** HAProxy only: serves the stats page on 127.0.0.1:statsPort (reach it through an SSH tunnel). */
    statsPort?: number;
}

export type EdgeKind = "haproxy" | "nginx";

/** Where each proxy reads its configuration; the install script validates exactly this file. */
export const edgeConfigPath: Record<EdgeKind, string> = {
    haproxy: "/etc/haproxy/haproxy.cfg",
    nginx: "/etc/nginx/nginx.conf",
};

const defaultHealthCheckInterval = "5s";
/** Failed checks (HAProxy) or failed connects (NGINX) before a backend is taken out of rotation. */
const failuresBeforeDown = 3;
/**
 * A node without a gateway pod drops connections to the NodePort (externalTrafficPolicy Local), so
 * a connect attempt that has not succeeded by then is treated as failed rather than waited on.
 */
const connectTimeout = "3s";
/** Idle limit of an established connection in either proxy: long enough for WebSockets and gRPC streams. */
const idleTunnelTimeout = "1h";

/** Names land unquoted in both configs: letters, digits and ._- only. */
const plainName = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Also used by istio.ts. */
export function assertIntegerInRange(value: number, min: number, max: number, what: string): void {
    if (!Number.isInteger(value) || value < min || value > max) {
        throw new Error(`${what} must be an integer from ${min} to ${max}, got ${value}`);
    }
}

interface EdgeRoute {
    /** Names the frontend/backend (HAProxy) or upstream (NGINX). */
    name: "http" | "https";
    listenPort: number;
    nodePort: number;
}

/** Validated facts in the form both renderers use: backends sorted by name, one route per public port. */
interface EdgePlan {
    edgeName: string;
    backends: EdgeBackend[];
    routes: EdgeRoute[];
    healthCheckInterval: string;
    statsPort?: number;
}

function planEdge(f: EdgeFacts): EdgePlan {
    if (!plainName.test(f.edgeName)) {
        throw new Error(`edge name "${f.edgeName}" must use only letters, digits and ._-`);
    }
    if (f.backends.length === 0) throw new Error(`edge ${f.edgeName} has no ingress nodes to forward to`);
    const names = new Set<string>();
    for (const backend of f.backends) {
        if (!plainName.test(backend.name)) {
            throw new Error(`ingress node name "${backend.name}" must use only letters, digits and ._-`);
        }
        if (names.has(backend.name)) throw new Error(`ingress node "${backend.name}" is listed twice`);
        names.add(backend.name);
        // Only an IP literal: it lands unquoted too, and a DNS name would make the proxy depend on DNS.
        if (isIP(backend.meshAddress) === 0) {
            throw new Error(`ingress node ${backend.name}: mesh address "${backend.meshAddress}" is not an IP address`);
        }
    }
    for (const [what, port] of Object.entries({
        listenHttp: f.listenHttp,
        listenHttps: f.listenHttps,
        httpNodePort: f.httpNodePort,
        httpsNodePort: f.httpsNodePort,
    })) {
        assertIntegerInRange(port, 1, 65535, what);
    }
    if (f.listenHttp === f.listenHttps) throw new Error(`listenHttp and listenHttps are both ${f.listenHttp}`);
    if (f.httpNodePort === f.httpsNodePort) throw new Error(`httpNodePort and httpsNodePort are both ${f.httpNodePort}`);
    if (f.statsPort !== undefined) {
        assertIntegerInRange(f.statsPort, 1, 65535, "statsPort");
        if (f.statsPort === f.listenHttp || f.statsPort === f.listenHttps) {
            throw new Error(`statsPort ${f.statsPort} collides with a public listen port`);
        }
    }
    const healthCheckInterval = f.healthCheckInterval ?? defaultHealthCheckInterval;
    // The units both HAProxy and NGINX understand.
    if (!/^[1-9][0-9]*(ms|s|m|h)$/.test(healthCheckInterval)) {
        throw new Error(`healthCheckInterval "${healthCheckInterval}" must look like 500ms, 5s, 1m or 1h`);
    }
    return {
        edgeName: f.edgeName,
        // Sorted by code unit, not locale, so the output is the same on every machine.
        backends: [...f.backends].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
        routes: [
            { name: "http", listenPort: f.listenHttp, nodePort: f.httpNodePort },
            { name: "https", listenPort: f.listenHttps, nodePort: f.httpsNodePort },
        ],
        healthCheckInterval,
        statsPort: f.statsPort,
    };
}

function hostPort(address: string, port: number): string {
    return isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

function header(plan: EdgePlan, kind: EdgeKind): string[] {
    return [
        `# ${edgeConfigPath[kind]} on edge ${plan.edgeName}: rendered by hybrid-k3s, edits are overwritten.`,
        "# Layer 4 only: TLS passes through untouched to the Istio gateway, which terminates it with the",
        "# certificates cert-manager issues. Nothing here holds a key.",
        "#",
        "# No PROXY protocol towards the backends: the Istio gateway does not read it unless an EnvoyFilter",
        "# adds the proxy_protocol listener filter, and without that filter every connection would break.",
        "# The price: Istio sees the edge's mesh address as the client address.",
    ];
}

export function renderHaproxyConfig(f: EdgeFacts): string {
    const plan = planEdge(f);
    const proxies = plan.routes.flatMap((route) => [
        "",
        `frontend ${route.name}`,
        `    bind :${route.listenPort}`,
        "    option tcplog",
        `    default_backend ingress_${route.name}`,
        "",
        `backend ingress_${route.name}`,
        "    balance roundrobin",
        ...plan.backends.map((b) => `    server ${b.name} ${hostPort(b.meshAddress, route.nodePort)} check`),
    ]);
    const stats =
        plan.statsPort === undefined
            ? []
            : [
                  "",
                  "# Read-only stats page, loopback only: reach it with `ssh -L`.",
                  "listen stats",
                  "    mode http",
                  `    bind 127.0.0.1:${plan.statsPort}`,
                  "    no log",
                  "    stats enable",
                  "    stats uri /",
                  "    stats refresh 10s",
              ];
    return [
        ...header(plan, "haproxy"),
        "",
        "global",
        "    # stdout is the journal under systemd (Debian's and Fedora's units run haproxy -Ws).",
        "    log stdout format raw local0 info",
        "    maxconn 20000",
        "    chroot /var/lib/haproxy",
        "    user haproxy",
        "    group haproxy",
        "    # Runtime API for debugging (socat): a unix socket, never reachable from the network, in a",
        "    # directory both Debian's and Fedora's packages create (/run/haproxy is Debian's only).",
        "    stats socket /var/lib/haproxy/admin.sock mode 600 level admin",
        "",
        "defaults",
        "    mode tcp",
        "    log global",
        "    option dontlognull",
        "    # A connection that cannot reach its node is retried on the next ones (twice at most).",
        "    option redispatch 1",
        "    retries 2",
        `    timeout connect ${connectTimeout}`,
        "    timeout client 1m",
        "    timeout server 1m",
        `    timeout tunnel ${idleTunnelTimeout}`,
        "    timeout client-fin 30s",
        "    timeout server-fin 30s",
        "    timeout check 2s",
        "    # `check` is a TCP connect to the NodePort: it succeeds only on nodes that run a gateway pod",
        "    # (externalTrafficPolicy Local), so the others leave the rotation by themselves.",
        `    default-server inter ${plan.healthCheckInterval} fall ${failuresBeforeDown} rise 2`,
        ...proxies,
        ...stats,
        "",
    ].join("\n");
}

export function renderNginxStreamConfig(f: EdgeFacts): string {
    const plan = planEdge(f);
    const upstreams = plan.routes.flatMap((route) => [
        "",
        `    upstream ingress_${route.name} {`,
        // Shared memory: every worker sees one round robin and one failure count, so a dead node
        // is tried max_fails times in all, not max_fails times per worker.
        `        zone ingress_${route.name} 64k;`,
        ...plan.backends.map(
            (b) =>
                `        server ${hostPort(b.meshAddress, route.nodePort)} max_fails=${failuresBeforeDown} fail_timeout=${plan.healthCheckInterval}; # ${b.name}`,
        ),
        "    }",
    ]);
    const servers = plan.routes.flatMap((route) => [
        "",
        "    server {",
        `        listen ${route.listenPort};`,
        `        proxy_pass ingress_${route.name};`,
        "    }",
    ]);
    return [
        ...header(plan, "nginx"),
        "",
        "# The stream module is a dynamic module on Debian (libnginx-mod-stream links it into",
        "# modules-enabled) and Fedora/RHEL (nginx-mod-stream drops its loader in /usr/share/nginx/modules).",
        "# Including both directories loads it once wherever it is; a glob that matches nothing is fine.",
        "include /etc/nginx/modules-enabled/*.conf;",
        "include /usr/share/nginx/modules/*.conf;",
        "",
        "# No `user`: workers run as the package's compiled-in default, which differs between distributions.",
        "worker_processes auto;",
        "# Each proxied connection holds two descriptors; distribution units leave the soft limit at 1024.",
        "worker_rlimit_nofile 16384;",
        "pid /run/nginx.pid;",
        "# Logs go to the journal (journald owns /dev/log), like HAProxy's; no log files to rotate.",
        "error_log syslog:server=unix:/dev/log,tag=nginx warn;",
        "",
        "events {",
        "    worker_connections 4096;",
        "}",
        "",
        "# Only a stream block: an http server on 80 or 443 would clash with these listeners.",
        "stream {",
        "    log_format edge '$remote_addr [$time_local] $server_port -> $upstream_addr $status '",
        "                    'sent=$bytes_sent received=$bytes_received $session_time';",
        "    access_log syslog:server=unix:/dev/log,tag=nginx_edge edge;",
        "",
        "    # Round robin is the upstream default. Open-source NGINX has no active health checks",
        "    # (`health_check` is NGINX Plus only): a node is passively taken out for fail_timeout after",
        "    # max_fails failed connects, and the connection moves on to the next node (proxy_next_upstream).",
        `    proxy_connect_timeout ${connectTimeout};`,
        `    proxy_timeout ${idleTunnelTimeout};`,
        ...upstreams,
        ...servers,
        "}",
        "",
    ].join("\n");
}

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
