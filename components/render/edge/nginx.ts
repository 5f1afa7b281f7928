// NGINX stream on an edge host.
import { EdgeFacts, EdgePlan, EdgeRoute, connectTimeout, failuresBeforeDown, header, hostPort, idleTunnelTimeout, planEdge } from "./plan";

function upstream(plan: EdgePlan, route: EdgeRoute, indent: string): string[] {
    return [
        "",
        `${indent}upstream ingress_${route.name} {`,
        // Shared memory: every worker sees one round robin and one failure count, so a dead node
        // is tried max_fails times in all, not max_fails times per worker.
        `${indent}    zone ingress_${route.name} 64k;`,
        ...plan.backends.map(
            (b) =>
                `${indent}    server ${hostPort(b.meshAddress, route.nodePort)} max_fails=${failuresBeforeDown} fail_timeout=${plan.healthCheckInterval}; # ${b.name}`,
        ),
        `${indent}}`,
        ...(route.fallback === undefined ? [] : [`${indent}upstream fallback_${route.name} {`, `${indent}    server ${route.fallback};`, `${indent}}`]),
    ];
}

/** A name-to-upstream map: the app hosts to the ingress nodes, every other name to the fallback. */
function byName(plan: EdgePlan, route: EdgeRoute, source: string, indent: string): string[] {
    return [
        "",
        `${indent}map ${source} $edge_${route.name} {`,
        `${indent}    hostnames;`,
        `${indent}    default fallback_${route.name};`,
        ...plan.appHosts.map((host) => `${indent}    ${host} ingress_${route.name};`),
        `${indent}}`,
    ];
}

/**
 * Port 80 next to a fallback: the stream module cannot read a Host header, so an http server routes
 * it, passing the request on unchanged and unbuffered (no body limit, WebSocket upgrades kept).
 */
function httpBlock(plan: EdgePlan, route: EdgeRoute): string[] {
    return [
        "",
        "# Port 80 by Host: the app hosts to the ingress nodes, every other name to this host's own web server.",
        "http {",
        "    access_log syslog:server=unix:/dev/log,tag=nginx_edge;",
        ...byName(plan, route, "$host", "    "),
        "",
        "    map $http_upgrade $edge_connection {",
        "        default upgrade;",
        "        '' close;",
        "    }",
        ...upstream(plan, route, "    "),
        "",
        "    server {",
        `        listen ${route.listenPort};`,
        "        client_max_body_size 0;",
        "        location / {",
        `            proxy_pass http://$edge_${route.name};`,
        "            proxy_http_version 1.1;",
        "            proxy_set_header Host $http_host;",
        "            proxy_set_header Upgrade $http_upgrade;",
        "            proxy_set_header Connection $edge_connection;",
        "            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "            proxy_request_buffering off;",
        "            proxy_buffering off;",
        `            proxy_connect_timeout ${connectTimeout};`,
        `            proxy_read_timeout ${idleTunnelTimeout};`,
        `            proxy_send_timeout ${idleTunnelTimeout};`,
        "        }",
        "    }",
        "}",
    ];
}

export function renderNginxStreamConfig(f: EdgeFacts): string {
    const plan = planEdge(f);
    // With a fallback, port 80 moves to an http block (routing by Host); 443 stays in the stream
    // block, routed by the ClientHello's SNI (ssl_preread, nginx.org/en/docs/stream/ngx_stream_ssl_preread_module.html).
    const streamRoutes = plan.routes.filter((route) => route.fallback === undefined || route.name === "https");
    const httpRoute = plan.routes.find((route) => route.fallback !== undefined && route.name === "http");
    const upstreams = streamRoutes.flatMap((route) => [
        ...upstream(plan, route, "    "),
        ...(route.fallback === undefined ? [] : byName(plan, route, "$ssl_preread_server_name", "    ")),
    ]);
    const servers = streamRoutes.flatMap((route) => [
        "",
        "    server {",
        `        listen ${route.listenPort};`,
        ...(route.fallback === undefined
            ? [`        proxy_pass ingress_${route.name};`]
            : ["        ssl_preread on;", `        proxy_pass $edge_${route.name};`]),
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
        httpRoute
            ? "# The stream block holds 443, the http block 80; nothing else listens on either."
            : "# Only a stream block: an http server on 80 or 443 would clash with these listeners.",
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
        ...(httpRoute ? httpBlock(plan, httpRoute) : []),
        "",
    ].join("\n");
}
