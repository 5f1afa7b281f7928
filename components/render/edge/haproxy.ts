// HAProxy in TCP mode on an edge host.
import { EdgeFacts, connectTimeout, failuresBeforeDown, header, hostPort, idleTunnelTimeout, planEdge } from "./plan";

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
