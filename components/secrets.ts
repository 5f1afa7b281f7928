// Every secret the cluster needs, generated and kept secret in state: the k3s join token, one
// WireGuard key pair per node and operator, and the SSH key the cloud VMs trust.
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as tls from "@pulumi/tls";
import { wireguardPublicKey } from "./render/wireguard";

export interface WireguardKeyPair {
    privateKey: pulumi.Output<string>;
    publicKey: pulumi.Output<string>;
}

export interface ClusterSecretsArgs {
    /** Names of everything that needs a WireGuard key pair (nodes and operators); empty for ZeroTier. */
    wireguardPeers: string[];
}

export class ClusterSecrets extends pulumi.ComponentResource {
    readonly k3sToken: pulumi.Output<string>;
    readonly sshPrivateKey: pulumi.Output<string>;
    readonly sshPublicKey: pulumi.Output<string>;
    readonly wireguard: Record<string, WireguardKeyPair>;

    constructor(name: string, args: ClusterSecretsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("hybrid-k3s:secrets:ClusterSecrets", name, { wireguardPeers: args.wireguardPeers }, opts);
        const child = { parent: this };

        // 48 alphanumerics: k3s accepts any string, and shell-safe characters keep the token file simple.
        const token = new random.RandomPassword(`${name}-k3s-token`, { length: 48, special: false }, child);
        this.k3sToken = pulumi.secret(token.result);

        const sshKey = new tls.PrivateKey(`${name}-ssh`, { algorithm: "ED25519" }, child);
        this.sshPrivateKey = pulumi.secret(sshKey.privateKeyOpenssh);
        this.sshPublicKey = sshKey.publicKeyOpenssh;

        // Resources are keyed by peer name, so adding a peer never regenerates another's key.
        this.wireguard = Object.fromEntries(args.wireguardPeers.map((peer) => {
            const bytes = new random.RandomBytes(`${name}-wg-${peer}`, { length: 32 }, child);
            const privateKey = pulumi.secret(bytes.base64);
            // The public half is derived, and safe to show.
            const publicKey = pulumi.unsecret(privateKey.apply(wireguardPublicKey));
            return [peer, { privateKey, publicKey }];
        }));

        this.registerOutputs({ k3sToken: this.k3sToken, sshPublicKey: this.sshPublicKey });
    }
}
