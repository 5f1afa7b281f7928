// The program's body, shared by index.ts (the real `pulumi up`) and the offline plan: read and
// validate the config, build the cluster, return the stack outputs.
import * as os from "os";
import * as pulumi from "@pulumi/pulumi";
import { ClusterSpec, parseClusterConfig, projectName, rawConfigFromPulumi } from "./config";
import { HybridCluster } from "./cluster";

export interface StackOptions {
    /** Check that this machine is on the mesh before Kubernetes steps that need it (off in the offline plan). */
    checkOperatorOnMesh: boolean;
}

/**
 * The Kubernetes and Helm steps reach the API over the mesh from this machine: fail in one line,
 * before anything runs, when none of the runsPulumi operators' mesh addresses is on this machine.
 */
export function operatorOnMeshProblem(spec: ClusterSpec, localAddresses: string[]): string | undefined {
    const runners = spec.operators.filter((o) => o.runsPulumi && o.enrolled);
    if (runners.length === 0 || runners.some((o) => localAddresses.includes(o.meshAddress))) return undefined;
    const names = runners.map((o) => `${o.name} (${o.meshAddress})`).join(" or ");
    return `this machine is not on the mesh as ${names}: run \`pulumi stack output --show-secrets operatorConfigs --json | jq -r '.["${runners[0].name}"]' > ${spec.mesh.interfaceName}.conf && sudo wg-quick up ./${spec.mesh.interfaceName}.conf\`, then pulumi up again`;
}

export function defineStack(options: StackOptions = { checkOperatorOnMesh: true }): Record<string, pulumi.Output<unknown>> {
    // Validation runs before any resource exists: a bad config creates nothing.
    const spec = parseClusterConfig(rawConfigFromPulumi(pulumi.runtime.allConfig()));
    if (options.checkOperatorOnMesh) {
        const local = Object.values(os.networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address));
        const problem = operatorOnMeshProblem(spec, local);
        if (problem) throw new Error(problem);
    }
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
        heldBack: pulumi.output(cluster.heldBack),
        appUrls: pulumi.output(spec.ingress.apps.map((a) => `https://${a.host}`)),
    };
}
