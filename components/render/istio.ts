// Istio ingress behind the layer-4 edge: Helm values for the official charts (base, istiod, gateway)
// and the objects that publish an app: Gateway, VirtualService, and cert-manager's Certificate and
// ClusterIssuer. Pure data (plain objects, no Pulumi), so tests read exactly what gets applied.
//
// Why a NodePort on fixed ports rather than hostPorts 80/443 on the gateway pods: the edge proxy
// needs ports it can write into its config once, and a fixed NodePort is allocated to this Service
// alone by the API server, on every node, so no other Service can claim it. A hostPort is DNATed by the CNI on the node
// itself: on a node that is also the edge host it would capture public 80/443 before the edge proxy
// sees it. With externalTrafficPolicy Local a node without a gateway pod does not answer on the
// NodePort, so the edge's health checks rotate it out by themselves, and no second hop (with SNAT)
// crosses the mesh between nodes.
import { isDnsLabel, isDnsName } from "../net";
import { assertIntegerInRange } from "./edge";

export const istioNamespace = "istio-system";

/**
 * The ingress gateway's identity, pinned in the chart values instead of being derived from the Helm
 * release name (which Pulumi may suffix): the name of its Service and Deployment, and the pod label
 * that Gateway resources select. Both are Istio's defaults for its Kubernetes Ingress support
 * (meshConfig.ingressService / ingressSelector), which is what serves cert-manager's HTTP-01 solver
 * Ingresses on this same gateway.
 */
export const ingressGateway = {
    name: "istio-ingressgateway",
    selector: { istio: "ingressgateway" },
} as const;

/** The Ingress class Istio serves; cert-manager's HTTP-01 solver Ingresses carry it. */
export const istioIngressClass = "istio";

export const letsEncryptServer = {
    staging: "https://acme-staging-v02.api.letsencrypt.org/directory",
    production: "https://acme-v02.api.letsencrypt.org/directory",
} as const;

/** k3s's default --service-node-port-range. */
const nodePortRange = { min: 30000, max: 32767 };

/** A public hostname the gateway serves: a concrete name, since HTTP-01 cannot issue wildcards. */
function assertHostname(host: string): void {
    if (host.length > 240 || !isDnsName(host)) {
        throw new Error(`host "${host}" must be a lowercase DNS name such as app.example.com (no wildcard)`);
    }
}

function assertDnsLabel(value: string, what: string): void {
    if (!isDnsLabel(value)) throw new Error(`${what} "${value}" must be a lowercase DNS label`);
}

export interface IstioGatewayFacts {
    httpNodePort: number;
    httpsNodePort: number;
    /** The label that marks ingress nodes: the same nodes the edge proxy forwards to. */
    ingressNodeLabel: { key: string; value: string };
    replicas: number;
    /** The edge sends PROXY protocol headers (edgeSendsProxyProtocol): the gateway reads the client's address from them. */
    proxyProtocol: boolean;
}

/**
 * The gateway pods' proxy config, as a pod annotation: `gatewayTopology.proxyProtocol: {}` makes
 * every listener of the gateway expect a PROXY protocol header (v1 or v2) and take the client's
 * address from it (istio.io docs: "Configuring Gateway Network Topology", PROXY Protocol, and
 * "Ingress Gateway" authorization task, TCP/UDP Proxy Load Balancer: the `proxy.istio.io/config`
 * annotation `{"gatewayTopology" : { "proxyProtocol": {} }}`). Only the gateway's listeners: the
 * status port 15021 that kubelet probes is its own listener and keeps answering plain HTTP. Helm
 * merges this map into the chart's default podAnnotations (prometheus, inject template).
 */
export const gatewayProxyProtocolAnnotation = { "proxy.istio.io/config": JSON.stringify({ gatewayTopology: { proxyProtocol: {} } }) };

type ServicePort = { name: string; port: number; protocol: "TCP"; targetPort: number; nodePort?: number };

export type IstioGatewayValues = {
    name: string;
    labels: Record<string, string>;
    replicaCount: number;
    autoscaling: { enabled: boolean };
    podDisruptionBudget: { maxUnavailable?: number };
    nodeSelector: Record<string, string>;
    topologySpreadConstraints: Record<string, unknown>[];
    resources: Record<string, Record<string, string>>;
    podAnnotations?: Record<string, string>;
    service: { type: "NodePort"; externalTrafficPolicy: "Local"; ports: ServicePort[] };
};

/** Values for the `gateway` chart (istio-release charts). */
export function istioGatewayValues(f: IstioGatewayFacts): IstioGatewayValues {
    for (const [what, port] of Object.entries({ httpNodePort: f.httpNodePort, httpsNodePort: f.httpsNodePort })) {
        assertIntegerInRange(port, nodePortRange.min, nodePortRange.max, what);
    }
    if (f.httpNodePort === f.httpsNodePort) throw new Error(`httpNodePort and httpsNodePort are both ${f.httpNodePort}`);
    assertIntegerInRange(f.replicas, 1, 100, "replicas");
    const { key, value } = f.ingressNodeLabel;
    if (!/^([a-z0-9.-]+\/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/.test(key) || !/^[A-Za-z0-9._-]{0,63}$/.test(value)) {
        throw new Error(`ingress node label "${key}=${value}" is not a valid Kubernetes label`);
    }
    return {
        name: ingressGateway.name,
        // The chart would derive the same label from the name; pinning it keeps Gateways and chart in step.
        labels: { ...ingressGateway.selector },
        replicaCount: f.replicas,
        // A fixed count, spread over the ingress nodes: an autoscaler would move pods between nodes
        // and, with externalTrafficPolicy Local, in and out of the edge's rotation.
        autoscaling: { enabled: false },
        // With a single replica a budget would block every node drain (k3s upgrades included).
        podDisruptionBudget: f.replicas >= 2 ? { maxUnavailable: 1 } : {},
        nodeSelector: { [key]: value },
        topologySpreadConstraints: [
            {
                maxSkew: 1,
                topologyKey: "kubernetes.io/hostname",
                whenUnsatisfiable: "ScheduleAnyway",
                labelSelector: { matchLabels: { ...ingressGateway.selector } },
            },
        ],
        // Home-lab nodes: Envoy idles at a few tens of MiB.
        resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { cpu: "1", memory: "512Mi" } },
        ...(f.proxyProtocol ? { podAnnotations: { ...gatewayProxyProtocolAnnotation } } : {}),
        service: {
            type: "NodePort",
            // Only nodes running a gateway pod accept the NodePort; see the top of this file.
            externalTrafficPolicy: "Local",
            // Replaces the chart's list, so status-port is repeated (its NodePort is allocated freely).
            // The chart's gateway pods listen on 80/443 themselves (not 8080/8443 like istioctl's).
            ports: [
                { name: "status-port", port: 15021, protocol: "TCP", targetPort: 15021 },
                { name: "http2", port: 80, protocol: "TCP", targetPort: 80, nodePort: f.httpNodePort },
                { name: "https", port: 443, protocol: "TCP", targetPort: 443, nodePort: f.httpsNodePort },
            ],
        },
    };
}

/** Values for the `istiod` chart. */
export function istiodValues(): Record<string, unknown> {
    return {
        global: {
            istioNamespace,
            // Its budget (minAvailable 1) with a single istiod would block every node drain.
            defaultPodDisruptionBudget: { enabled: false },
        },
        // `pilot.*` is read by every chart version (newer ones lift it to the top level).
        pilot: {
            autoscaleEnabled: false,
            replicaCount: 1,
            // The chart's default request (500m, 2Gi) is sized for large meshes, not home-lab nodes.
            resources: { requests: { cpu: "100m", memory: "256Mi" } },
        },
        // Kubernetes Ingress support, spelled out because cert-manager's HTTP-01 solver depends on it:
        // Ingresses of class istio are served by the gateway labelled istio=ingressgateway.
        meshConfig: {
            ingressClass: istioIngressClass,
            ingressControllerMode: "STRICT",
            ingressService: ingressGateway.name,
            ingressSelector: ingressGateway.selector.istio,
        },
    };
}

/** Values for the `base` chart (CRDs and cluster roles). */
export function baseValues(): Record<string, unknown> {
    return { global: { istioNamespace } };
}

type ObjectMeta = { name: string; namespace?: string };

export type GatewayServer = {
    port: { number: number; name: string; protocol: "HTTP" | "HTTPS" };
    hosts: string[];
    tls?: { mode: "SIMPLE"; credentialName: string };
};

export type GatewayResource = {
    apiVersion: "networking.istio.io/v1";
    kind: "Gateway";
    metadata: ObjectMeta;
    spec: { selector: Record<string, string>; servers: GatewayServer[] };
};

/** The secret cert-manager writes a host's certificate to, in the gateway's namespace. */
export function tlsSecretName(host: string): string {
    assertHostname(host);
    return `${host.replaceAll(".", "-")}-tls`;
}

/**
 * One Gateway for every public host: plain HTTP on 80 and HTTPS on 443 with each host's own
 * certificate (SNI picks it). Pass `tlsSecretName` so the names match certificateResource's secrets.
 *
 * No `httpsRedirect` on port 80: it makes Envoy redirect every request for the host, cert-manager's
 * HTTP-01 challenge included, so issuance and renewal fail (istio/istio#33593, #27643). The redirect
 * is a catch-all route in each VirtualService instead, which Istio orders after the solver's
 * more specific challenge path.
 */
export function gatewayResource(f: { name: string; namespace: string; hosts: string[]; tlsSecretName: (host: string) => string }): GatewayResource {
    assertDnsLabel(f.name, "gateway name");
    assertDnsLabel(f.namespace, "gateway namespace");
    if (f.hosts.length === 0) throw new Error(`gateway ${f.name} has no hosts`);
    f.hosts.forEach(assertHostname);
    const hosts = [...new Set(f.hosts)].sort();
    return {
        apiVersion: "networking.istio.io/v1",
        kind: "Gateway",
        metadata: { name: f.name, namespace: f.namespace },
        spec: {
            selector: { ...ingressGateway.selector },
            servers: [
                { port: { number: 80, name: "http", protocol: "HTTP" }, hosts },
                // Server port names must be unique within a Gateway.
                ...hosts.map((host, index): GatewayServer => ({
                    port: { number: 443, name: `https-${index}`, protocol: "HTTPS" },
                    hosts: [host],
                    tls: { mode: "SIMPLE", credentialName: f.tlsSecretName(host) },
                })),
            ],
        },
    };
}

export type HttpRoute = {
    name: string;
    match?: { port: number }[];
    redirect?: { scheme: "https"; redirectCode: 301 };
    route?: { destination: { host: string; port: { number: number } } }[];
};

export type VirtualServiceResource = {
    apiVersion: "networking.istio.io/v1";
    kind: "VirtualService";
    metadata: ObjectMeta;
    spec: { hosts: string[]; gateways: string[]; http: HttpRoute[] };
};

/** Routes one public host to a Service; `gateway` is "namespace/name" of the Gateway. */
export function virtualServiceResource(app: { host: string; namespace: string; service: string; port: number; gateway: string }): VirtualServiceResource {
    assertHostname(app.host);
    assertDnsLabel(app.namespace, "namespace");
    assertDnsLabel(app.service, "service");
    assertIntegerInRange(app.port, 1, 65535, "service port");
    const [gatewayNamespace, gatewayName, ...rest] = app.gateway.split("/");
    if (gatewayName === undefined || rest.length > 0) throw new Error(`gateway "${app.gateway}" must be namespace/name`);
    assertDnsLabel(gatewayNamespace, "gateway namespace");
    assertDnsLabel(gatewayName, "gateway name");
    return {
        apiVersion: "networking.istio.io/v1",
        kind: "VirtualService",
        metadata: { name: app.host.replaceAll(".", "-"), namespace: app.namespace },
        spec: {
            hosts: [app.host],
            gateways: [app.gateway],
            http: [
                // Matches only the port: a catch-all for Envoy, so ACME challenge routes go first.
                { name: "https-redirect", match: [{ port: 80 }], redirect: { scheme: "https", redirectCode: 301 } },
                {
                    name: app.service,
                    route: [{ destination: { host: `${app.service}.${app.namespace}.svc.cluster.local`, port: { number: app.port } } }],
                },
            ],
        },
    };
}

export type CertificateResource = {
    apiVersion: "cert-manager.io/v1";
    kind: "Certificate";
    metadata: ObjectMeta;
    spec: { secretName: string; dnsNames: string[]; issuerRef: { group: "cert-manager.io"; kind: "ClusterIssuer"; name: string } };
};

/** A host's certificate, in istio-system because the gateway reads credentialName secrets only there. */
export function certificateResource(host: string, issuerName: string): CertificateResource {
    assertDnsLabel(issuerName, "issuer name");
    const secretName = tlsSecretName(host);
    return {
        apiVersion: "cert-manager.io/v1",
        kind: "Certificate",
        metadata: { name: secretName, namespace: istioNamespace },
        spec: { secretName, dnsNames: [host], issuerRef: { group: "cert-manager.io", kind: "ClusterIssuer", name: issuerName } },
    };
}

export type ClusterIssuerResource = {
    apiVersion: "cert-manager.io/v1";
    kind: "ClusterIssuer";
    metadata: ObjectMeta;
    spec: {
        acme: {
            server: string;
            email: string;
            privateKeySecretRef: { name: string };
            solvers: { http01: { ingress: { class: string } } }[];
        };
    };
};

/**
 * Let's Encrypt over HTTP-01. The solver uses `ingress.class: istio` (the kubernetes.io/ingress.class
 * annotation), which Istio serves as is; `ingressClassName: istio` would also need an IngressClass
 * object, which Istio's charts do not create.
 */
export function clusterIssuerResource(f: { name: string; email: string; staging: boolean }): ClusterIssuerResource {
    assertDnsLabel(f.name, "issuer name");
    if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(f.email)) throw new Error(`ACME email "${f.email}" is not an email address`);
    return {
        apiVersion: "cert-manager.io/v1",
        kind: "ClusterIssuer",
        metadata: { name: f.name },
        spec: {
            acme: {
                server: f.staging ? letsEncryptServer.staging : letsEncryptServer.production,
                email: f.email,
                privateKeySecretRef: { name: `${f.name}-account-key` },
                solvers: [{ http01: { ingress: { class: istioIngressClass } } }],
            },
        },
    };
}
