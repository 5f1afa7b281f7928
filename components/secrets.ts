// Every secret the cluster needs, generated and kept secret in state: the k3s server and agent
// tokens, one WireGuard key pair per node and operator, the SSH key the hosts trust, and an SSH
// host key per cloud VM (pinned on every connection to it).
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as tls from "@pulumi/tls";
import { wireguardPublicKey } from "./render/wireguard";

export interface WireguardKeyPair {
    privateKey: pulumi.Output<string>;
    publicKey: pulumi.Output<string>;
}

export interface SshHostKeyPair {
    privateKey: pulumi.Output<string>;
    /** `ssh-ed25519 AAAA...`, safe to show. */
    publicKey: pulumi.Output<string>;
}

export interface ClusterSecretsArgs {
    /** Names of everything that needs a WireGuard key pair (nodes and operators); empty for ZeroTier. */
    wireguardPeers: string[];
    /** Cloud VMs, whose host keys Pulumi makes (existing hosts bring their own). */
    cloudHosts: string[];
}

export class ClusterSecrets extends pulumi.ComponentResource {
    /** Full cluster admin: servers only. */
    readonly k3sServerToken: pulumi.Output<string>;
    /** Lets an agent join, nothing more: a stolen laptop does not hand over the cluster. */
    readonly k3sAgentToken: pulumi.Output<string>;
    readonly sshPrivateKey: pulumi.Output<string>;
    readonly sshPublicKey: pulumi.Output<string>;
    readonly wireguard: Record<string, WireguardKeyPair>;
    readonly hostKeys: Record<string, SshHostKeyPair>;

    constructor(name: string, args: ClusterSecretsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("hybrid-k3s:secrets:ClusterSecrets", name, { wireguardPeers: args.wireguardPeers, cloudHosts: args.cloudHosts }, opts);
        const child = { parent: this };

        // 48 alphanumerics: k3s accepts any string, and shell-safe characters keep the token files simple.
        const token = (id: string) => pulumi.secret(new random.RandomPassword(`${name}-${id}`, { length: 48, special: false }, child).result);
        this.k3sServerToken = token("k3s-token");
        this.k3sAgentToken = token("k3s-agent-token");

        const sshKey = new tls.PrivateKey(`${name}-ssh`, { algorithm: "ED25519" }, child);
        this.sshPrivateKey = pulumi.secret(sshKey.privateKeyOpenssh);
        this.sshPublicKey = sshKey.publicKeyOpenssh;

        // Resources are keyed by peer name, so adding a peer never regenerates another's key.
        this.wireguard = Object.fromEntries(
            args.wireguardPeers.map((peer) => {
                const bytes = new random.RandomBytes(`${name}-wg-${peer}`, { length: 32 }, child);
                const privateKey = pulumi.secret(bytes.base64);
                // The public half is derived, and safe to show.
                const publicKey = pulumi.unsecret(privateKey.apply(wireguardPublicKey));
                return [peer, { privateKey, publicKey }];
            }),
        );

        this.hostKeys = Object.fromEntries(
            args.cloudHosts.map((host) => {
                const key = new tls.PrivateKey(`${name}-host-key-${host}`, { algorithm: "ED25519" }, child);
                return [host, { privateKey: pulumi.secret(key.privateKeyOpenssh), publicKey: key.publicKeyOpenssh.apply((k) => k.trim()) }];
            }),
        );

        this.registerOutputs({ sshPublicKey: this.sshPublicKey });
    }
}
