// The public edge: a layer-4 proxy (HAProxy or NGINX) on a host with a public address that forwards
// TCP 80 and 443 over the mesh to the Istio gateway's NodePorts on the ingress nodes. It never
// terminates TLS: cert-manager issues the certificates and the Istio gateway serves them, so the edge
// holds no keys and needs no change when a hostname is added. Pure renderers: text in, text out.
import { isIP } from "node:net";
import { isDnsName } from "../../net";
import { haproxyConfigPath, nginxConfigPath } from "../../paths";
import { hostPortPattern } from "../../patterns";

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
    /**
     * A shared host's own web server (edgeFallback, host:port): with it, only the cluster's app hosts
     * go to the ingress nodes (by SNI on https, by Host on http) and every other name goes here.
     */
    fallback?: { http: string; https: string };
    /** The cluster's app hosts (apps[].host); read only with a fallback. */
    appHosts?: string[];
    /** HAProxy: PROXY protocol v2 to the ingress nodes (see edgeSendsProxyProtocol); ignored by NGINX. */
    proxyProtocol?: boolean;
}

/**
 * Whether the edge passes the client's address to the Istio gateway in a PROXY protocol v2 header,
 * and so whether the gateway must read one (it then requires it on its 80 and 443 listeners).
 * HAProxy: yes (`send-proxy-v2` on each ingress server). Its TCP health checks on the same NodePort
 * send a header too (`check-send-proxy` is implied when traffic uses it:
 * www.haproxy.com/documentation/haproxy-configuration-manual/latest/#5.2-check-send-proxy), with the
 * LOCAL command that every receiver must accept (www.haproxy.org/download/2.8/doc/proxy-protocol.txt,
 * 2.2), so the gateway keeps answering them; test/net/proxy.test.ts sees exactly that header.
 * NGINX: no. Its stream module writes only version 1 (`proxy_protocol on`,
 * nginx.org/en/docs/stream/ngx_stream_proxy_module.html#proxy_protocol), per server block, so the
 * SNI-routed 443 could not send it to the ingress nodes and not to a fallback; and port 80 next to a
 * fallback goes through its http module, which cannot write one at all. With NGINX the gateway sees
 * the edge's mesh address as the client's (apps behind port 80 get X-Forwarded-For with a fallback).
 */
export function edgeSendsProxyProtocol(kind: EdgeKind): boolean {
    return kind === "haproxy";
}

export type EdgeKind = "haproxy" | "nginx";

/** Where each proxy reads its configuration; the install script validates exactly this file. */
export const edgeConfigPath: Record<EdgeKind, string> = { haproxy: haproxyConfigPath, nginx: nginxConfigPath };

export const defaultHealthCheckInterval = "5s";
/** Failed checks (HAProxy) or failed connects (NGINX) before a backend is taken out of rotation. */
export const failuresBeforeDown = 3;
/**
 * A node without a gateway pod drops connections to the NodePort (externalTrafficPolicy Local), so
 * a connect attempt that has not succeeded by then is treated as failed rather than waited on.
 */
export const connectTimeout = "3s";
/** Idle limit of an established connection in either proxy: long enough for WebSockets and gRPC streams. */
export const idleTunnelTimeout = "1h";

/**
 * How long a proxy with a fallback waits for the TLS ClientHello (its SNI) or the HTTP request head
 * (its Host) before it decides; a client that sends nothing by then goes to the fallback.
 */
export const inspectDelay = "5s";

/** Names land unquoted in both configs: letters, digits and ._- only. */
export const plainName = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Also used by istio.ts. */
export function assertIntegerInRange(value: number, min: number, max: number, what: string): void {
    if (!Number.isInteger(value) || value < min || value > max) {
        throw new Error(`${what} must be an integer from ${min} to ${max}, got ${value}`);
    }
}

export interface EdgeRoute {
    /** Names the frontend/backend (HAProxy) or upstream (NGINX). */
    name: "http" | "https";
    listenPort: number;
    nodePort: number;
    /** host:port for every name that is not an app host; absent: everything goes to the ingress nodes. */
    fallback?: string;
}

/** Validated facts in the form both renderers use: backends sorted by name, one route per public port. */
export interface EdgePlan {
    edgeName: string;
    backends: EdgeBackend[];
    routes: EdgeRoute[];
    healthCheckInterval: string;
    statsPort?: number;
    /** Sorted, lowercase; the names routed to the ingress nodes when routes have a fallback. */
    appHosts: string[];
}

export function planEdge(f: EdgeFacts): EdgePlan {
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
    for (const address of Object.values(f.fallback ?? {})) {
        // Lands unquoted as a server address in both configs.
        const match = hostPortPattern.exec(address);
        if (!match || isIP(match[1].replace(/^\[|\]$/g, "")) === 0)
            throw new Error(`edge ${f.edgeName}: fallback "${address}" is not host:port with an IP address`);
    }
    const appHosts = [...new Set((f.appHosts ?? []).map((h) => h.toLowerCase()))].sort();
    for (const host of appHosts) if (!isDnsName(host)) throw new Error(`edge ${f.edgeName}: app host "${host}" is not a DNS name`);
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
            { name: "http", listenPort: f.listenHttp, nodePort: f.httpNodePort, fallback: f.fallback?.http },
            { name: "https", listenPort: f.listenHttps, nodePort: f.httpsNodePort, fallback: f.fallback?.https },
        ],
        healthCheckInterval,
        statsPort: f.statsPort,
        appHosts,
    };
}

export function hostPort(address: string, port: number): string {
    return isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

export function header(plan: EdgePlan, kind: EdgeKind): string[] {
    return [
        `# ${edgeConfigPath[kind]} on edge ${plan.edgeName}: rendered by hybrid-k3s, edits are overwritten.`,
        "# Layer 4 only: TLS passes through untouched to the Istio gateway, which terminates it with the",
        "# certificates cert-manager issues. Nothing here holds a key.",
        "#",
        ...(kind === "haproxy"
            ? [
                  "# PROXY protocol v2 towards the ingress nodes (send-proxy-v2), so Istio sees each client's own",
                  "# address; the gateway is told to read it (gatewayTopology.proxyProtocol). The fallback gets none.",
              ]
            : [
                  "# No PROXY protocol towards the backends: NGINX writes only version 1 and, next to a fallback,",
                  "# could not send it to the ingress nodes alone. Istio sees the edge's mesh address as the client's.",
              ]),
    ];
}
