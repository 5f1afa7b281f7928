// The base image every machine boots from: Debian bookworm minbase with every package the plan's
// scripts would install, so no machine needs the internet. Built once and cached, keyed by a hash
// of the package list, because debootstrap is the slow part of a rehearsal.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "./shell";

const suite = "bookworm";
const mirror = "http://deb.debian.org/debian";

/** What the plan's scripts install (mesh, firewall, k3s install, edge) plus what sshd, systemd and the checks need. */
export const basePackages = [
    // netbase: /etc/protocols, which nft needs to resolve names like ipv6-icmp (every standard and cloud image has it).
    "systemd",
    "systemd-sysv",
    "dbus",
    "iproute2",
    "iputils-ping",
    "procps",
    "kmod",
    "netbase",
    "openssh-server",
    "openssh-client",
    "sudo",
    "curl",
    "ca-certificates",
    "nftables",
    "wireguard-tools",
    "wireguard-go",
    "haproxy",
    "nginx-light",
    "libnginx-mod-stream",
    "socat",
    "netcat-openbsd",
].sort();

export const cacheRoot = "/var/cache/hybrid-k3s/rehearsal";

export function baseImageDir(): string {
    const key = createHash("sha256")
        .update([suite, ...basePackages].join("\n"))
        .digest("hex")
        .slice(0, 12);
    return join(cacheRoot, `base-${suite}-${key}`);
}

/** Returns the cached image, building it first when missing (a half-built one is never reused). */
export async function ensureBaseImage(log: (line: string) => void): Promise<string> {
    const dir = baseImageDir();
    if (existsSync(join(dir, ".complete"))) return dir;
    const building = `${dir}.building-${process.pid}`;
    rmSync(building, { recursive: true, force: true });
    mkdirSync(cacheRoot, { recursive: true });
    log(`base image: building ${dir} with debootstrap (once; a few minutes)`);
    const started = Date.now();
    await run("debootstrap", ["--variant=minbase", `--include=${basePackages.join(",")}`, suite, building, mirror]);
    await run("chroot", [building, "sh", "-c", prepareScript]);
    writeFileSync(join(building, ".complete"), `${new Date().toISOString()} ${(Date.now() - started) / 1000}s\n`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(building, dir);
    // Images for other package lists are stale now: keep the cache to one image.
    for (const entry of readdirSync(cacheRoot)) {
        if (entry.startsWith(`base-${suite}-`) && !entry.includes(".building") && join(cacheRoot, entry) !== dir)
            rmSync(join(cacheRoot, entry), { recursive: true, force: true });
    }
    log(`base image: built in ${Math.round((Date.now() - started) / 1000)} s`);
    return dir;
}

// The edge packages are pre-installed only so no machine needs a mirror; like a fresh host, none
// of their services may run until the edge step enables one. apt caches are dropped to keep overlays small.
const prepareScript = [
    "set -e",
    "systemctl disable nginx.service haproxy.service",
    "rm -f /etc/nginx/sites-enabled/default",
    "systemctl mask systemd-networkd-wait-online.service getty@tty1.service console-getty.service",
    "apt-get clean",
    "rm -rf /var/lib/apt/lists/*",
    "rm -f /etc/ssh/ssh_host_*",
    "echo 'PasswordAuthentication no' > /etc/ssh/sshd_config.d/rehearsal.conf",
    ": > /etc/machine-id",
].join("\n");
