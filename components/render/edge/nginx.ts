// NGINX stream on an edge host.
import { EdgeFacts, connectTimeout, failuresBeforeDown, header, hostPort, idleTunnelTimeout, planEdge } from "./plan";

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
