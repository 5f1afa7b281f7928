import { strict as assert } from "node:assert";
import {
    baseValues,
    certificateResource,
    clusterIssuerResource,
    gatewayResource,
    ingressGateway,
    istioGatewayValues,
    istioNamespace,
    istiodValues,
    letsEncryptServer,
    tlsSecretName,
    virtualServiceResource,
} from "../../components/render/istio";

const gatewayFacts = {
    httpNodePort: 30080,
    httpsNodePort: 30443,
    ingressNodeLabel: { key: "hybrid-k3s/ingress", value: "true" },
    replicas: 2,
    proxyProtocol: true,
};

const apps = [
    { host: "zot.soh.re", namespace: "zot", service: "zot", port: 5000 },
    { host: "argocd.soh.re", namespace: "argocd", service: "argocd-server", port: 80 },
    { host: "flights.soh.re", namespace: "flights", service: "skyaware", port: 8080 },
];

const gatewayRef = `${istioNamespace}/public`;
const gateway = gatewayResource({ name: "public", namespace: istioNamespace, hosts: apps.map((a) => a.host), tlsSecretName });

/** Mirrors the gateway chart's _helpers.tpl: `istio: {{ gateway.name | trimPrefix "istio-" }}`. */
const chartDerivedSelector = (gatewayName: string) => ({ istio: gatewayName.replace(/^istio-/, "") });

describe("istio: gateway chart values", () => {
    const values = istioGatewayValues(gatewayFacts);

    it("exposes http2 and https on fixed NodePorts, keeping the chart's status port", () => {
        assert.equal(values.service.type, "NodePort");
        assert.deepEqual(values.service.ports, [
            { name: "status-port", port: 15021, protocol: "TCP", targetPort: 15021 },
            { name: "http2", port: 80, protocol: "TCP", targetPort: 80, nodePort: 30080 },
            { name: "https", port: 443, protocol: "TCP", targetPort: 443, nodePort: 30443 },
        ]);
        assert.equal(values.service.externalTrafficPolicy, "Local");
    });

    it("runs a fixed number of replicas on the ingress nodes, spread one per node", () => {
        assert.deepEqual(values.nodeSelector, { "hybrid-k3s/ingress": "true" });
        assert.equal(values.replicaCount, 2);
        assert.deepEqual(values.autoscaling, { enabled: false });
        assert.deepEqual(values.topologySpreadConstraints[0].labelSelector, { matchLabels: values.labels });
    });

    it("tells the gateway pods to read the PROXY protocol the edge sends, and only then", () => {
        assert.deepEqual(values.podAnnotations, { "proxy.istio.io/config": '{"gatewayTopology":{"proxyProtocol":{}}}' });
        assert.equal(istioGatewayValues({ ...gatewayFacts, proxyProtocol: false }).podAnnotations, undefined);
    });

    it("sets a disruption budget only when one replica can be spared", () => {
        assert.deepEqual(values.podDisruptionBudget, { maxUnavailable: 1 });
        assert.deepEqual(istioGatewayValues({ ...gatewayFacts, replicas: 1 }).podDisruptionBudget, {});
    });

    it("labels the pods with the selector Gateways and Istio's Ingress support use", () => {
        assert.deepEqual(values.labels, gateway.spec.selector);
        // The pinned label is also what the chart would derive from the pinned name.
        assert.deepEqual(chartDerivedSelector(values.name), gateway.spec.selector);
        const meshConfig = istiodValues().meshConfig as Record<string, string>;
        assert.deepEqual({ istio: meshConfig.ingressSelector }, gateway.spec.selector);
        assert.equal(meshConfig.ingressService, values.name);
        assert.equal(values.name, ingressGateway.name);
    });

    const invalid: [string, Partial<typeof gatewayFacts>, RegExp][] = [
        ["a NodePort outside k3s's range", { httpNodePort: 8080 }, /httpNodePort must be an integer from 30000 to 32767/],
        ["the same NodePort twice", { httpsNodePort: 30080 }, /both 30080/],
        ["no replicas", { replicas: 0 }, /replicas/],
        ["a label with a space", { ingressNodeLabel: { key: "ingress node", value: "true" } }, /not a valid Kubernetes label/],
    ];
    for (const [label, change, why] of invalid) {
        it(`rejects ${label}`, () => assert.throws(() => istioGatewayValues({ ...gatewayFacts, ...change }), why));
    }
});

describe("istio: base and istiod values", () => {
    it("agree on the control plane namespace", () => {
        assert.deepEqual(baseValues(), { global: { istioNamespace } });
        assert.equal((istiodValues().global as Record<string, unknown>).istioNamespace, istioNamespace);
    });

    it("size istiod for small nodes: one replica, no autoscaler, no drain-blocking budget", () => {
        const values = istiodValues() as { pilot: Record<string, unknown>; global: Record<string, unknown> };
        assert.equal(values.pilot.autoscaleEnabled, false);
        assert.equal(values.pilot.replicaCount, 1);
        assert.deepEqual(values.global.defaultPodDisruptionBudget, { enabled: false });
    });
});

describe("istio: Gateway", () => {
    it("serves plain HTTP on 80 for every host, without httpsRedirect (it would swallow ACME challenges)", () => {
        const http = gateway.spec.servers.filter((s) => s.port.number === 80);
        assert.deepEqual(http, [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["argocd.soh.re", "flights.soh.re", "zot.soh.re"] }]);
    });

    it("serves HTTPS on 443 per host with the certificate cert-manager writes for that host", () => {
        const https = gateway.spec.servers.filter((s) => s.port.number === 443);
        assert.equal(https.length, apps.length);
        for (const app of apps) {
            const server = https.find((s) => s.hosts.includes(app.host));
            assert.deepEqual(server?.hosts, [app.host]);
            assert.deepEqual(server?.tls, { mode: "SIMPLE", credentialName: certificateResource(app.host, "letsencrypt").spec.secretName });
        }
        const portNames = gateway.spec.servers.map((s) => s.port.name);
        assert.equal(new Set(portNames).size, portNames.length, "server port names must be unique");
    });

    it("lists a repeated host once and rejects wildcards (HTTP-01 cannot issue them)", () => {
        const repeated = gatewayResource({ name: "public", namespace: istioNamespace, hosts: ["a.example.com", "a.example.com"], tlsSecretName });
        assert.equal(repeated.spec.servers.length, 2);
        assert.throws(() => gatewayResource({ name: "public", namespace: istioNamespace, hosts: ["*.example.com"], tlsSecretName }), /no wildcard/);
    });
});

describe("istio: VirtualService", () => {
    const virtualServices = apps.map((app) => virtualServiceResource({ ...app, gateway: gatewayRef }));

    it("one per app, each with a distinct name, bound to the Gateway for a host it serves", () => {
        assert.equal(new Set(virtualServices.map((vs) => `${vs.metadata.namespace}/${vs.metadata.name}`)).size, apps.length);
        const gatewayHosts = new Set(gateway.spec.servers.flatMap((s) => s.hosts));
        for (const vs of virtualServices) {
            assert.deepEqual(vs.spec.gateways, [gatewayRef]);
            for (const host of vs.spec.hosts) assert.ok(gatewayHosts.has(host), `${host} is not on the Gateway`);
        }
    });

    it("routes the host to <service>.<namespace>.svc.cluster.local on the service port", () => {
        apps.forEach((app, i) => {
            const vs = virtualServices[i];
            assert.equal(vs.metadata.namespace, app.namespace);
            assert.deepEqual(vs.spec.hosts, [app.host]);
            const route = vs.spec.http.find((r) => r.route !== undefined);
            assert.deepEqual(route?.route, [{ destination: { host: `${app.service}.${app.namespace}.svc.cluster.local`, port: { number: app.port } } }]);
        });
    });

    it("redirects port 80 to https with a port-only match, which Envoy orders after ACME challenge paths", () => {
        for (const vs of virtualServices) {
            assert.deepEqual(vs.spec.http[0], {
                name: "https-redirect",
                match: [{ port: 80 }],
                redirect: { scheme: "https", redirectCode: 301 },
            });
        }
    });

    it("rejects a gateway reference without its namespace", () => {
        assert.throws(() => virtualServiceResource({ ...apps[0], gateway: "public" }), /namespace\/name/);
    });
});

describe("istio: cert-manager", () => {
    it("issues one Certificate per host into istio-system, where the gateway reads credentialName", () => {
        for (const app of apps) {
            const certificate = certificateResource(app.host, "letsencrypt");
            assert.equal(certificate.metadata.namespace, istioNamespace);
            assert.deepEqual(certificate.spec.dnsNames, [app.host]);
            assert.equal(certificate.spec.secretName, tlsSecretName(app.host));
            assert.deepEqual(certificate.spec.issuerRef, { group: "cert-manager.io", kind: "ClusterIssuer", name: "letsencrypt" });
        }
    });

    it("points the ClusterIssuer at Let's Encrypt staging or production", () => {
        const issuer = (staging: boolean) => clusterIssuerResource({ name: "letsencrypt", email: "ops@soh.re", staging }).spec.acme;
        assert.equal(issuer(true).server, "https://acme-staging-v02.api.letsencrypt.org/directory");
        assert.equal(issuer(false).server, "https://acme-v02.api.letsencrypt.org/directory");
        assert.deepEqual(letsEncryptServer, { staging: issuer(true).server, production: issuer(false).server });
    });

    it("solves HTTP-01 through Ingresses of the class Istio serves", () => {
        const acme = clusterIssuerResource({ name: "letsencrypt", email: "ops@soh.re", staging: false }).spec.acme;
        const meshConfig = istiodValues().meshConfig as Record<string, string>;
        assert.deepEqual(acme.solvers, [{ http01: { ingress: { class: meshConfig.ingressClass } } }]);
        assert.equal(meshConfig.ingressControllerMode, "STRICT");
        assert.equal(acme.email, "ops@soh.re");
        assert.deepEqual(acme.privateKeySecretRef, { name: "letsencrypt-account-key" });
    });

    it("rejects an email that is not one", () => {
        assert.throws(() => clusterIssuerResource({ name: "letsencrypt", email: "ops", staging: true }), /not an email/);
    });
});
