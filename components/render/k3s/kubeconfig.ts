// The kubeconfig for operators on the mesh, from the one k3s writes on a server.
import { isIP } from "node:net";
import { k3sApiPort } from "../../ports";
import { assertDnsSubdomain, assertMeshAddress, fail } from "./facts";

/**
 * k3s writes `server: https://<bind address>:6443` into /etc/rancher/k3s/k3s.yaml when
 * --bind-address is set, else 127.0.0.1 (k3s pkg/cli/server/server.go, writeKubeConfig via
 * BindAddressOrLoopback). We bind to the mesh, so expect that address; accept loopback too (a
 * server started before bind-address was set). The result reaches the API at the mesh address,
 * with cluster, context and user named after the cluster so it merges with other kubeconfigs.
 */
export function kubeconfigForMesh(rawKubeconfig: string, serverMeshAddress: string, clusterName: string): string {
    assertMeshAddress("serverMeshAddress", serverMeshAddress);
    assertDnsSubdomain("cluster name", clusterName);
    const host = isIP(serverMeshAddress) === 6 ? `[${serverMeshAddress}]` : serverMeshAddress;
    const escaped = host.replace(/[.[\]]/g, "\\$&");
    const serverLine = new RegExp(`^(\\s*server:\\s*)https://(${escaped}|127\\.0\\.0\\.1):${k3sApiPort}\\s*$`, "m");
    if (!serverLine.test(rawKubeconfig)) fail(`kubeconfig has no \`server: https://${host}:${k3sApiPort}\` line; is it the one k3s wrote on that server?`);
    let renamed = 0;
    const rewritten = rawKubeconfig
        .replace(serverLine, `$1https://${host}:${k3sApiPort}`)
        .replace(/^(\s*(?:-\s+)?(?:name|cluster|user|current-context):\s*)default\s*$/gm, (_line, key: string) => {
            renamed++;
            return `${key}${clusterName}`;
        });
    if (renamed === 0) fail('kubeconfig names no cluster, context or user "default"; is it the one k3s wrote?');
    return rewritten;
}
