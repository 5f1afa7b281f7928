// What the k3s renderers know about one node, and the checks every renderer runs on it first.
import { isIP } from "node:net";
import { isDnsSubdomain } from "../../net";
import { k3sAgentTokenPath, k3sOwnServerTokenPath, k3sTokenPath } from "../../paths";
import { interfaceNamePattern, k3sVersionExample, k3sVersionPattern, releaseUrlPattern } from "../../patterns";

export interface K3sNodeFacts {
    /** Kubernetes node name (RFC 1123 subdomain). */
    nodeName: string;
    role: "server" | "agent";
    /** The node's address on the mesh; every k3s listener and advertisement uses it. */
    meshAddress: string;
    /** wg0 or zt0: flannel's interface. */
    meshInterface: string;
    /** "wg-quick@wg0.service" or "zerotier-one.service": k3s starts after it and stops with it. */
    meshUnit: string;
    arch: "arm64" | "amd64";
    /** k3s release tag, e.g. v1.36.1+k3s1: written to the version file. */
    version: string;
    /** Where releases are downloaded from: <base>/<tag>/<asset>. */
    releaseBaseUrl: string;
    /** Agents and joining servers: https://10.0.0.4:6443. */
    serverUrl?: string;
    /** First of several embedded-etcd servers. */
    clusterInit?: boolean;
    clusterCidr: string;
    serviceCidr: string;
    /** Extra names or addresses for the API certificate; the mesh address is always included. */
    tlsSans: string[];
    flannelBackend: "wireguard-native" | "vxlan";
    /** External datastore: the endpoint sits in a 0600 config drop-in, never inline. */
    externalDatastore?: boolean;
    extraFlags: string[];
    nodeLabels?: string[];
    nodeTaints?: string[];
    /** A k3s this project did not install runs here and the node says adopt: keep its data and token. */
    adopt?: boolean;
    /** Removal deletes the data directory too; otherwise it stays. */
    purge?: boolean;
}

/**
 * The token files k3s reads (servers: the server token, then the agent token they accept agents by).
 * An adopted server keeps the token k3s wrote itself: its datastore is encrypted with it and it
 * cannot change once the cluster exists (docs.k3s.io/cli/token, "Server").
 */
export function k3sTokenFiles(f: Pick<K3sNodeFacts, "role" | "adopt">): string[] {
    if (f.role === "agent") return [k3sAgentTokenPath];
    return [f.adopt ? k3sOwnServerTokenPath : k3sTokenPath, k3sAgentTokenPath];
}

export function fail(message: string): never {
    throw new Error(`k3s: ${message}`);
}

export function assertDnsSubdomain(what: string, name: string): void {
    if (!isDnsSubdomain(name)) fail(`${what} ${JSON.stringify(name)} is not an RFC 1123 name (lowercase letters, digits, '-' and '.'; labels of at most 63)`);
}

export function assertMeshAddress(what: string, address: string): void {
    const family = isIP(address);
    if (family === 0) fail(`${what} "${address}" is not an IP address`);
    const wildcardOrLoopback = family === 4 ? /^(0\.0\.0\.0|127\.)/ : /^(::|::1|[0:]+)$/;
    if (wildcardOrLoopback.test(address)) fail(`${what} "${address}" is a wildcard or loopback address; use the node's mesh address`);
}

export function assertVersion(version: string): void {
    if (!k3sVersionPattern.test(version)) fail(`version "${version}" is not a k3s release tag like ${k3sVersionExample}`);
}

function assertServerUrl(what: string, url: string): void {
    const match = /^https:\/\/(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$/.exec(url);
    if (!match) fail(`${what} "${url}" must look like https://10.0.0.4:6443`);
    const host = match[1].replace(/^\[|\]$/g, "");
    if (isIP(host) !== 0) assertMeshAddress(what, host);
}

function assertCidr(what: string, cidrs: string): void {
    // Dual-stack clusters give one IPv4 and one IPv6 CIDR, comma-separated.
    for (const cidr of cidrs.split(",")) {
        const [address, prefix, ...rest] = cidr.split("/");
        const family = isIP(address);
        const maxPrefix = family === 4 ? 32 : 128;
        if (family === 0 || rest.length > 0 || !/^[0-9]{1,3}$/.test(prefix ?? "") || Number(prefix) > maxPrefix)
            fail(`${what} "${cidrs}" is not a CIDR like 10.42.0.0/16`);
    }
}

/** Throws on facts that would bind k3s off the mesh or describe an impossible topology. */
export function validateFacts(f: K3sNodeFacts): void {
    assertDnsSubdomain("node name", f.nodeName);
    const who = `node ${f.nodeName}`;
    assertMeshAddress(`${who}: meshAddress`, f.meshAddress);
    if (!interfaceNamePattern.test(f.meshInterface)) fail(`${who}: meshInterface "${f.meshInterface}" is not an interface name like wg0`);
    if (!/^[A-Za-z0-9:_.@-]+\.service$/.test(f.meshUnit)) fail(`${who}: meshUnit "${f.meshUnit}" is not a systemd service name like wg-quick@wg0.service`);
    assertVersion(f.version);
    if (!releaseUrlPattern.test(f.releaseBaseUrl)) fail(`${who}: releaseBaseUrl "${f.releaseBaseUrl}" is not an http(s) URL without credentials or quotes`);
    if (f.serverUrl !== undefined) assertServerUrl(`${who}: serverUrl`, f.serverUrl);
    if (f.role === "agent") {
        if (f.serverUrl === undefined) fail(`${who}: an agent needs serverUrl (https://<server mesh address>:6443)`);
        if (f.clusterInit || f.externalDatastore) fail(`${who}: clusterInit and externalDatastore are server settings, not agent ones`);
    } else {
        assertCidr(`${who}: clusterCidr`, f.clusterCidr);
        assertCidr(`${who}: serviceCidr`, f.serviceCidr);
        f.tlsSans.forEach((san) => {
            if (isIP(san) === 0 && !isDnsSubdomain(san)) fail(`${who}: tlsSans entry "${san}" is neither an IP address nor a DNS name`);
        });
        if (f.clusterInit && f.serverUrl !== undefined) fail(`${who}: clusterInit starts a new etcd cluster, serverUrl joins one; set only one`);
        if (f.externalDatastore && (f.clusterInit || f.serverUrl !== undefined))
            fail(`${who}: with an external datastore servers neither init nor join embedded etcd; drop clusterInit and serverUrl`);
    }
}
