// Shared fixtures of the render/k3s tests: the nodes' k3s facts, scratch directories and executable stubs.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { K3sNodeFacts } from "../../components/render/k3s";

const scratchDirs: string[] = [];
export function scratch(prefix: string): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    scratchDirs.push(dir);
    return dir;
}
/** Removes every directory scratch() made; each suite calls it in its after hook. */
export const removeScratchDirs = () => scratchDirs.splice(0).forEach((dir) => rmSync(dir, { recursive: true, force: true }));

export const firstServer: K3sNodeFacts = {
    nodeName: "k3s-soh-re",
    role: "server",
    meshAddress: "10.0.0.4",
    meshInterface: "wg0",
    meshUnit: "wg-quick@wg0.service",
    arch: "amd64",
    version: "v1.36.1+k3s1",
    releaseBaseUrl: "https://mirror.example.net/k3s",
    clusterInit: true,
    clusterCidr: "10.42.0.0/16",
    serviceCidr: "10.43.0.0/16",
    tlsSans: ["k3s.soh.re"],
    flannelBackend: "wireguard-native",
    extraFlags: [],
};
export const joiningServer: K3sNodeFacts = {
    ...firstServer,
    nodeName: "k3s-two",
    meshAddress: "10.0.0.5",
    clusterInit: false,
    serverUrl: "https://10.0.0.4:6443",
};
export const agent: K3sNodeFacts = {
    ...firstServer,
    nodeName: "black-intel",
    role: "agent",
    meshAddress: "10.0.0.7",
    arch: "arm64",
    clusterInit: undefined,
    serverUrl: "https://10.0.0.4:6443",
};
export const zerotierAgent: K3sNodeFacts = {
    ...agent,
    nodeName: "aws-edge",
    meshAddress: "10.45.0.20",
    meshInterface: "zt0",
    meshUnit: "zerotier-one.service",
    arch: "amd64",
};
export const externalDatastoreServer: K3sNodeFacts = { ...firstServer, clusterInit: false, externalDatastore: true };

export function writeExecutable(path: string, content: string): void {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
    chmodSync(path, 0o755);
}
