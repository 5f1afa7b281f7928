// k3s settings as /etc/rancher/k3s/config.yaml: keys are k3s's long flag names without "--",
// repeatable flags are YAML lists (docs.k3s.io, installation/configuration "Configuration File").
// Every listener and advertised address is the mesh address (--bind-address defaults to 0.0.0.0,
// and --node-ip does not choose flannel's interface); what k3s cannot pin, the host firewall closes.
// No secret is ever a flag value: tokens and the datastore endpoint are 0600 files k3s reads itself.
import { k3sAgentTokenPath } from "../../paths";
import { fail, K3sNodeFacts, k3sTokenFiles, validateFacts } from "./facts";

/** One config.yaml key: a scalar, true for a bare flag, or a list for a repeatable one. */
export type K3sSetting = [key: string, value: string | true | string[]];

/** Keys we set from the node facts: a second value would rebind k3s off the mesh, bypass the token files or change the topology. */
const rendererOwnedKeys = new Set([
    "node-name",
    "node-ip",
    "node-external-ip",
    "advertise-address",
    "bind-address",
    "flannel-iface",
    "flannel-backend",
    "flannel-external-ip",
    "cluster-cidr",
    "service-cidr",
    "server",
    "cluster-init",
    "token",
    "token-file",
    "agent-token",
    "agent-token-file",
    "config",
    "data-dir",
    "write-kubeconfig-mode",
    "datastore-endpoint",
]);
/** Names of settings whose value is a credential: on a command line it shows in `ps`. */
const secretName = /token|secret|password|access-key|vpn-auth|datastore-endpoint/;
/** Flags that pass `key=value` straight to an embedded component. */
const componentArgKey = /^(kube-apiserver|kube-controller-manager|kube-scheduler|kube-cloud-controller-manager|kube-proxy|kubelet|etcd)-arg$/;
/** Component settings that choose where the component listens or what address it announces. */
const rebindingComponentArg = /(^|-)(bind-)?address$|advertise-|^listen-|^node-ip$/;
/** Flags k3s accepts more than once: they become lists. */
const repeatableKey = /-arg$|^(tls-san|node-label|node-taint|disable|kubelet-arg)$/;

/** The problem with one extra flag from the stack config (`--name` or `--name=value`), if any. */
export function extraFlagProblem(flag: string): string | undefined {
    const match = /^--([a-z0-9][a-z0-9-]*)(?:=(.*))?$/s.exec(flag);
    if (!match) return `"${flag}" must be written --name or --name=value (one list entry per flag)`;
    const [, key, value = ""] = match;
    if (rendererOwnedKeys.has(key)) return `"${flag}" would override ${key}, which is set from the node facts (mesh binding, token files, topology)`;
    if ((secretName.test(key) && !key.endsWith("-file")) || /\/\/[^/\s@]+@/.test(value)) {
        return `"${flag}" would put a secret in the k3s config; ship it in a 0600 file and pass its path`;
    }
    if (componentArgKey.test(key)) {
        const argKey = value.split("=")[0];
        if (rebindingComponentArg.test(argKey)) return `"${flag}" rebinds ${key.slice(0, -4)} ${argKey} off the mesh address`;
        if (secretName.test(argKey)) return `"${flag}" would put a secret in the k3s config; ship it in a 0600 file`;
    }
    if (/(^|[^0-9.])0\.0\.0\.0(?![0-9.])|\[::\]|(^|[=,])::($|[,/])/.test(value)) return `"${flag}" names a wildcard address; k3s must stay on the mesh address`;
    // eslint-disable-next-line no-control-regex -- control characters are exactly what this refuses
    if (/[\x00-\x1f\x7f]/.test(value)) return `"${flag}" contains a control character`;
    return undefined;
}

/** The node's k3s settings, in a stable order. Throws on facts or extra flags that break the rules above. */
export function k3sSettings(f: K3sNodeFacts): K3sSetting[] {
    validateFacts(f);
    const mesh = f.meshAddress;
    const settings: K3sSetting[] = [
        ["node-name", f.nodeName],
        ["node-ip", mesh],
        ["node-external-ip", mesh],
        ["bind-address", mesh],
        ["flannel-iface", f.meshInterface],
        // Servers hold both tokens: the server one to join peers, the agent one to accept agents.
        ["token-file", k3sTokenFiles(f)[0]],
        ...(f.role === "server" ? serverSettings(f) : [["server", f.serverUrl!] as K3sSetting]),
        ...((f.nodeLabels ?? []).length > 0 ? [["node-label", [...f.nodeLabels!]] as K3sSetting] : []),
        ...((f.nodeTaints ?? []).length > 0 ? [["node-taint", [...f.nodeTaints!]] as K3sSetting] : []),
    ];
    for (const flag of f.extraFlags) {
        const problem = extraFlagProblem(flag);
        if (problem) fail(`node ${f.nodeName}: extra flag ${problem}`);
        const [, key, value] = /^--([a-z0-9-]+)(?:=(.*))?$/s.exec(flag)!;
        const existing = settings.find(([k]) => k === key);
        if (existing && Array.isArray(existing[1]) && value !== undefined) existing[1].push(value);
        else if (existing) fail(`node ${f.nodeName}: extra flag "${flag}" sets ${key} twice`);
        else settings.push([key, value === undefined ? true : repeatableKey.test(key) ? [value] : value]);
    }
    return settings;
}

function serverSettings(f: K3sNodeFacts): K3sSetting[] {
    const mesh = f.meshAddress;
    return [
        ["advertise-address", mesh],
        ["agent-token-file", k3sAgentTokenPath],
        ["flannel-backend", f.flannelBackend],
        // Needs node-external-ip (set above); flannel then uses the mesh address between nodes.
        ["flannel-external-ip", true],
        // Both grab host ports 80/443 that the edge proxy and Istio need.
        ["disable", ["traefik", "servicelb"]],
        ["tls-san", [...new Set([mesh, ...f.tlsSans])]],
        ["cluster-cidr", f.clusterCidr],
        ["service-cidr", f.serviceCidr],
        // The kubeconfig holds cluster-admin credentials: root only.
        ["write-kubeconfig-mode", "0600"],
        ...(f.clusterInit ? [["cluster-init", true] as K3sSetting] : []),
        ...(f.serverUrl ? [["server", f.serverUrl] as K3sSetting] : []),
    ];
}

/** The same settings as flags (what the policy pack reads to prove the API binds to the mesh). */
export function k3sFlags(f: K3sNodeFacts): string[] {
    return k3sSettings(f).flatMap(([key, value]) =>
        value === true ? [`--${key}`] : Array.isArray(value) ? value.map((v) => `--${key}=${v}`) : [`--${key}=${value}`],
    );
}

/** config.yaml: JSON strings are valid YAML scalars, so no value can break out of its key. */
export function renderK3sConfig(f: K3sNodeFacts): string {
    const lines = [`# k3s ${f.role} on ${f.nodeName}: rendered by hybrid-k3s. k3s reads this file at every start.`];
    for (const [key, value] of k3sSettings(f)) {
        if (value === true) lines.push(`${key}: true`);
        else if (Array.isArray(value)) lines.push(`${key}:`, ...value.map((v) => `  - ${JSON.stringify(v)}`));
        else lines.push(`${key}: ${JSON.stringify(value)}`);
    }
    return lines.join("\n") + "\n";
}

/**
 * The external datastore drop-in (config.yaml.d, read after config.yaml): only the endpoint, so the
 * credentials in it never reach a command line, an environment variable or the main config file.
 */
export function renderDatastoreConfig(endpoint: string): string {
    if (endpoint.trim() === "") fail("the datastore endpoint is empty");
    return `datastore-endpoint: ${JSON.stringify(endpoint)}\n`;
}

/**
 * An agent's token file: the secure format `K10<CA hash>::node:<password>` pins the server's CA, so
 * an agent never sends its credentials to a server it cannot authenticate (docs.k3s.io, cli/token:
 * the hash is the SHA256 of the PEM server CA as stored on disk).
 */
export function agentJoinToken(serverCaSha256: string, agentPassword: string): string {
    if (!/^[0-9a-f]{64}$/.test(serverCaSha256)) fail(`server CA hash "${serverCaSha256}" is not a SHA256 hex digest`);
    if (!/^[A-Za-z0-9]+$/.test(agentPassword)) fail("the agent token must be alphanumeric");
    return `K10${serverCaSha256}::node:${agentPassword}`;
}
