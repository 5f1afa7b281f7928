// What a machine's disk holds before its first boot, as the real host would have it: a cloud VM
// from its image and user data (through the stand-in cloud-init), an existing host as its owner
// keeps it (sshd with its own host key; the cluster's key arrives with the bootstrap script).
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { run } from "./shell";

export interface MachineDisk {
    node: string;
    /** Set for cloud VMs: what cloud-init would read. */
    cloud?: { userData: string; defaultUser: string; authorizedKeys: string };
    /** The host declares itself arm64: `uname -m` answers aarch64 (the stand-in k3s serves both assets). */
    arm64: boolean;
    /** An existing host's own SSH host key (what its owner reads and puts in the node's hostKey). */
    hostKey?: HostKeyPair;
    /** Set when this machine's open-files hard limit is below a real host's: the most HAProxy may use. */
    haproxyMaxconn?: number;
}

/** What systemd gives services on a real host (DefaultLimitNOFILE's hard value). */
export const realHostOpenFiles = 524288;

/**
 * The hard open-files limit machines inherit from this host (a container or sandbox may cap it), and
 * the HAProxy maxconn that fits (HAProxy needs about two descriptors per connection); undefined when
 * the host gives as much as a real one.
 */
export function haproxyMaxconnForHost(): { limit: number; maxconn?: number } {
    const limit = Number(/^Max open files\s+\S+\s+(\S+)/m.exec(readFileSync("/proc/self/limits", "utf8"))?.[1]);
    return { limit, maxconn: limit >= realHostOpenFiles ? undefined : Math.floor((limit - 100) / 2) };
}

const standinDir = join(__dirname, "standin");

export interface HostKeyPair {
    privateKey: string;
    /** The public key line, as `hostKey` takes it. */
    publicKey: string;
}

/** A fresh ed25519 host key, made before the first plan: the stack config pins it, as a user's would. */
export async function generateHostKey(dir: string, node: string): Promise<HostKeyPair> {
    mkdirSync(dir, { recursive: true });
    const file = join(dir, node);
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `root@${node}`, "-f", file]);
    return { privateKey: readFileSync(file, "utf8"), publicKey: readFileSync(`${file}.pub`, "utf8").trim() };
}

/** Writes the machine's own files into its root. */
export async function provisionDisk(root: string, disk: MachineDisk): Promise<void> {
    const put = (path: string, content: string, mode = 0o644) => {
        mkdirSync(dirname(join(root, path)), { recursive: true });
        writeFileSync(join(root, path), content, { mode });
        chmodSync(join(root, path), mode);
    };
    put("/etc/hostname", `${disk.node}\n`);
    put("/etc/hosts", ["127.0.0.1 localhost", `127.0.1.1 ${disk.node}`, ""].join("\n"));
    await run("systemd-machine-id-setup", ["--root", root]);
    if (disk.arm64) {
        put(
            "/usr/local/bin/uname",
            [
                "#!/bin/sh",
                "# Rehearsal stand-in: this x86_64 machine plays an arm64 host, so `uname -m` says aarch64.",
                'if [ "$#" -eq 1 ] && [ "$1" = -m ]; then echo aarch64; else exec /usr/bin/uname "$@"; fi',
                "",
            ].join("\n"),
            0o755,
        );
    }
    if (disk.haproxyMaxconn) {
        // Rehearsal adaptation, announced at start: this host caps open files below a real host's, and
        // the plan's maxconn would need more. -n on the command line lowers it; the config stays as shipped.
        put(
            "/etc/systemd/system/haproxy.service.d/rehearsal-open-files.conf",
            [
                "# Rehearsal adaptation (not shipped by hybrid-k3s): the rehearsal host's open-files limit is below a real host's.",
                "[Service]",
                `Environment="EXTRAOPTS=-S /run/haproxy-master.sock -n ${disk.haproxyMaxconn}"`,
                "",
            ].join("\n"),
        );
    }
    if (disk.cloud) {
        put("/var/lib/cloud/seed/rehearsal/user-data", disk.cloud.userData, 0o600);
        put("/var/lib/cloud/seed/rehearsal/default-user", `${disk.cloud.defaultUser}\n`, 0o600);
        put("/var/lib/cloud/seed/rehearsal/authorized-keys", disk.cloud.authorizedKeys, 0o600);
        put("/usr/bin/cloud-init", readFileSync(join(standinDir, "cloud-init"), "utf8"), 0o755);
        put("/etc/systemd/system/cloud-init.service", readFileSync(join(standinDir, "cloud-init.service"), "utf8"));
        symlinkSync("/etc/systemd/system/cloud-init.service", join(root, "etc/systemd/system/multi-user.target.wants/cloud-init.service"));
        return;
    }
    if (disk.hostKey) {
        put("/etc/ssh/ssh_host_ed25519_key", disk.hostKey.privateKey, 0o600);
        put("/etc/ssh/ssh_host_ed25519_key.pub", `${disk.hostKey.publicKey}\n`);
    }
}
