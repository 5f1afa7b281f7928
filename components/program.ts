// The program's body, shared by index.ts (the real `pulumi up`) and the offline plan: read and
// validate the config, build the cluster, return the stack outputs.
import * as pulumi from "@pulumi/pulumi";
import { parseClusterConfig, projectName, rawConfigFromPulumi } from "./config";
import { HybridCluster } from "./cluster";

export function defineStack(): Record<string, pulumi.Output<unknown>> {
    // Validation runs before any resource exists: a bad config creates nothing.
    const spec = parseClusterConfig(rawConfigFromPulumi(pulumi.runtime.allConfig()));
    const config = new pulumi.Config(projectName);
    const cluster = new HybridCluster(spec.clusterName, {
        spec,
        sshPrivateKey: config.getSecret("sshPrivateKey"),
        datastoreEndpoint: config.getSecret("k3sDatastoreEndpoint"),
    });
    return {
        nodes: pulumi.output(cluster.nodeSummary),
        kubeconfig: cluster.kubeconfig,
        sshAuthorizedKey: cluster.sshPublicKey,
        operatorConfigs: cluster.operatorConfigs,
        bootstrapScripts: cluster.bootstrapScripts,
        appUrls: pulumi.output(spec.ingress.apps.map((a) => `https://${a.host}`)),
    };
}
