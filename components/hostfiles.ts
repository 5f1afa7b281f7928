// HostFiles: some files on a host, then a command that applies them. Mesh, firewall, k3s and edge
// all end this way. One remote command per (host, concern): its stdin is the rendered bundle, so
// it re-runs exactly when a file or the apply step changes, and only on that host.
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { Host } from "./host";
import { BundleFile, renderBundle, validateBundleFile } from "./render/bundle";

export interface HostFile {
    path: string;
    mode: string;
    content: pulumi.Input<string>;
    /** Shell that must accept the new file ("$1") before it replaces the old one. */
    check?: string;
}

export interface HostFilesArgs {
    host: Host;
    files: HostFile[];
    /** Shell run before the files are written (installs the tools the checks need). */
    prepare?: string;
    /** Shell run after the files are written; `hk3s_changed PATH` tells what changed. */
    apply: string;
    /** Shell run when this resource is deleted (the node left the config without decommission). */
    remove?: string;
    /**
     * Shell run instead, while the host is decommissioned: no files, and no delete step, so dropping
     * the node from the config afterwards runs nothing on a host that is gone.
     */
    teardown?: string;
    /** Steps that must finish first (besides the host being ready). */
    after?: pulumi.Resource[];
}

/** Root runs the bundle as is; anyone else through passwordless sudo (cloud images' default user). */
export function asRoot(user: string, script: string): string {
    return user === "root" ? script : `sudo -n ${script}`;
}

export class HostFiles extends pulumi.ComponentResource {
    readonly command: command.remote.Command;

    constructor(name: string, args: HostFilesArgs, opts?: pulumi.ComponentResourceOptions) {
        args.files.forEach(validateBundleFile);
        const leaving = args.host.spec.decommission;
        const files = leaving ? [] : args.files;
        super("hybrid-k3s:host:HostFiles", name, { host: args.host.name, files: files.map(({ path, mode }) => ({ path, mode })), decommission: leaving }, opts);
        const user = args.host.spec.sshUser;
        // The machine's identity is part of the bundle, so a replaced VM gets its files again.
        const stdin = pulumi.all([args.host.identity, pulumi.all(files.map((f) => f.content))]).apply(([identity, texts]) => {
            const bundleFiles: BundleFile[] = files.map((f, i) => ({ path: f.path, mode: f.mode, content: texts[i], check: f.check }));
            const steps = leaving ? { apply: args.teardown ?? "echo 'hybrid-k3s: leaving; nothing to do here'" } : { prepare: args.prepare, apply: args.apply };
            return renderBundle(name, `${name} on ${args.host.name} (${identity})`, bundleFiles, steps);
        });
        this.command = new command.remote.Command(
            name,
            {
                connection: args.host.connection,
                create: asRoot(user, "sh -s"),
                stdin,
                delete: leaving || !args.remove ? undefined : asRoot(user, `sh -c ${shellQuote(args.remove)}`),
                addPreviousOutputInEnv: false,
                // The bundle never prints file content, and apply steps write only diagnostics to stderr
                // (tools that could quote a secret, like wg, are silenced there); stdout stays out of logs.
                logging: "stderr",
            },
            {
                parent: this,
                dependsOn: [...args.host.ready, ...(args.after ?? [])],
                additionalSecretOutputs: ["stdout", "stderr"],
            },
        );
        this.registerOutputs({ stdout: this.command.stdout });
    }
}

export function shellQuote(text: string): string {
    return `'${text.replace(/'/g, `'\\''`)}'`;
}
