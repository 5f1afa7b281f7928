// The Host: one shape for every machine, whatever made it. Everything after this layer is
// cloud-agnostic and talks to hosts only through this record.
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { Arch, NodeSpec, Role } from "./config";

export type Connection = command.types.input.remote.ConnectionArgs;

export interface Host {
    name: string;
    arch: Arch;
    roles: Role[];
    meshAddress: string;
    spec: NodeSpec;
    /** Address the internet reaches it on; undefined behind NAT. */
    publicAddress: pulumi.Output<string | undefined>;
    /** How Pulumi reaches it over SSH (through the hub for hosts behind NAT). */
    connection: pulumi.Output<Connection>;
    /** What must finish before anything runs on it (the VM itself, cloud-init). */
    ready: pulumi.Resource[];
    /** Changes when the machine is replaced (VM id; an existing host's address), so its files are shipped again. */
    identity: pulumi.Output<string>;
    /** Its SSH host key line (`ssh-ed25519 AAAA...`), pinned on every connection to it. */
    hostKey: pulumi.Output<string>;
}

/** What every Host takes from its node spec; each kind adds how its machine is made and reached. */
export abstract class HostComponent extends pulumi.ComponentResource implements Host {
    readonly name: string;
    readonly arch: Arch;
    readonly roles: Role[];
    readonly meshAddress: string;
    abstract readonly publicAddress: pulumi.Output<string | undefined>;
    abstract readonly connection: pulumi.Output<Connection>;
    abstract readonly ready: pulumi.Resource[];
    abstract readonly identity: pulumi.Output<string>;
    abstract readonly hostKey: pulumi.Output<string>;

    protected constructor(
        type: string,
        name: string,
        readonly spec: NodeSpec,
        props: pulumi.Inputs,
        opts?: pulumi.ComponentResourceOptions,
    ) {
        super(type, name, props, opts);
        this.name = spec.name;
        this.arch = spec.arch;
        this.roles = spec.roles;
        this.meshAddress = spec.meshAddress;
    }
}

/** The part of a host's connection a jump through it needs. */
export interface SshEndpoint {
    host: pulumi.Input<string>;
    user: string;
    port: number;
    privateKey: pulumi.Input<string>;
    /** The host key line to pin: @pulumi/command 1.2.1 ignores the host's key when this is absent. */
    hostKey: pulumi.Input<string>;
}

/**
 * An SSH connection with the host key pinned, on the target and on the jump (a mismatch fails the
 * step before anything is sent). Dials retry for a while (a VM still booting, or rebooting after
 * cloud-init), and a host behind NAT is reached on its mesh address through the hub.
 */
export function sshConnection(target: SshEndpoint, jump?: SshEndpoint): pulumi.Output<Connection> {
    const endpoint = (e: SshEndpoint) => ({
        host: e.host,
        user: e.user,
        port: e.port,
        privateKey: e.privateKey,
        hostKey: pulumi.output(e.hostKey).apply((key) => key.trim()),
        dialErrorLimit: 60,
        perDialTimeout: 15,
    });
    return pulumi.output({ ...endpoint(target), proxy: jump && endpoint(jump) });
}

/**
 * Waits for cloud-init on a new VM. Exit 2 is "done with recoverable errors" (cloud-init 23.4+, e.g. a
 * deprecated key in the image's own config) and must not fail the host; anything else does, with the details.
 */
export const cloudInitWaitCommand =
    "status=0; cloud-init status --wait >/dev/null || status=$?; " +
    'if [ "$status" -ne 0 ] && [ "$status" -ne 2 ]; then cloud-init status --long >&2; exit "$status"; fi';

/** The step a cloud VM is ready after: SSH answers (dials retry through boot) and cloud-init is done. */
export function waitForCloudInit(
    name: string,
    connection: pulumi.Output<Connection>,
    machine: pulumi.CustomResource,
    opts: pulumi.CustomResourceOptions,
): command.remote.Command {
    return new command.remote.Command(
        `${name}-cloud-init`,
        {
            connection,
            create: cloudInitWaitCommand,
            // A replaced VM boots afresh: wait for it again.
            triggers: [machine.id],
            addPreviousOutputInEnv: false,
        },
        opts,
    );
}

export interface ExistingHostArgs {
    spec: NodeSpec;
    privateKey: pulumi.Input<string>;
    /** The WireGuard hub, for hosts behind NAT. */
    jump?: SshEndpoint;
    /** ZeroTier: the machine running Pulumi is itself a member, so it reaches NAT hosts on the mesh directly. */
    meshReachesDirectly?: boolean;
}

/** A machine that already exists (a VPS, a laptop at home): no cloud resources, just how to reach it. */
export class ExistingHost extends HostComponent {
    readonly publicAddress: pulumi.Output<string | undefined>;
    readonly connection: pulumi.Output<Connection>;
    readonly ready: pulumi.Resource[] = [];
    readonly identity: pulumi.Output<string>;
    readonly hostKey: pulumi.Output<string>;

    constructor(name: string, args: ExistingHostArgs, opts?: pulumi.ComponentResourceOptions) {
        const existing = args.spec.existing;
        if (!existing) throw new Error(`ExistingHost ${name}: node ${args.spec.name} is not an existing host`);
        if (existing.behindNat && !args.jump && args.spec.provider === "existing" && !args.meshReachesDirectly) {
            throw new Error(`ExistingHost ${name}: ${args.spec.name} is behind NAT and needs the hub as its SSH jump`);
        }
        super("hybrid-k3s:host:ExistingHost", name, args.spec, { node: args.spec.name, behindNat: existing.behindNat, address: existing.address }, opts);
        this.publicAddress = pulumi.output(existing.behindNat ? undefined : existing.address);
        this.hostKey = pulumi.output(existing.hostKey);
        const target = {
            host: existing.behindNat ? args.spec.meshAddress : existing.address!,
            user: args.spec.sshUser,
            port: args.spec.sshPort,
            privateKey: args.privateKey,
            hostKey: existing.hostKey,
        };
        this.connection = sshConnection(target, existing.behindNat ? args.jump : undefined);
        this.identity = pulumi.output(`existing ${existing.address ?? `behind NAT at ${args.spec.meshAddress}`}`);
        this.registerOutputs({ publicAddress: this.publicAddress });
    }
}
