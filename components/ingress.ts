// IstioIngress: Istio (base → istiod → gateway) and cert-manager from their Helm charts, a
// Let's Encrypt ClusterIssuer, and per app a Gateway, a VirtualService and a Certificate.
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { ClusterSpec } from "./config";
import { edgeSendsProxyProtocol } from "./render/edge";
import {
    baseValues,
    certificateResource,
    clusterIssuerResource,
    gatewayResource,
    istioGatewayValues,
    istiodValues,
    istioNamespace,
    tlsSecretName,
    virtualServiceResource,
} from "./render/istio";

export interface IstioIngressArgs {
    spec: ClusterSpec;
    kubeconfig: pulumi.Input<string>;
    /** How many nodes run a gateway pod. */
    ingressNodes: number;
    /** The cluster must be up before Helm talks to it. */
    after: pulumi.Resource[];
}

const istioCharts = "https://istio-release.storage.googleapis.com/charts";
const jetstackCharts = "https://charts.jetstack.io";
/** The label k3s puts on ingress nodes (--node-label) and the gateway pods select. */
export const ingressNodeLabel = { key: "hybrid-k3s/ingress", value: "true" };
const issuerName = "letsencrypt";

export class IstioIngress extends pulumi.ComponentResource {
    constructor(name: string, args: IstioIngressArgs, opts?: pulumi.ComponentResourceOptions) {
        const { spec } = args;
        const ingress = spec.ingress;
        super("hybrid-k3s:ingress:IstioIngress", name, { istioVersion: ingress.istioVersion, apps: ingress.apps.map((a) => a.host) }, opts);
        const provider = new k8s.Provider(`${name}-k8s`, { kubeconfig: args.kubeconfig }, { parent: this, dependsOn: args.after });
        const inCluster = { parent: this, provider };
        const chart = (release: string, chartName: string, values: Record<string, unknown>, dependsOn: pulumi.Resource[]) =>
            new k8s.helm.v3.Release(
                `${name}-${release}`,
                {
                    name: release,
                    chart: chartName,
                    version: ingress.istioVersion,
                    namespace: istioNamespace,
                    createNamespace: true,
                    repositoryOpts: { repo: istioCharts },
                    values,
                    atomic: true,
                },
                { ...inCluster, dependsOn },
            );
        const base = chart("istio-base", "base", baseValues(), []);
        const istiod = chart("istiod", "istiod", istiodValues(), [base]);
        const ingressNodes = args.ingressNodes;
        const gateway = chart(
            "istio-ingressgateway",
            "gateway",
            istioGatewayValues({
                httpNodePort: ingress.httpNodePort,
                httpsNodePort: ingress.httpsNodePort,
                ingressNodeLabel,
                replicas: Math.max(1, ingressNodes),
                // Only when an edge sends it: with no edge, nothing would write the header the gateway then requires.
                proxyProtocol: edgeSendsProxyProtocol(spec.edge.proxy) && spec.nodes.some((n) => n.roles.includes("edge")),
            }),
            [istiod],
        );

        const certManager = new k8s.helm.v3.Release(
            `${name}-cert-manager`,
            {
                name: "cert-manager",
                chart: "cert-manager",
                version: ingress.certManagerVersion,
                namespace: "cert-manager",
                createNamespace: true,
                repositoryOpts: { repo: jetstackCharts },
                values: { crds: { enabled: true } },
                atomic: true,
            },
            inCluster,
        );
        const issuer = ingress.acmeEmail
            ? new k8s.apiextensions.CustomResource(
                  `${name}-issuer`,
                  clusterIssuerResource({ name: issuerName, email: ingress.acmeEmail, staging: ingress.acmeStaging }),
                  { ...inCluster, dependsOn: [certManager, gateway] },
              )
            : undefined;

        // One per distinct name, and a Patch (server-side apply) rather than a Namespace: it creates the
        // namespace if missing and adopts one that exists, where a Namespace fails with AlreadyExists
        // (pulumi-kubernetes 4.29+ creates client-side), and deleting it never deletes the namespace.
        const namespaces = new Map(
            [...new Set(ingress.apps.map((a) => a.namespace))].map((ns) => [
                ns,
                new k8s.core.v1.NamespacePatch(
                    `${name}-ns-${ns}`,
                    { metadata: { name: ns, labels: { "app.kubernetes.io/managed-by": "hybrid-k3s" } } },
                    inCluster,
                ),
            ]),
        );
        for (const app of ingress.apps) {
            const id = app.host.replace(/\./g, "-");
            const namespace = namespaces.get(app.namespace)!;
            const gatewayObject = new k8s.apiextensions.CustomResource(
                `${name}-gateway-${id}`,
                gatewayResource({ name: id, namespace: istioNamespace, hosts: [app.host], tlsSecretName }),
                { ...inCluster, dependsOn: [gateway] },
            );
            new k8s.apiextensions.CustomResource(`${name}-route-${id}`, virtualServiceResource({ ...app, gateway: `${istioNamespace}/${id}` }), {
                ...inCluster,
                dependsOn: [gatewayObject, namespace],
            });
            if (issuer) {
                new k8s.apiextensions.CustomResource(`${name}-cert-${id}`, certificateResource(app.host, issuerName), { ...inCluster, dependsOn: [issuer] });
            }
        }
        this.registerOutputs({});
    }
}
