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
}

export interface HostFilesArgs {
    host: Host;
    files: HostFile[];
    /** Shell run after the files are written; `hk3s_changed PATH` tells what changed. */
    apply: string;
    /** Shell run when this resource is deleted (the node left the config). */
    remove?: string;
    /**
     * Environment for the first run only (e.g. the k3s version a fresh host installs): changing it
     * later does not re-run the command, so rolling steps elsewhere can own that change.
     */
    firstRunEnv?: Record<string, string>;
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
        super("hybrid-k3s:host:HostFiles", name, { host: args.host.name, files: args.files.map(({ path, mode }) => ({ path, mode })) }, opts);
        const user = args.host.spec.sshUser;
        const contents = args.files.map((f) => f.content);
        // The machine's identity is part of the bundle, so a replaced VM gets its files again.
        const stdin = pulumi.all([args.host.identity, pulumi.all(contents)]).apply(([identity, texts]) => {
            const files: BundleFile[] = args.files.map((f, i) => ({ path: f.path, mode: f.mode, content: texts[i] }));
            return renderBundle(`${name} on ${args.host.name} (${identity})`, files, args.apply);
        });
        const env = Object.entries(args.firstRunEnv ?? {}).map(([k, v]) => `${k}=${shellQuote(v)} `).join("");
        this.command = new command.remote.Command(name, {
            connection: args.host.connection,
            create: asRoot(user, `env ${env}sh -s`),
            stdin,
            delete: args.remove && asRoot(user, `sh -c ${shellQuote(args.remove)}`),
            // File content may be secret; the bundle never prints it, but keep output out of logs anyway.
            logging: "stdoutAndStderr",
        }, {
            parent: this,
            dependsOn: [...args.host.ready, ...(args.after ?? [])],
            additionalSecretOutputs: ["stdout", "stderr"],
            ignoreChanges: args.firstRunEnv ? ["create"] : undefined,
        });
        this.registerOutputs({ stdout: this.command.stdout });
    }
}

export function shellQuote(text: string): string {
    return `'${text.replace(/'/g, `'\\''`)}'`;
}
