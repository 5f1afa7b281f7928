// Address arithmetic: IPv4 and IPv6 addresses and prefixes as bigint intervals, and whether a set of
// prefixes covers the public unicast space of a family (what "the whole internet" means here).

/** An address family, by its address width in bits. */
export type AddressFamily = 32 | 128;
export const IPV4: AddressFamily = 32;
export const IPV6: AddressFamily = 128;
export const addressFamilies: readonly AddressFamily[] = [IPV4, IPV6];

interface Address {
    family: AddressFamily;
    value: bigint;
}

export interface AddressRange {
    family: AddressFamily;
    first: bigint;
    last: bigint;
}

function ipv4Value(text: string): bigint | undefined {
    const octets = text.split(".");
    if (octets.length !== 4 || !octets.every((octet) => /^\d{1,3}$/.test(octet) && Number(octet) <= 255)) {
        return undefined;
    }
    return octets.reduce((value, octet) => (value << 8n) | BigInt(octet), 0n);
}

/** 16-bit groups of one side of an IPv6 "::"; an embedded IPv4 is allowed only at the very end. */
function ipv6Groups(part: string, endsAddress: boolean): bigint[] | undefined {
    if (part === "") {
        return [];
    }
    const pieces = part.split(":");
    const groups: bigint[] = [];
    for (const [index, piece] of pieces.entries()) {
        if (endsAddress && index === pieces.length - 1 && piece.includes(".")) {
            const embedded = ipv4Value(piece);
            if (embedded === undefined) {
                return undefined;
            }
            groups.push(embedded >> 16n, embedded & 0xffffn);
        } else if (/^[0-9a-f]{1,4}$/.test(piece)) {
            groups.push(BigInt(`0x${piece}`));
        } else {
            return undefined;
        }
    }
    return groups;
}

function ipv6Value(text: string): bigint | undefined {
    const halves = text.split("::");
    if (halves.length > 2) {
        return undefined;
    }
    const compressed = halves.length === 2;
    const head = ipv6Groups(halves[0], !compressed);
    const tail = compressed ? ipv6Groups(halves[1], true) : [];
    if (head === undefined || tail === undefined) {
        return undefined;
    }
    const zeros = 8 - head.length - tail.length;
    if (compressed ? zeros < 1 : zeros !== 0) {
        return undefined;
    }
    const groups = [...head, ...new Array<bigint>(zeros).fill(0n), ...tail];
    return groups.reduce((value, group) => (value << 16n) | group, 0n);
}

export function parseAddress(text: string): Address | undefined {
    const address = text.trim().toLowerCase();
    const family = address.includes(":") ? IPV6 : IPV4;
    const value = family === IPV6 ? ipv6Value(address) : ipv4Value(address);
    return value === undefined ? undefined : { family, value };
}

/** "10.0.0.0/8", "fd00::/8", or a bare address (a single host). Whitespace is ignored. */
export function parseCidr(text: string): AddressRange | undefined {
    const [addressText, lengthText, ...extra] = text.replace(/\s+/g, "").split("/");
    const address = parseAddress(addressText);
    if (address === undefined || extra.length > 0) {
        return undefined;
    }
    const bits = address.family;
    const length = lengthText === undefined ? bits : /^\d+$/.test(lengthText) ? Number(lengthText) : NaN;
    if (!(length >= 0 && length <= bits)) {
        return undefined;
    }
    const hostBits = BigInt(bits - length);
    const first = (address.value >> hostBits) << hostBits;
    return { family: address.family, first, last: first + (1n << hostBits) - 1n };
}

function cidrs(...texts: string[]): AddressRange[] {
    return texts.map((cidr) => {
        const range = parseCidr(cidr);
        if (range === undefined) {
            throw new Error(`not a CIDR: ${cidr}`);
        }
        return range;
    });
}

export function wholeFamily(family: AddressFamily): AddressRange {
    return { family, first: 0n, last: (1n << BigInt(family)) - 1n };
}

export function contains(range: AddressRange, address: Address): boolean {
    return range.family === address.family && range.first <= address.value && address.value <= range.last;
}

function overlaps(a: AddressRange, b: AddressRange): boolean {
    return a.family === b.family && a.first <= b.last && b.first <= a.last;
}

// RFC 1918, RFC 6598 shared space (used by overlay networks) and RFC 4193 unique-local.
export const privateRanges = cidrs("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7");

/** `whole` minus `removed`, as sorted disjoint ranges of `whole`'s family. */
function subtract(whole: readonly AddressRange[], removed: readonly AddressRange[]): AddressRange[] {
    let remaining = [...whole];
    for (const cut of removed) {
        remaining = remaining.flatMap((range) => {
            if (!overlaps(range, cut)) {
                return [range];
            }
            const pieces: AddressRange[] = [];
            if (range.first < cut.first) {
                pieces.push({ family: range.family, first: range.first, last: cut.first - 1n });
            }
            if (cut.last < range.last) {
                pieces.push({ family: range.family, first: cut.last + 1n, last: range.last });
            }
            return pieces;
        });
    }
    return remaining.sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
}

/**
 * The public unicast space: what a source list must cover to be "the whole internet". From the
 * IANA special-purpose registries (RFC 6890 and successors): IPv4 without this-network, private,
 * shared, loopback, link-local, protocol-assignment, documentation, benchmarking, multicast and
 * reserved blocks; IPv6 is global unicast 2000::/3 without the protocol-assignment and
 * documentation blocks. Leaving more out only makes the check stricter.
 */
export const publicSpace: Record<AddressFamily, AddressRange[]> = {
    [IPV4]: subtract(
        [wholeFamily(IPV4)],
        cidrs(
            "0.0.0.0/8",
            "10.0.0.0/8",
            "100.64.0.0/10",
            "127.0.0.0/8",
            "169.254.0.0/16",
            "172.16.0.0/12",
            "192.0.0.0/24",
            "192.0.2.0/24",
            "192.88.99.0/24",
            "192.168.0.0/16",
            "198.18.0.0/15",
            "198.51.100.0/24",
            "203.0.113.0/24",
            "224.0.0.0/4",
            "240.0.0.0/4",
        ),
    ),
    [IPV6]: subtract(cidrs("2000::/3"), cidrs("2001::/23", "2001:db8::/32", "3fff::/20")),
};

/** Whether `ranges` together cover every public address of `family`. */
export function coversPublicSpace(ranges: readonly AddressRange[], family: AddressFamily): boolean {
    return (
        subtract(
            publicSpace[family],
            ranges.filter((range) => range.family === family),
        ).length === 0
    );
}

/** Whether a range admits any public address (a source that can take part in covering the internet). */
export function admitsPublicAddresses(range: AddressRange): boolean {
    return publicSpace[range.family].some((space) => overlaps(space, range));
}
