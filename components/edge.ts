// Edge: the layer-4 proxy on every public edge host, forwarding 80/443 over the mesh to the Istio
// gateway's NodePorts on the ingress nodes. TLS passes through untouched.
import * as pulumi from "@pulumi/pulumi";
import { ClusterSpec } from "./config";
import { Host } from "./host";
import { HostFiles } from "./hostfiles";
import { libDir } from "./paths";
import { httpPort, httpsPort } from "./ports";
import { edgeConfigPath, edgeInstallScript, edgeSendsProxyProtocol, renderHaproxyConfig, renderNginxStreamConfig } from "./render/edge";

export interface EdgeArgs {
    spec: ClusterSpec;
    edgeHosts: Host[];
    ingressHosts: Host[];
    /** Per host: steps that must finish first (mesh joined, firewall loaded). */
    after: (host: string) => pulumi.Resource[];
}

const installScriptPath = `${libDir}/install-edge.sh`;

export class Edge extends pulumi.ComponentResource {
    constructor(name: string, args: EdgeArgs, opts?: pulumi.ComponentResourceOptions) {
        const { spec } = args;
        super(
            "hybrid-k3s:edge:Edge",
            name,
            { proxy: spec.edge.proxy, edges: args.edgeHosts.map((h) => h.name), backends: args.ingressHosts.map((h) => h.name) },
            opts,
        );
        const kind = spec.edge.proxy;
        const render = kind === "haproxy" ? renderHaproxyConfig : renderNginxStreamConfig;
        for (const host of args.edgeHosts) {
            const config = render({
                edgeName: host.name,
                backends: args.ingressHosts.map((h) => ({ name: h.name, meshAddress: h.meshAddress })),
                httpNodePort: spec.ingress.httpNodePort,
                httpsNodePort: spec.ingress.httpsNodePort,
                listenHttp: httpPort,
                listenHttps: httpsPort,
                fallback: host.spec.edgeFallback,
                appHosts: spec.ingress.apps.map((app) => app.host),
                proxyProtocol: edgeSendsProxyProtocol(kind),
            });
            new HostFiles(
                `${host.name}-edge`,
                {
                    host,
                    files: [
                        { path: edgeConfigPath[kind], mode: "0644", content: config },
                        { path: installScriptPath, mode: "0700", content: edgeInstallScript(kind) },
                    ],
                    apply: `sh ${installScriptPath}`,
                    after: args.after(host.name),
                },
                { parent: this },
            );
        }
        this.registerOutputs({});
    }
}
