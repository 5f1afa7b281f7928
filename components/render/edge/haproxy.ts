// HAProxy in TCP mode on an edge host.
import { EdgeFacts, EdgePlan, EdgeRoute, connectTimeout, failuresBeforeDown, header, hostPort, idleTunnelTimeout, inspectDelay, planEdge } from "./plan";

/**
 * With a fallback, the frontend waits for the first bytes and picks a backend by name: the SNI of the
 * TLS ClientHello (`req.ssl_sni`, TLS left untouched) or the Host header of the HTTP request head
 * (`req.hdr(host)`, parsed from the buffer in TCP mode; www.haproxy.com/documentation/haproxy-configuration-manual/latest/#7.3.5
 * and #7.3.6). The first request decides for its connection: browsers keep one connection per host.
 */
function routing(plan: EdgePlan, route: EdgeRoute): string[] {
    if (route.fallback === undefined) return [`    default_backend ingress_${route.name}`];
    const hosts = plan.appHosts.join(" ");
    const byName =
        route.name === "https"
            ? ["    tcp-request content accept if { req.ssl_hello_type 1 }", ...(hosts ? [`    use_backend ingress_https if { req.ssl_sni -i ${hosts} }`] : [])]
            : ["    tcp-request content accept if HTTP", ...(hosts ? [`    use_backend ingress_http if { req.hdr(host),field(1,:) -i ${hosts} }`] : [])];
    return [`    tcp-request inspect-delay ${inspectDelay}`, ...byName, `    default_backend fallback_${route.name}`];
}

export function renderHaproxyConfig(f: EdgeFacts): string {
    const plan = planEdge(f);
    const proxies = plan.routes.flatMap((route) => [
        "",
        `frontend ${route.name}`,
        `    bind :${route.listenPort}`,
        "    option tcplog",
        ...routing(plan, route),
        "",
        `backend ingress_${route.name}`,
        "    balance roundrobin",
        ...plan.backends.map((b) => `    server ${b.name} ${hostPort(b.meshAddress, route.nodePort)} check${f.proxyProtocol ? " send-proxy-v2" : ""}`),
        ...(route.fallback === undefined
            ? []
            : [
                  "",
                  `# This host's own web server: every name that is not a cluster app.`,
                  `backend fallback_${route.name}`,
                  `    server fallback ${route.fallback}`,
              ]),
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
