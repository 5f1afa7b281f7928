// IPv4 address and CIDR arithmetic: pure functions, used by config validation and address assignment.
import { createHash } from "crypto";

export interface Cidr {
    /** Network address as an unsigned 32-bit integer. */
    network: number;
    prefix: number;
    text: string;
}

const ipv4Pattern = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Parses dotted-quad IPv4; undefined when it is not one. */
export function parseIpv4(text: string): number | undefined {
    const match = ipv4Pattern.exec(text.trim());
    if (!match) return undefined;
    const octets = match.slice(1).map(Number);
    if (octets.some((o, i) => o > 255 || (match[i + 1].length > 1 && match[i + 1].startsWith("0")))) return undefined;
    return ((octets[0] << 24) >>> 0) + (octets[1] << 16) + (octets[2] << 8) + octets[3];
}

export function formatIpv4(value: number): string {
    return [24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join(".");
}

/** Parses "a.b.c.d/n" and insists the address is the network address (10.0.0.1/24 is a typo for 10.0.0.0/24). */
export function parseCidr(text: string): Cidr | undefined {
    const [addressText, prefixText, ...rest] = text.trim().split("/");
    if (rest.length > 0 || prefixText === undefined || !/^\d{1,2}$/.test(prefixText)) return undefined;
    const address = parseIpv4(addressText);
    const prefix = Number(prefixText);
    if (address === undefined || prefix > 32) return undefined;
    if ((address & ~maskOf(prefix)) >>> 0 !== 0) return undefined;
    return { network: address, prefix, text: `${formatIpv4(address)}/${prefix}` };
}

function maskOf(prefix: number): number {
    return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** The network of `prefix` bits that holds an address (10.0.0.7, 24 → 10.0.0.0/24). */
export function networkOf(address: number, prefix: number): Cidr {
    const network = (address & maskOf(prefix)) >>> 0;
    return { network, prefix, text: `${formatIpv4(network)}/${prefix}` };
}

export function cidrSize(cidr: Cidr): number {
    return 2 ** (32 - cidr.prefix);
}

export function cidrContains(cidr: Cidr, address: number): boolean {
    return address >= cidr.network && address < cidr.network + cidrSize(cidr);
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
    return cidrContains(a, b.network) || cidrContains(b, a.network);
}

/** True for the network and broadcast addresses, which no host may take (for prefixes up to /30). */
export function isReservedInCidr(cidr: Cidr, address: number): boolean {
    if (cidr.prefix >= 31) return false;
    return address === cidr.network || address === cidr.network + cidrSize(cidr) - 1;
}

export function isPort(value: unknown): value is number {
    return typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= 65535;
}

const dnsLabelPattern = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** An RFC 1123 label: a hostname, a Kubernetes object name, an interface-safe node name. */
export function isDnsLabel(text: string): boolean {
    return dnsLabelPattern.test(text);
}

/** RFC 1123 labels joined by dots (a Kubernetes node name may be one). */
export function isDnsSubdomain(text: string): boolean {
    return text.length <= 253 && text.split(".").every(isDnsLabel);
}

/** A name in the public DNS: at least two labels, the top one not numeric (so not an IPv4 address). */
export function isDnsName(text: string): boolean {
    const labels = text.split(".");
    return isDnsSubdomain(text) && labels.length >= 2 && /^[a-z]/.test(labels[labels.length - 1]);
}

/**
 * The mesh address a node gets when none is configured: a hash of its name into the CIDR's host
 * range. It depends on the name alone, never on list position, so adding or removing a node never
 * moves another; two names that land on one address are a config error the user fixes by pinning.
 */
export function derivedAddress(cidr: Cidr, stableKey: string): number {
    const hostCount = cidrSize(cidr) - 2;
    const digest = createHash("sha256").update(stableKey).digest();
    return cidr.network + 1 + (digest.readUInt32BE(0) % hostCount);
}
