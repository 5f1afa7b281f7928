// Rules of one group, wherever they are declared: a security group's inline rules plus the
// standalone rules naming it, an NSG's plus its SecurityRules, a load balancer's listeners; and
// prefix lists read from the lists (and entries) the stack holds.
import { admitsPublicAddresses } from "./addresses";
import { Finding, findExposures } from "./exposure";
import { addressSource, InboundRule, portNumber, ResourceRef, Source } from "./inbound";
import { Known, text, UNKNOWN } from "./inputs";
import { EVERY_PORT, PortSpan, WatchedPorts } from "./ports";
import { GroupReference, readResource, ReadResource } from "./readers";

/** A resource as a policy sees it, with the URNs each input depends on (what the engine reports). */
export interface ScannedResource {
    ref: ResourceRef;
    props: Known;
    propertyDependencies: Record<string, string[]>;
}

interface Read {
    resource: ScannedResource;
    read: ReadResource;
}

/** Where a reference points: a resource of the stack, a group outside it, unknown, or nowhere (the rule stands alone). */
type Resolved = { owner: Read } | { external: string } | { unknown: true } | { alone: true };

function resolve(reference: GroupReference, resource: ScannedResource, owners: Map<string, Read>, byUrn: Map<string, Read>): Resolved {
    const value = text(reference.value);
    const byValue = value === undefined ? undefined : owners.get(`${reference.kind}|${value.toLowerCase()}`);
    if (byValue !== undefined) {
        return { owner: byValue };
    }
    // During preview a new group's id is unknown, but the engine still says which resource it comes from.
    const inputs = reference.field === "*" ? Object.values(resource.propertyDependencies).flat() : (resource.propertyDependencies[reference.field] ?? []);
    const dependedOn = [...new Set(inputs)].map((urn) => byUrn.get(urn)).filter((read): read is Read => read?.read.group?.kind === reference.kind);
    if (dependedOn.length === 1) {
        return { owner: dependedOn[0] };
    }
    if (value !== undefined) {
        return { external: `${reference.kind}|${value.toLowerCase()}` };
    }
    return reference.value === UNKNOWN ? { unknown: true } : { alone: true };
}

function withSources(rules: readonly InboundRule[], sources: Source[]): InboundRule[] {
    return rules.map((rule) => ({ ...rule, sources }));
}

/** An unknown group's other rules could complete the coverage of a rule that admits public addresses. */
function withUnknownGroup(rules: readonly InboundRule[], reference: GroupReference): InboundRule[] {
    const doubt: Source = { text: "(unknown)", ranges: [], doubt: `the other rules of a ${reference.kind} unknown during preview` };
    return rules.map((rule) =>
        rule.sources.some((source) => source.ranges.some(admitsPublicAddresses)) ? { ...rule, sources: [...rule.sources, doubt] } : rule,
    );
}

/** Prefix-list sources read from the stack's own lists, where it holds them. */
function withPrefixLists(
    read: Read,
    rules: readonly InboundRule[],
    owners: Map<string, Read>,
    byUrn: Map<string, Read>,
    membersOf: Map<Read, Known[]>,
): InboundRule[] {
    const resolved = (source: Source): Source => {
        if (source.prefixList === undefined) {
            return source;
        }
        const found = resolve({ kind: "prefix list", field: "*", value: source.prefixList }, read.resource, owners, byUrn);
        const cidrs = "owner" in found ? membersOf.get(found.owner) : undefined;
        if (cidrs === undefined) {
            return source;
        }
        const doubt = cidrs.includes(UNKNOWN) ? `${source.text}, some of whose entries are unknown during preview` : undefined;
        return { text: source.text, ranges: cidrs.filter((cidr) => cidr !== UNKNOWN).flatMap((cidr) => addressSource(cidr).ranges), doubt };
    };
    return rules.map((rule) => ({ ...rule, sources: rule.sources.map(resolved) }));
}

/**
 * A listener also opens the ports of the target groups it forwards to (443 on the load balancer
 * can reach 6443 on the hosts); one the policy cannot find could forward to any port.
 */
function withTargetPorts(read: Read, owners: Map<string, Read>, byUrn: Map<string, Read>, membersOf: Map<Read, Known[]>): InboundRule[] {
    const known: PortSpan[] = [];
    const doubts: string[] = [];
    for (const reference of read.read.forwardsTo ?? []) {
        const found = resolve(reference, read.resource, owners, byUrn);
        const ports: Known[] = "owner" in found ? (membersOf.get(found.owner) ?? []) : [UNKNOWN];
        for (const port of ports) {
            const number = portNumber(port);
            if (number !== undefined) {
                known.push({ from: number, to: number });
            } else if (port === UNKNOWN) {
                doubts.push(
                    "owner" in found
                        ? "a target group port unknown during preview"
                        : `target group ${text(reference.value) ?? "(unknown)"}, which the policy cannot find`,
                );
            }
        }
    }
    return read.read.rules.map((rule) => ({
        ...rule,
        definite: rule.definite && { ...rule.definite, ports: [...rule.definite.ports, ...known] },
        possible: { ...rule.possible, ports: doubts.length > 0 ? [EVERY_PORT] : [...rule.possible.ports, ...known] },
        doubts: [...rule.doubts, ...new Set(doubts)],
    }));
}

/** The rules of every group among `resources`, each standalone rule filed under the group it names. */
function groupRules(resources: readonly ScannedResource[]): InboundRule[][] {
    const reads = resources.flatMap((resource) => {
        const read = readResource(resource.props, resource.ref);
        return read === undefined ? [] : [{ resource, read }];
    });
    const byUrn = new Map(reads.map((read) => [read.resource.ref.urn, read]));
    const owners = new Map<string, Read>();
    for (const read of reads) {
        for (const key of read.read.group?.keys ?? []) {
            const value = text(key);
            if (value !== undefined && read.read.group !== undefined) {
                owners.set(`${read.read.group.kind}|${value.toLowerCase()}`, read);
            }
        }
    }
    const collects = (kind: string | undefined) => kind === "prefix list" || kind === "target group";
    const membersOf = new Map(reads.filter((read) => collects(read.read.group?.kind)).map((read) => [read, [...(read.read.members ?? [])]]));
    for (const read of reads) {
        const joined = read.read.joins !== undefined && collects(read.read.joins.kind) ? resolve(read.read.joins, read.resource, owners, byUrn) : undefined;
        if (joined !== undefined && "owner" in joined) {
            membersOf.get(joined.owner)?.push(...(read.read.members ?? []));
        }
    }
    const groups = new Map<string, InboundRule[]>();
    const file = (group: string, rules: InboundRule[]) => groups.set(group, [...(groups.get(group) ?? []), ...rules]);
    for (const entry of reads) {
        const { resource } = entry;
        const rules = withTargetPorts(entry, owners, byUrn, membersOf);
        const read = { ...entry.read, rules: withPrefixLists(entry, rules, owners, byUrn, membersOf) };
        const reference = read.joins;
        if (reference === undefined) {
            file(resource.ref.urn, read.rules);
            continue;
        }
        const resolved = resolve(reference, resource, owners, byUrn);
        const isListener = reference.kind === "load balancer";
        if ("owner" in resolved) {
            const owner = resolved.owner;
            file(owner.resource.ref.urn, isListener ? withSources(read.rules, owner.read.frontSources ?? []) : read.rules);
        } else if ("external" in resolved) {
            const outside: Source = {
                text: "(outside the stack)",
                ranges: [],
                doubt: `${reference.kind} ${text(reference.value)}, which is not in this stack`,
            };
            file(resolved.external, isListener ? withSources(read.rules, [outside]) : read.rules);
        } else if ("alone" in resolved) {
            file(resource.ref.urn, read.rules);
        } else {
            const unknown: Source = { text: "(unknown)", ranges: [], doubt: `a ${reference.kind} unknown during preview` };
            file(resource.ref.urn, isListener ? withSources(read.rules, [unknown]) : withUnknownGroup(read.rules, reference));
        }
    }
    return [...groups.values()];
}

/**
 * What one resource exposes by itself: its own rules only. A standalone rule counts alone, and a
 * listener (whose sources are its load balancer's) exposes nothing until the stack is seen.
 */
export function resourceExposures(resource: ScannedResource, watched: readonly WatchedPorts[], portKind: string): Finding[] {
    const rules = readResource(resource.props, resource.ref)?.rules ?? [];
    return findExposures(rules, watched, portKind);
}

/** What only the whole stack shows: exposures of groups joined across resources that no resource shows alone. */
export function stackExposures(resources: readonly ScannedResource[], watched: readonly WatchedPorts[], portKind: string): Finding[] {
    const seenAlone = new Set(resources.flatMap((resource) => resourceExposures(resource, watched, portKind).map((finding) => finding.message)));
    return groupRules(resources)
        .flatMap((rules) => findExposures(rules, watched, portKind))
        .filter((finding) => !seenAlone.has(finding.message));
}
