// The hybrid-k3s CrossGuard rules, and `evaluate()`: the same rules run without the Pulumi CLI,
// for the tests, the offline plan and the bot.
import {
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    unknownCheckingProxy as untypedUnknownCheckingProxy,
    UnknownValueError as UntypedUnknownValueError,
} from "@pulumi/policy";

// @pulumi/policy exports these two at runtime but strips them from its typings (@internal), so
// TypeScript sees `any`: give them the types they have.
const unknownCheckingProxy: <T extends object>(inputs: T) => T = untypedUnknownCheckingProxy;
const UnknownValueError: new (...args: never[]) => Error = UntypedUnknownValueError;

// ---------------------------------------------------------------------------------------------
// Public API

export type Enforcement = "mandatory" | "advisory";
export type Transport = "tcp" | "udp";

/** A port or port range to keep off the internet; `to` defaults to `from`. */
export interface WatchedPorts {
    protocol: Transport;
    from: number;
    to?: number;
}

/** The pack's configuration (`no-api-port-open-to-internet` reads it). */
export interface HybridK3sPolicyConfig {
    apiPorts?: readonly WatchedPorts[];
}

/** The k3s API server, the kubelet and embedded etcd. */
export const defaultPolicyConfig: Required<HybridK3sPolicyConfig> = {
    apiPorts: [
        { protocol: "tcp", from: 6443 },
        { protocol: "tcp", from: 10250 },
        { protocol: "tcp", from: 2379, to: 2380 },
    ],
};

/** A resource as the engine registers it: its type token, logical name and inputs. */
export interface PlannedResource {
    type: string;
    name: string;
    props: Record<string, unknown>;
}

export interface PolicyViolation {
    policy: string;
    resource: string;
    message: string;
    enforcement: Enforcement;
}

export interface HybridK3sPolicy extends ResourceValidationPolicy {
    enforcementLevel: Enforcement;
}

// ---------------------------------------------------------------------------------------------
// Inputs as plain data, with preview-time unknowns made explicit
//
// During preview an input computed from another resource's output is unknown, and the engine's
// proxy throws when a rule reads it. Copying the inputs once into plain data, with UNKNOWN in those
// places, lets every rule decide field by field. An unknown never produces a violation ("can't
// tell"), but whatever is known is still checked: a known 0.0.0.0/0 next to an unknown CIDR still
// fails. Not reporting is safe because `pulumi up` runs the policies again with every input
// resolved before the resource is created; an advisory per unknown would instead fire on every
// preview of a new stack. (Letting the proxy's error escape is worse: the engine then skips the
// whole policy for that resource, known violations included, with a single advisory.)

const UNKNOWN: unique symbol = Symbol("unknown during preview");
type Unknown = typeof UNKNOWN;
type Known = Unknown | null | undefined | boolean | number | string | Known[] | { [key: string]: Known };

function snapshot(read: () => unknown): Known {
    let value: unknown;
    try {
        value = read();
    } catch (error) {
        if (error instanceof UnknownValueError) {
            return UNKNOWN;
        }
        throw error;
    }
    if (Array.isArray(value)) {
        const items: unknown[] = value;
        // Index by index: Array methods would read every element through the proxy at once.
        const copy: Known[] = [];
        for (let index = 0; index < items.length; index++) {
            copy.push(snapshot(() => items[index]));
        }
        return copy;
    }
    if (value !== null && typeof value === "object") {
        const record = value as Record<string, unknown>;
        return Object.fromEntries(Object.keys(record).map((key) => [key, snapshot(() => record[key])]));
    }
    return value as Known;
}

function field(value: Known, key: string): Known {
    return value !== null && typeof value === "object" && !Array.isArray(value) ? value[key] : undefined;
}

/** The items of list inputs, a single value counting as one item (Azure has both `x` and `xs` fields). */
function list(...values: Known[]): Known[] {
    return values.flatMap((value) => (Array.isArray(value) ? value : value === undefined || value === null ? [] : [value]));
}

/** A string or number input as trimmed text; undefined when missing, unknown or structured. */
function text(value: Known): string | undefined {
    return typeof value === "string" || typeof value === "number" ? String(value).trim() : undefined;
}

function texts(values: Known[]): string[] {
    return values.flatMap((value) => text(value) ?? []);
}

// ---------------------------------------------------------------------------------------------
// Addresses and prefixes, as bigint intervals

/** An address family, by its address width in bits. */
type AddressFamily = 32 | 128;
const IPV4: AddressFamily = 32;
const IPV6: AddressFamily = 128;

interface Address {
    family: AddressFamily;
    value: bigint;
}

interface AddressRange {
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

function parseAddress(text: string): Address | undefined {
    const address = text.trim().toLowerCase();
    const family = address.includes(":") ? IPV6 : IPV4;
    const value = family === IPV6 ? ipv6Value(address) : ipv4Value(address);
    return value === undefined ? undefined : { family, value };
}

/** "10.0.0.0/8", "fd00::/8", or a bare address (a single host). Whitespace is ignored. */
function parseCidr(text: string): AddressRange | undefined {
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

function wholeFamily(family: AddressFamily): AddressRange {
    return { family, first: 0n, last: (1n << BigInt(family)) - 1n };
}

function contains(range: AddressRange, address: Address): boolean {
    return range.family === address.family && range.first <= address.value && address.value <= range.last;
}

/** Whether the union of `ranges` is the whole `family`: sort, then sweep for a gap. */
function coversFamily(ranges: readonly AddressRange[], family: AddressFamily): boolean {
    const sorted = ranges
        .filter((range) => range.family === family)
        .sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
    let nextUncovered = 0n;
    for (const range of sorted) {
        if (range.first > nextUncovered) {
            return false;
        }
        if (range.last + 1n > nextUncovered) {
            nextUncovered = range.last + 1n;
        }
    }
    return nextUncovered > wholeFamily(family).last;
}

// Azure's service tag and wildcards for "any source" (compared case-insensitively).
const anywhereSources = new Set(["*", "any", "internet"]);

/** The addresses a firewall source value admits; [] for what is not an address (tags, typos). */
function sourceRanges(source: string): AddressRange[] {
    const compact = source.replace(/\s+/g, "").toLowerCase();
    if (anywhereSources.has(compact)) {
        return [wholeFamily(IPV4), wholeFamily(IPV6)];
    }
    // A /0 is the whole family whatever its address part says.
    if (/\/0+$/.test(compact)) {
        return [wholeFamily(compact.includes(":") ? IPV6 : IPV4)];
    }
    const range = parseCidr(compact);
    if (range === undefined) {
        return [];
    }
    // Azure reads a bare unspecified address (0.0.0.0, ::) as "any".
    const bareUnspecified = !compact.includes("/") && range.first === 0n;
    return [bareUnspecified ? wholeFamily(range.family) : range];
}

/**
 * The sources through which a rule admits the whole internet: for each address family the sources
 * cover together, those that cover it alone (e.g. 0.0.0.0/0), else all of that family's sources
 * (e.g. 0.0.0.0/1 + 128.0.0.0/1). Empty when no family is covered.
 */
function internetWideSources(sources: readonly string[]): string[] {
    const named = new Set<string>();
    for (const family of [IPV4, IPV6]) {
        const members = sources.flatMap((source) =>
            sourceRanges(source)
                .filter((range) => range.family === family)
                .map((range) => ({ source, range })),
        );
        if (!coversFamily(members.map((member) => member.range), family)) {
            continue;
        }
        const alone = members.filter((member) => coversFamily([member.range], family));
        for (const member of alone.length > 0 ? alone : members) {
            named.add(member.source);
        }
    }
    return [...named];
}

// ---------------------------------------------------------------------------------------------
// Firewall rules of every supported resource, reduced to what decides exposure

interface PortSpan {
    from: number;
    to: number;
}
const EVERY_PORT: PortSpan = { from: 0, to: 65535 };

/** One inbound allow rule. `label` names it inside its resource (absent for one-rule resources). */
interface InboundRule {
    label?: string;
    transports: Transport[];
    ports: PortSpan[];
    sources: string[];
}

function isEveryProtocol(protocol: string): boolean {
    return ["-1", "all", "*"].includes(protocol.toLowerCase());
}

/** Protocol names or IANA numbers; ICMP, ESP and the like carry no ports. */
function transportsOf(protocol: string): Transport[] {
    if (isEveryProtocol(protocol)) {
        return ["tcp", "udp"];
    }
    const name = protocol.toLowerCase();
    if (name === "tcp" || name === "6") {
        return ["tcp"];
    }
    return name === "udp" || name === "17" ? ["udp"] : [];
}

function portNumber(value: Known): number | undefined {
    const digits = text(value);
    return digits !== undefined && /^\d+$/.test(digits) ? Number(digits) : undefined;
}

/** Azure port syntax: "*", "6443", "6000-7000" (a comma list is tolerated too). */
function azurePortSpans(spec: string): PortSpan[] {
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

/** Where an AWS rule keeps its protocol and source CIDRs (the port fields are the same everywhere). */
interface AwsRuleFields {
    protocol: string;
    sources: string[];
}
const awsSecurityGroupRuleFields: AwsRuleFields = { protocol: "protocol", sources: ["cidrBlocks", "ipv6CidrBlocks"] };
const awsVpcIngressRuleFields: AwsRuleFields = { protocol: "ipProtocol", sources: ["cidrIpv4", "cidrIpv6"] };

function awsInboundRule(rule: Known, fields: AwsRuleFields, label?: string): InboundRule[] {
    const protocol = text(field(rule, fields.protocol));
    if (protocol === undefined) {
        return [];
    }
    const from = portNumber(field(rule, "fromPort"));
    const to = portNumber(field(rule, "toPort"));
    // AWS ignores fromPort/toPort when the protocol is "all" (-1).
    const ports = isEveryProtocol(protocol) ? [EVERY_PORT] : from !== undefined && to !== undefined ? [{ from, to }] : [];
    const sources = texts(list(...fields.sources.map((name) => field(rule, name))));
    return [{ label, transports: transportsOf(protocol), ports, sources }];
}

/** An azure-native security rule; `position` locates it inside an NSG's `securityRules`. */
function azureInboundRule(rule: Known, position?: string): InboundRule[] {
    const direction = text(field(rule, "direction"))?.toLowerCase();
    const access = text(field(rule, "access"))?.toLowerCase();
    const protocol = text(field(rule, "protocol"));
    if (direction !== "inbound" || access !== "allow" || protocol === undefined) {
        return [];
    }
    const name = text(field(rule, "name")) ?? text(field(rule, "securityRuleName"));
    const named = name === undefined ? "" : ` "${name}"`;
    const label = position !== undefined ? `${position}${named}` : name !== undefined ? `rule${named}` : undefined;
    // Unlike AWS's "all", Azure's "*" protocol still honours the destination ports.
    const ports = texts(list(field(rule, "destinationPortRange"), field(rule, "destinationPortRanges"))).flatMap(azurePortSpans);
    const sources = texts(list(field(rule, "sourceAddressPrefix"), field(rule, "sourceAddressPrefixes")));
    return [{ label, transports: transportsOf(protocol), ports, sources }];
}

const inboundRuleReaders: Record<string, (props: Known) => InboundRule[]> = {
    "aws:ec2/securityGroup:SecurityGroup": (props) =>
        list(field(props, "ingress")).flatMap((rule, index) => awsInboundRule(rule, awsSecurityGroupRuleFields, `ingress[${index}]`)),
    "aws:ec2/securityGroupRule:SecurityGroupRule": (props) =>
        text(field(props, "type"))?.toLowerCase() === "ingress" ? awsInboundRule(props, awsSecurityGroupRuleFields) : [],
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": (props) => awsInboundRule(props, awsVpcIngressRuleFields),
    "azure-native:network:NetworkSecurityGroup": (props) =>
        list(field(props, "securityRules")).flatMap((rule, index) => azureInboundRule(rule, `securityRules[${index}]`)),
    "azure-native:network:SecurityRule": (props) => azureInboundRule(props),
};

/** azure-native also publishes each API version under its own token ("azure-native:network/v20240301:SecurityRule"). */
function canonicalType(type: string): string {
    return type.replace(/^(azure-native:[^:/]+)\/v[^:]+:/, "$1:");
}

function formatPorts(transport: Transport, from: number, to: number): string {
    return `${from === to ? from : `${from}-${to}`}/${transport}`;
}

/** The watched ports a rule opens, as "6443/tcp" or "2379-2380/tcp". */
function openedPorts(rule: InboundRule, watched: readonly WatchedPorts[]): string[] {
    const opened = new Set<string>();
    for (const port of watched) {
        if (!rule.transports.includes(port.protocol)) {
            continue;
        }
        for (const span of rule.ports) {
            const from = Math.max(span.from, port.from);
            const to = Math.min(span.to, port.to ?? port.from);
            if (from <= to) {
                opened.add(formatPorts(port.protocol, from, to));
            }
        }
    }
    return [...opened];
}

/** A policy reporting, once per offending rule, watched ports reachable from the whole internet. */
function internetExposurePolicy(spec: {
    name: string;
    description: string;
    enforcementLevel: Enforcement;
    severity: HybridK3sPolicy["severity"];
    /** What the ports are, for the message: "API port", "SSH port". */
    portKind: string;
    watchedPorts: (args: ResourceValidationArgs) => readonly WatchedPorts[];
    configSchema?: HybridK3sPolicy["configSchema"];
    remediationSteps: string;
}): HybridK3sPolicy {
    const { portKind, watchedPorts, ...policy } = spec;
    return {
        ...policy,
        validateResource: (args, reportViolation) => {
            const readRules = inboundRuleReaders[canonicalType(args.type)];
            if (readRules === undefined) {
                return args.notApplicable("only AWS security groups/rules and Azure network security groups/rules");
            }
            const resource = `${args.type.split(":").pop()} "${args.name}"`;
            const watched = watchedPorts(args);
            for (const rule of readRules(snapshot(() => args.props))) {
                const ports = openedPorts(rule, watched);
                const sources = internetWideSources(rule.sources);
                if (ports.length > 0 && sources.length > 0) {
                    const where = rule.label === undefined ? resource : `${resource} ${rule.label}`;
                    reportViolation(
                        `${where} opens ${portKind}${ports.length > 1 ? "s" : ""} ${ports.join(", ")} to the whole internet (source ${sources.join(", ")})`,
                    );
                }
            }
        },
    };
}

// ---------------------------------------------------------------------------------------------
// k3s addresses

const k3sNodeType = "hybrid-k3s:k3s:K3sNode";

/** The flags that must hold a mesh address, and what k3s does without them. */
const serverAddressFlags: Record<string, string> = {
    "bind-address": "listen on 0.0.0.0",
    "advertise-address": "advertise the node's external address",
};
const nodeAddressFlags: Record<string, string> = {
    "node-ip": "register the address of the default-route interface",
};

// RFC 1918, RFC 6598 shared space (used by overlay networks) and RFC 4193 unique-local.
const privateRanges = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"].flatMap(
    (cidr) => parseCidr(cidr) ?? [],
);

interface ParsedFlags {
    values: Map<string, Array<string | Unknown>>;
    /** Some flag text is unknown during preview, so an absent flag may still be there. */
    incomplete: boolean;
}

/** Reads "--flag=value", "--flag value" (one item or two) and "-flag" (urfave/cli accepts one dash). */
function parseFlags(flags: Known): ParsedFlags {
    const tokens = list(flags).flatMap((item): Array<string | Unknown> =>
        item === UNKNOWN ? [UNKNOWN] : (text(item) ?? "").split(/\s+/).filter(Boolean),
    );
    const values = new Map<string, Array<string | Unknown>>();
    for (let index = 0; index < tokens.length; index++) {
        const token = tokens[index];
        const flag = token === UNKNOWN ? null : /^--?([a-z0-9][\w-]*)(?:=(.*))?$/i.exec(token);
        if (!flag) {
            continue;
        }
        let value: string | Unknown = flag[2] ?? "";
        const next = tokens[index + 1];
        if (flag[2] === undefined && next !== undefined && (next === UNKNOWN || !next.startsWith("-"))) {
            value = next;
            index++;
        }
        const name = flag[1].toLowerCase();
        const unquoted = value === UNKNOWN ? value : value.replace(/^(['"])(.*)\1$/, "$2");
        values.set(name, [...(values.get(name) ?? []), unquoted]);
    }
    return { values, incomplete: tokens.includes(UNKNOWN) };
}

function addressProblem(text: string, mesh: AddressRange | undefined, meshCidr: string): string | undefined {
    const address = parseAddress(text);
    if (address === undefined) {
        return "is not an IP address";
    }
    if (address.value === 0n) {
        return "is the unspecified address (every interface)";
    }
    const problems = [
        ...(privateRanges.some((range) => contains(range, address)) ? [] : ["is a public address"]),
        ...(mesh === undefined || contains(mesh, address) ? [] : [`is outside the mesh CIDR ${meshCidr}`]),
    ];
    return problems.length > 0 ? problems.join(" and ") : undefined;
}

const k3sMeshAddressPolicy: HybridK3sPolicy = {
    name: "k3s-server-binds-mesh-address",
    description: "k3s servers bind to and advertise a mesh address, and every node registers a mesh address as its node IP.",
    enforcementLevel: "mandatory",
    severity: "critical",
    remediationSteps:
        "Pass --bind-address, --advertise-address (servers) and --node-ip (all nodes) set to the node's mesh address.",
    validateResource: (args, reportViolation) => {
        if (args.type !== k3sNodeType) {
            return args.notApplicable(`only ${k3sNodeType} components`);
        }
        const props = snapshot(() => args.props);
        const role = text(field(props, "role"));
        const node = `K3sNode "${args.name}"${role === undefined ? "" : ` (${role})`}`;

        const meshCidrValue = field(props, "meshCidr");
        const meshCidr = text(meshCidrValue) ?? "";
        const mesh = meshCidrValue === UNKNOWN ? undefined : parseCidr(meshCidr);
        if (meshCidrValue !== UNKNOWN && mesh === undefined) {
            reportViolation(`${node} has no valid meshCidr ("${meshCidr}") to check its addresses against`);
        }

        const flags = parseFlags(field(props, "flags"));
        const required = role === "server" ? { ...serverAddressFlags, ...nodeAddressFlags } : nodeAddressFlags;
        for (const [flag, withoutIt] of Object.entries(required)) {
            const values = flags.values.get(flag) ?? [];
            if (values.length === 0 && !flags.incomplete) {
                reportViolation(`${node} sets no --${flag}, so k3s would ${withoutIt}; set it to the mesh address`);
            }
            for (const value of values) {
                if (value === UNKNOWN) {
                    continue;
                }
                const problems = value.split(",").flatMap((part) => {
                    const problem = addressProblem(part, mesh, meshCidr);
                    return problem === undefined ? [] : [`${part.trim()} ${problem}`];
                });
                if (problems.length > 0) {
                    reportViolation(`${node} --${flag}=${value}: ${problems.join("; ")}`);
                }
            }
        }
    },
};

// ---------------------------------------------------------------------------------------------
// The pack

export const policies: HybridK3sPolicy[] = [
    internetExposurePolicy({
        name: "no-api-port-open-to-internet",
        description: "No Kubernetes API, kubelet or etcd port is reachable from the whole internet.",
        enforcementLevel: "mandatory",
        severity: "critical",
        portKind: "API port",
        watchedPorts: (args) => args.getConfig<HybridK3sPolicyConfig>().apiPorts ?? defaultPolicyConfig.apiPorts,
        configSchema: {
            properties: {
                apiPorts: {
                    description: "Ports that must never be open to the whole internet.",
                    type: "array",
                    items: {
                        type: "object",
                        properties: {
                            protocol: { type: "string", enum: ["tcp", "udp"] },
                            from: { type: "integer", minimum: 0, maximum: 65535 },
                            to: { type: "integer", minimum: 0, maximum: 65535 },
                        },
                        required: ["protocol", "from"],
                        additionalProperties: false,
                    },
                    default: defaultPolicyConfig.apiPorts,
                },
            },
        },
        remediationSteps: "Reach the API over the mesh (or from named admin CIDRs); never from 0.0.0.0/0, ::/0 or Internet.",
    }),
    k3sMeshAddressPolicy,
    internetExposurePolicy({
        name: "ssh-open-to-internet",
        description: "SSH should be reached through the hub or the mesh, not from the whole internet.",
        enforcementLevel: "advisory",
        severity: "medium",
        portKind: "SSH port",
        watchedPorts: () => [{ protocol: "tcp", from: 22 }],
        remediationSteps: "Restrict port 22 to admin CIDRs, or jump through the hub.",
    }),
];

// ---------------------------------------------------------------------------------------------
// Running the pack without the CLI

/** Thrown by `notApplicable()`; only `evaluate` catches it. */
class NotApplicableSignal {}

function validationArgs(resource: PlannedResource, config: HybridK3sPolicyConfig): ResourceValidationArgs {
    // The engine hands rules their inputs behind this proxy; so does evaluate, unknowns included.
    const props = unknownCheckingProxy(resource.props);
    const isType: ResourceValidationArgs["isType"] = (resourceClass) =>
        (resourceClass as { __pulumiType?: unknown }).__pulumiType === resource.type;
    return {
        type: resource.type,
        props,
        urn: `urn:pulumi:evaluate::hybrid-k3s::${resource.type}::${resource.name}`,
        name: resource.name,
        opts: {
            protect: false,
            ignoreChanges: [],
            aliases: [],
            customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
            additionalSecretOutputs: [],
        },
        stackTags: new Map(),
        isType,
        // Inputs are untyped data here exactly as in the engine; the cast only satisfies the generic signature.
        asType: (resourceClass) => (isType(resourceClass) ? props : undefined) as never,
        getConfig: <T extends object>() => config as T,
        notApplicable: () => {
            throw new NotApplicableSignal();
        },
    };
}

/**
 * Runs every policy of `pack` (by default this pack) on every resource as the engine does, and
 * returns the violations. Validations that call notApplicable() are skipped; an asynchronous
 * validation is an error, since this runs synchronously.
 */
export function evaluate(
    resources: readonly PlannedResource[],
    config: HybridK3sPolicyConfig = {},
    pack: readonly HybridK3sPolicy[] = policies,
): PolicyViolation[] {
    const violations: PolicyViolation[] = [];
    for (const resource of resources) {
        for (const policy of pack) {
            const reportViolation: ReportViolation = (message) => {
                violations.push({ policy: policy.name, resource: resource.name, message, enforcement: policy.enforcementLevel });
            };
            for (const validate of [policy.validateResource ?? []].flat()) {
                let outcome: void | Promise<void>;
                try {
                    outcome = validate(validationArgs(resource, config), reportViolation);
                } catch (error) {
                    if (error instanceof NotApplicableSignal) {
                        continue;
                    }
                    throw error;
                }
                if (outcome instanceof Promise) {
                    throw new Error(`policy "${policy.name}" validates asynchronously; evaluate() runs synchronous policies only`);
                }
            }
        }
    }
    return violations;
}
