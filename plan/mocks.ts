// Mocks for Pulumi's mock runtime that produce realistic values: real random keys and tokens
// (marked secret, as the real providers mark them), stable placeholder cloud IDs and addresses.
import * as pulumi from "@pulumi/pulumi";
import { createHash, createPrivateKey, createPublicKey, randomBytes } from "crypto";

export interface RecordedResource {
    type: string;
    name: string;
    /** Inputs as the engine received them; secrets still wrapped (see isSecretValue). */
    inputs: Record<string, unknown>;
    custom: boolean;
}

const secretSigKey = "4dabf18193072939515e22adb298388d";
const secretSig = "1b47061264138c4ac30d75fd1eb44270";

/** The engine's wire form of a secret value, as the mocks receive it. */
export function isSecretValue(value: unknown): value is { value: unknown } {
    return typeof value === "object" && value !== null && (value as Record<string, unknown>)[secretSigKey] === secretSig;
}

/** A stable placeholder address in the benchmark range 198.18.1.0-198.18.255.254, derived from a name. */
export function placeholderPublicIp(name: string): string {
    const n = createHash("sha256").update(name).digest().readUInt32BE(0);
    return `198.18.${1 + (n % 255)}.${1 + ((n >>> 8) % 254)}`;
}

function placeholderId(prefix: string, name: string, length = 17): string {
    return `${prefix}${createHash("sha256").update(name).digest("hex").slice(0, length)}`;
}

/** PKCS#8 DER header of a raw Ed25519 private key (its 32-byte seed follows). */
const ed25519Pkcs8Prefix = Buffer.from("302e020100300506032b657004220420", "hex");

/** The PEM label of OpenSSH's key format (built, not spelled out: this file holds a formatter, not a key). */
const opensshPemLabel = ["OPENSSH", "PRIVATE", "KEY"].join(" ");

/** A well-formed `ssh-ed25519` public key line for a named machine that does not exist (synthetic stacks). */
export function placeholderHostKey(name: string): string {
    return ed25519OpenSsh(createHash("sha256").update(`host-key/${name}`).digest(), name).publicKey;
}

/** OpenSSH's own private key format (what tls.PrivateKey.privateKeyOpenssh holds) for an Ed25519 seed. */
function ed25519OpenSsh(seed: Buffer, comment: string): { privateKey: string; publicKey: string } {
    const privateKey = createPrivateKey({ key: Buffer.concat([ed25519Pkcs8Prefix, seed]), format: "der", type: "pkcs8" });
    const pub = createPublicKey(privateKey).export({ format: "der", type: "spki" }).subarray(-32);
    const str = (b: Buffer | string) => {
        const body = Buffer.from(b);
        const len = Buffer.alloc(4);
        len.writeUInt32BE(body.length);
        return Buffer.concat([len, body]);
    };
    const publicBlob = Buffer.concat([str("ssh-ed25519"), str(pub)]);
    const check = seed.subarray(0, 4);
    let secretSection = Buffer.concat([check, check, str("ssh-ed25519"), str(pub), str(Buffer.concat([seed, pub])), str(comment)]);
    const padding = (8 - (secretSection.length % 8)) % 8;
    secretSection = Buffer.concat([secretSection, Buffer.from(Array.from({ length: padding }, (_, i) => i + 1))]);
    const count = Buffer.alloc(4);
    count.writeUInt32BE(1);
    const blob = Buffer.concat([Buffer.from("openssh-key-v1\0"), str("none"), str("none"), str(""), count, str(publicBlob), str(secretSection)]);
    const body = blob
        .toString("base64")
        .replace(/(.{70})/g, "$1\n")
        .trim();
    return {
        privateKey: `-----BEGIN ${opensshPemLabel}-----\n${body}\n-----END ${opensshPemLabel}-----\n`,
        publicKey: `ssh-ed25519 ${publicBlob.toString("base64")}\n`,
    };
}

const alphanumerics = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

function alphanumeric(bytes: Buffer): string {
    return Array.from(bytes, (b) => alphanumerics[b % alphanumerics.length]).join("");
}

/**
 * A kubeconfig shaped like k3s's /etc/rancher/k3s/k3s.yaml, with placeholder credentials. Its
 * server is the bind address when --bind-address is set, else loopback, as k3s writes it
 * (pkg/cli/server/server.go: writeKubeConfig uses BindAddressOrLoopback).
 */
function fakeK3sKubeconfig(bindAddress: string | undefined): string {
    const data = (label: string) => Buffer.from(`placeholder ${label} from the offline plan`).toString("base64");
    return [
        "apiVersion: v1",
        "clusters:",
        "- cluster:",
        `    certificate-authority-data: ${data("cluster CA")}`,
        `    server: https://${bindAddress ?? "127.0.0.1"}:6443`,
        "  name: default",
        "contexts:",
        "- context:",
        "    cluster: default",
        "    user: default",
        "  name: default",
        "current-context: default",
        "kind: Config",
        "preferences: {}",
        "users:",
        "- name: default",
        "  user:",
        `    client-certificate-data: ${data("client certificate")}`,
        `    client-key-data: ${data("client key")}`,
        "",
    ].join("\n");
}

/** What a fresh VM of these types gets a new id for: the inputs their providers replace on (AWS: ami, subnet, key; Azure: image, size of the OS disk...). */
const replaceKeysOf: Record<string, string[]> = {
    "aws:ec2/instance:Instance": ["ami", "subnetId", "keyName", "availabilityZone"],
    "azure-native:compute:VirtualMachine": ["storageProfile", "osProfile"],
};

export class PlanMocks implements pulumi.runtime.Mocks {
    readonly resources: RecordedResource[] = [];
    /**
     * Outputs the program asks the engine to keep secret (additionalSecretOutputs), by `type::name`;
     * the plan fills it from the resource options, since mocks otherwise ignore the option.
     */
    readonly additionalSecretOutputs = new Map<string, string[]>();
    /** Component inputs by name: what a command's output depends on (its K3sNode, say). */
    private readonly components = new Map<string, Record<string, unknown>>();
    /** Every secret value the mocks generated, so the plan can redact them wherever they travel. */
    readonly generatedSecrets = new Map<string, string>();

    /**
     * @param seed makes every generated value a function of (seed, resource name): two plans of one
     * stack then differ only where the program's inputs differ (what blast-radius checks compare).
     */
    constructor(
        private readonly seed?: string,
        /** A first preview: providers have computed nothing yet, so only the inputs come back. */
        private readonly preview = false,
        /**
         * Commands' stdout as a real run printed it, by resource name (what the state holds after an up):
         * the rehearsal feeds back what its machines printed, so later steps get the real values.
         */
        private readonly observedStdout: Record<string, string> = {},
    ) {}

    private bytes(label: string, length: number): Buffer {
        if (this.seed === undefined) return randomBytes(length);
        const out: Buffer[] = [];
        for (let i = 0; out.length * 32 < length; i++) out.push(createHash("sha256").update(`${this.seed}/${label}/${i}`).digest());
        return Buffer.concat(out).subarray(0, length);
    }

    private secret(label: string, value: string): pulumi.Output<string> {
        // An empty secret (a command's empty stderr) hides nothing and would match every text.
        if (value !== "") this.generatedSecrets.set(value, label);
        return pulumi.secret(value);
    }

    newResource(args: pulumi.runtime.MockResourceArgs): { id: string | undefined; state: Record<string, unknown> } {
        this.resources.push({ type: args.type, name: args.name, inputs: args.inputs, custom: args.custom ?? true });
        if (args.custom === false) this.components.set(args.name, args.inputs);
        const outputs = this.preview ? {} : this.outputsFor(args);
        for (const key of this.additionalSecretOutputs.get(`${args.type}::${args.name}`) ?? []) {
            if (key in outputs && !pulumi.Output.isInstance(outputs[key])) outputs[key] = this.secret(`${args.name}.${key}`, String(outputs[key]));
        }
        const state = { ...args.inputs, ...outputs };
        // A replacement is a new machine with a new id (what the host's files key on), like the real providers.
        const replaceInputs = (replaceKeysOf[args.type] ?? []).map((k) => JSON.stringify(args.inputs[k] ?? null)).join("|");
        // A resource a preview would create has no id yet.
        return { id: args.custom === false || this.preview ? undefined : placeholderId(`${args.name}-`, `${args.type}|${replaceInputs}`, 8), state };
    }

    private outputsFor(args: pulumi.runtime.MockResourceArgs): Record<string, unknown> {
        const { type, name, inputs } = args;
        switch (type) {
            case "random:index/randomPassword:RandomPassword": {
                const value = alphanumeric(this.bytes(name, Number(inputs.length ?? 32)));
                return {
                    result: this.secret(`${name}.result`, value),
                    bcryptHash: this.secret(`${name}.bcryptHash`, `$2a$10$${alphanumeric(this.bytes(`${name}.bcrypt`, 53))}`),
                };
            }
            case "random:index/randomBytes:RandomBytes": {
                const bytes = this.bytes(name, Number(inputs.length ?? 32));
                return { base64: this.secret(`${name}.base64`, bytes.toString("base64")), hex: this.secret(`${name}.hex`, bytes.toString("hex")) };
            }
            case "tls:index/privateKey:PrivateKey": {
                const key = ed25519OpenSsh(this.bytes(name, 32), name);
                return {
                    privateKeyOpenssh: this.secret(`${name}.privateKeyOpenssh`, key.privateKey),
                    publicKeyOpenssh: key.publicKey,
                    publicKeyFingerprintSha256: `SHA256:${createHash("sha256").update(key.publicKey).digest("base64").replace(/=+$/, "")}`,
                };
            }
            case "aws:ec2/instance:Instance":
                return {
                    arn: `arn:aws:ec2:::instance/${placeholderId("i-", name)}`,
                    privateIp: "172.31.0.10",
                    publicIp: placeholderPublicIp(`${name}-ephemeral`),
                };
            case "aws:ec2/keyPair:KeyPair":
                return { keyName: placeholderId(`${name}-`, "keypair", 8), fingerprint: placeholderId("", `${name}-fingerprint`, 32) };
            case "aws:ec2/eip:Eip":
                return { publicIp: placeholderPublicIp(name), allocationId: placeholderId("eipalloc-", name) };
            case "azure-native:network:PublicIPAddress":
                return { name, ipAddress: placeholderPublicIp(name) };
            case "command:remote:Command":
                return { stdout: this.commandStdout(name), stderr: "" };
            default:
                // Azure echoes the resource's name back as an output; other resources need nothing extra.
                return type.startsWith("azure-native:") ? { name: args.name } : {};
        }
    }

    /**
     * What the commands whose output the program reads would print on a real host, decided by the
     * resource: `<node>-k3s-kubeconfig` cats the kubeconfig of that node's K3sNode, `<node>-k3s-files`
     * of a server prints its CA hash, a ZeroTier mesh step prints its member id; unless a real run's
     * stdout is known.
     */
    private commandStdout(name: string): unknown {
        if (Object.hasOwn(this.observedStdout, name)) return this.observedStdout[name];
        const k3sNodeOf = (suffix: string) => (name.endsWith(suffix) ? this.components.get(`${name.slice(0, -suffix.length)}-k3s`) : undefined);
        const kubeconfigOf = k3sNodeOf("-k3s-kubeconfig");
        if (kubeconfigOf) {
            const bind = (kubeconfigOf.flags as string[]).find((f) => f.startsWith("--bind-address="))?.split("=")[1];
            return fakeK3sKubeconfig(bind);
        }
        if (k3sNodeOf("-k3s-files")?.role === "server") {
            return `hybrid-k3s: changed: nothing\nhybrid-k3s: server-ca sha256 ${createHash("sha256")
                .update(`${this.seed ?? ""}/${name}/ca`)
                .digest("hex")}\n`;
        }
        if (name.endsWith("-mesh") && this.resources.some((r) => r.type === "hybrid-k3s:mesh:ZeroTierMesh")) {
            return `hybrid-k3s: zerotier member ${placeholderId("", name, 10)}\n`;
        }
        return "";
    }

    call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
        if (args.token === "aws:ec2/getAmi:getAmi") {
            const filters = JSON.stringify(args.inputs.filters ?? []);
            return { ...args.inputs, id: placeholderId("ami-", filters), architecture: filters.includes("arm64") ? "arm64" : "x86_64" };
        }
        if (args.token === "aws:route53/getZone:getZone") return { ...args.inputs, zoneId: placeholderId("Z", String(args.inputs.name), 13).toUpperCase() };
        if (args.token === "aws:index/getAvailabilityZones:getAvailabilityZones") return { names: ["zone-a", "zone-b"], zoneIds: ["use1-az1", "use1-az2"] };
        return args.inputs;
    }
}
