// Node lifecycle commands, run with kubectl on a server: drain, uncordon, delete. Each is safe to
// re-run and does nothing when there is nothing to do, because the engine re-runs an update step
// whenever any of its inputs changes (an SSH key rotation changes them all).
import { assertDnsSubdomain, assertVersion } from "./facts";

/** Long enough for pods with a graceful shutdown to move; a stuck drain then fails instead of hanging. */
const drainTimeout = "300s";
/** Marks a node we drained, so uncordon never undoes an operator's own cordon. */
const drainedAnnotation = "hybrid-k3s.io/drained-for";

/** Validated, then quoted anyway: the name ends up in a shell string. */
function nodeArg(nodeName: string): string {
    assertDnsSubdomain("node name", nodeName);
    return `'${nodeName}'`;
}

/**
 * Before an upgrade: drains the node unless it already runs `version` or is not in the cluster.
 * The kubelet version k3s reports is the release tag (v1.36.1+k3s1). An unreachable API fails the
 * step: it is never mistaken for a node that is gone.
 */
export function drainForUpgradeCommand(nodeName: string, version: string): string {
    assertVersion(version);
    const node = nodeArg(nodeName);
    return [
        "set -eu",
        `running=$(k3s kubectl get node ${node} --ignore-not-found -o jsonpath='{.status.nodeInfo.kubeletVersion}')`,
        `if [ -z "$running" ] || [ "$running" = '${version}' ]; then echo "hybrid-k3s: ${nodeName} runs \${running:-nothing yet}; no drain for ${version}"; exit 0; fi`,
        `k3s kubectl annotate node ${node} --overwrite ${drainedAnnotation}='${version}' >/dev/null`,
        `k3s kubectl drain ${node} --ignore-daemonsets --delete-emptydir-data --timeout=${drainTimeout}`,
    ].join("\n");
}

/** After an upgrade: uncordons the node only if we drained it. */
export function uncordonAfterUpgradeCommand(nodeName: string): string {
    const node = nodeArg(nodeName);
    return [
        "set -eu",
        `ours=$(k3s kubectl get node ${node} --ignore-not-found -o jsonpath='{.metadata.annotations.hybrid-k3s\\.io/drained-for}')`,
        `if [ -z "$ours" ]; then echo "hybrid-k3s: ${nodeName} was not drained by us; nothing to uncordon"; exit 0; fi`,
        `k3s kubectl uncordon ${node}`,
        `k3s kubectl annotate node ${node} ${drainedAnnotation}- >/dev/null`,
    ].join("\n");
}

/** Decommission: drains and deletes the Node object; a node that is already gone is fine. */
export function drainAndDeleteCommand(nodeName: string): string {
    const node = nodeArg(nodeName);
    return [
        "set -eu",
        `present=$(k3s kubectl get node ${node} --ignore-not-found -o name)`,
        `if [ -n "$present" ]; then`,
        `  k3s kubectl drain ${node} --ignore-daemonsets --delete-emptydir-data --timeout=${drainTimeout}`,
        `  k3s kubectl delete node ${node} --ignore-not-found`,
        "fi",
    ].join("\n");
}
