// The syntax of every name, version and address the program writes into a script, a unit, a config
// file or a cloud name, once. Config validation reports a value that breaks one; renderers assert
// the same pattern again, so a renderer called with unchecked facts still fails closed.

/** A k3s release tag: v1.36.1+k3s1, v1.37.0-rc1+k3s1. */
export const k3sVersionPattern = /^v\d+\.\d+\.\d+(-rc\d+)?\+k3s\d+$/;
export const k3sVersionExample = "v1.36.1+k3s1";

/** A Helm chart version as Istio and cert-manager publish them (1.30.5, v1.21.2). */
export const chartVersionPattern = /^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/;

/**
 * A network interface name every consumer accepts: Linux allows 15 bytes, wg-quick
 * [a-zA-Z0-9_=+.-]{1,15}, nftables quotes it, systemd puts it in a unit name (wg-quick@NAME).
 * A leading letter keeps it from looking like an option or a number.
 */
export const interfaceNamePattern = /^[A-Za-z][A-Za-z0-9_.-]{0,14}$/;

/** A login name useradd and sshd accept, and a shell never re-reads (no quotes, spaces or $). */
export const unixUserPattern = /^[a-z_][a-z0-9_-]{0,31}$/;

/** An email address as ACME accounts take it; deliberately loose, but one line without spaces. */
export const emailPattern = /^[^@\s"'\\]+@[^@\s"'\\]+\.[^@\s"'\\]+$/;

/** An OpenSSH public key line (`ssh-keyscan` / `/etc/ssh/ssh_host_*_key.pub`), comment dropped. */
export const sshPublicKeyPattern = /^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+={0,3}$/;

/** An http(s) URL without credentials, quotes or spaces, safe inside a single-quoted shell word. */
export const releaseUrlPattern = /^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?(\/[A-Za-z0-9._~%/+-]*)?$/;

/**
 * Where an edge proxy forwards (edgeFallback): an IPv4 address or a bracketed IPv6 address, then a
 * port. HAProxy and NGINX both read it unquoted as `server <host:port>`, and both refuse to start
 * when a name there does not resolve (checked with haproxy -c and nginx -t), so no DNS names.
 * The syntax only; the address itself is checked with isIP.
 */
export const hostPortPattern = /^(\[[0-9A-Fa-f:.]+\]|[0-9.]+):([1-9][0-9]{0,4})$/;
export const hostPortExample = "127.0.0.1:8443";

/** WireGuard MTU bounds: IPv6 needs 1280; 9000 is a jumbo frame. */
export const mtuBounds = { min: 1280, max: 9000 } as const;

/** True for `type base64` whose blob really is a key of that type (the blob names its own type first). */
export function isSshPublicKey(line: string): boolean {
    if (!sshPublicKeyPattern.test(line)) return false;
    const [type, blob] = line.split(" ");
    const bytes = Buffer.from(blob, "base64");
    if (bytes.length < 4 || bytes.toString("base64") !== blob) return false;
    const length = bytes.readUInt32BE(0);
    return bytes.subarray(4, 4 + length).toString("latin1") === type;
}
