// What every reader reduces a firewall or load-balancer rule to: the transports and ports it opens,
// and the sources it admits, with what the policy could not read kept apart and named.
import { AddressRange, IPV4, IPV6, parseCidr, wholeFamily } from "./addresses";
import { Known, text, UNKNOWN } from "./inputs";
import { EVERY_PORT, PortSpan, Transport } from "./ports";

/** A source as a rule names it: the addresses it admits, or why the policy cannot tell. */
export interface Source {
    text: string;
    ranges: AddressRange[];
    doubt?: string;
    /** The id of the prefix list it names: the whole stack may hold the list and its entries. */
    prefixList?: Known;
}

/** Transports and ports a rule opens. */
export interface Opening {
    transports: Transport[];
    ports: PortSpan[];
}

/** One inbound allow rule. */
export interface InboundRule {
    /** Where it is declared: `SecurityGroup "k3s-sg" ingress[1]`. */
    where: string;
    /** The declaring resource's URN, to attribute violations found across resources. */
    urn: string;
    /** What it opens for certain; undefined when an unknown field might turn it off. */
    definite?: Opening;
    /** What it could open once every unknown field is known (a superset of `definite`). */
    possible: Opening;
    sources: Source[];
    /** Fields that are unknown or unreadable, making `possible` wider than `definite`. */
    doubts: string[];
}

/** A resource being read: its type token, logical name and URN. */
export interface ResourceRef {
    type: string;
    name: string;
    urn: string;
}

export function describe(resource: ResourceRef, label?: string): string {
    const base = `${resource.type.split(":").pop()} "${resource.name}"`;
    return label === undefined ? base : `${base} ${label}`;
}

export function isEveryProtocol(protocol: string): boolean {
    return ["-1", "all", "*"].includes(protocol.toLowerCase());
}

/** Protocol names or IANA numbers; ICMP, ESP and the like carry no ports. "Tcp_Udp" is the ELB spelling of both. */
export function transportsOf(protocol: string): Transport[] {
    const name = protocol.toLowerCase();
    if (isEveryProtocol(name) || name === "tcp_udp") {
        return ["tcp", "udp"];
    }
    if (["tcp", "6", "tls", "http", "https", "ssl"].includes(name)) {
        return ["tcp"];
    }
    return name === "udp" || name === "17" ? ["udp"] : [];
}

export function portNumber(value: Known): number | undefined {
    const digits = text(value);
    return digits !== undefined && /^-?\d+$/.test(digits) ? Number(digits) : undefined;
}

/** Azure port syntax: "*", "6443", "6000-7000" (a comma list is tolerated too). */
export function azurePortSpans(spec: string): PortSpan[] {
    return spec
        .replace(/\s+/g, "")
        .split(",")
        .flatMap((part) => {
            if (part === "*") {
                return [EVERY_PORT];
            }
            const match = /^(\d+)(?:-(\d+))?$/.exec(part);
            return match ? [{ from: Number(match[1]), to: Number(match[2] ?? match[1]) }] : [];
        });
}

/** Azure tags and wildcards for "any source"; AzureCloud is every Azure datacenter, any tenant's VM included. */
const internetTags = new Set(["*", "any", "internet", "azurecloud"]);
/** Azure tags for addresses inside the virtual network, or Azure's own health probes. */
const privateTags = new Set(["virtualnetwork", "azureloadbalancer"]);

/** What a source value (a CIDR, an address or an Azure tag) admits. */
export function addressSource(value: Known): Source {
    if (value === UNKNOWN) {
        return { text: "(unknown)", ranges: [], doubt: "a source unknown during preview" };
    }
    const written = text(value) ?? JSON.stringify(value);
    const compact = written.replace(/\s+/g, "").toLowerCase();
    if (internetTags.has(compact)) {
        return { text: written, ranges: [wholeFamily(IPV4), wholeFamily(IPV6)] };
    }
    if (privateTags.has(compact)) {
        return { text: written, ranges: [] };
    }
    // A /0 is the whole family whatever its address part says.
    if (/\/0+$/.test(compact)) {
        return { text: written, ranges: [wholeFamily(compact.includes(":") ? IPV6 : IPV4)] };
    }
    const range = parseCidr(compact);
    if (range === undefined) {
        return { text: written, ranges: [], doubt: `source "${written}", which is not an address (a service tag?)` };
    }
    // Azure reads a bare unspecified address (0.0.0.0, ::) as "any".
    const bareUnspecified = !compact.includes("/") && range.first === 0n;
    return { text: written, ranges: [bareUnspecified ? wholeFamily(range.family) : range] };
}

export function prefixListSource(id: Known): Source {
    const name = id === UNKNOWN ? "(unknown)" : (text(id) ?? JSON.stringify(id));
    return { text: `prefix list ${name}`, ranges: [], doubt: `prefix list ${name}, whose entries the policy cannot see`, prefixList: id };
}

/** Builds a rule from what its fields say, and whether each is unknown. */
export function inboundRule(spec: {
    resource: ResourceRef;
    label?: string;
    /** Known transports, and whether the protocol is unknown (any transport possible). */
    transports: Transport[];
    transportUnknown?: boolean;
    /** Known port spans, and whether some port field is unknown (any port possible). */
    ports: PortSpan[];
    portsUnknown?: boolean;
    /** Set when a field that decides whether the rule applies at all (direction, access) is unknown. */
    appliesUnknown?: string;
    sources: Source[];
}): InboundRule {
    const doubts = [
        ...(spec.appliesUnknown ? [spec.appliesUnknown] : []),
        ...(spec.transportUnknown ? ["the protocol unknown during preview"] : []),
        ...(spec.portsUnknown ? ["ports unknown during preview"] : []),
    ];
    const known: Opening = { transports: spec.transports, ports: spec.ports };
    return {
        where: describe(spec.resource, spec.label),
        urn: spec.resource.urn,
        definite: spec.appliesUnknown ? undefined : known,
        possible: {
            transports: spec.transportUnknown ? ["tcp", "udp"] : spec.transports,
            ports: spec.portsUnknown ? [EVERY_PORT] : spec.ports,
        },
        sources: spec.sources,
        doubts,
    };
}
