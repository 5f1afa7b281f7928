// Which watched ports a set of rules (one security group, NSG or load balancer, possibly declared
// across several resources) opens to the whole internet, computed over all its rules together.
import { AddressFamily, addressFamilies, admitsPublicAddresses, AddressRange, coversPublicSpace, IPV4, IPV6, wholeFamily } from "./addresses";
import { InboundRule, Opening, Source } from "./inbound";
import { formatPorts, PortSpan, Transport, WatchedPorts } from "./ports";

/** An exposure: decided (a violation) or depending on values the policy cannot see (an advisory). */
export interface Finding {
    decided: boolean;
    /** The resources declaring the rules involved, first the one to report on. */
    urns: string[];
    message: string;
}

/** What a source counts as: its addresses, or the whole internet when the policy cannot tell. */
function admitted(source: Source, assumeWorst: boolean): AddressRange[] {
    return source.doubt !== undefined && assumeWorst ? [wholeFamily(IPV4), wholeFamily(IPV6)] : source.ranges;
}

function coveredFamilies(sources: readonly Source[], assumeWorst: boolean): AddressFamily[] {
    const ranges = sources.flatMap((source) => admitted(source, assumeWorst));
    return addressFamilies.filter((family) => coversPublicSpace(ranges, family));
}

function takesPart(source: Source, assumeWorst: boolean): boolean {
    return admitted(source, assumeWorst).some(admitsPublicAddresses);
}

/**
 * The sources through which rules admit the internet: per covered family, those that cover it
 * alone (e.g. 0.0.0.0/0), else all that admit public addresses of it (e.g. 0.0.0.0/1 + 128.0.0.0/1).
 */
function namedSources(sources: readonly Source[], families: readonly AddressFamily[]): string[] {
    const named = new Set<string>();
    for (const family of families) {
        const members = sources.filter((source) => source.ranges.some((range) => range.family === family && admitsPublicAddresses(range)));
        const alone = members.filter((source) => coversPublicSpace(source.ranges, family));
        for (const source of alone.length > 0 ? alone : members) {
            named.add(source.text);
        }
    }
    return [...named];
}

function opens(opening: Opening | undefined, transport: Transport, span: PortSpan): boolean {
    return opening !== undefined && opening.transports.includes(transport) && opening.ports.some((open) => open.from <= span.from && span.to <= open.to);
}

/** The watched range cut where any rule's port span starts or ends: within a piece, every rule opens all of it or none. */
function pieces(watched: PortSpan, rules: readonly InboundRule[]): PortSpan[] {
    const cuts = new Set([watched.from, watched.to + 1]);
    for (const rule of rules) {
        for (const span of [...(rule.definite?.ports ?? []), ...rule.possible.ports]) {
            for (const cut of [span.from, span.to + 1]) {
                if (cut > watched.from && cut <= watched.to) {
                    cuts.add(cut);
                }
            }
        }
    }
    const sorted = [...cuts].sort((a, b) => a - b);
    return sorted.slice(0, -1).map((from, index) => ({ from, to: sorted[index + 1] - 1 }));
}

interface Exposure {
    decided: boolean;
    rules: InboundRule[];
    sources: string[];
    doubts: string[];
}

/** How the rules open one transport's port piece to the internet, if they do. */
function exposuresOf(rules: readonly InboundRule[], transport: Transport, piece: PortSpan): Exposure[] {
    const definite = rules.filter((rule) => opens(rule.definite, transport, piece));
    const alone = definite.flatMap((rule) => {
        const families = coveredFamilies(rule.sources, false);
        return families.length > 0 ? [{ decided: true, rules: [rule], sources: namedSources(rule.sources, families), doubts: [] }] : [];
    });
    if (alone.length > 0) {
        return alone;
    }
    const together = definite.flatMap((rule) => rule.sources);
    const families = coveredFamilies(together, false);
    if (families.length > 0) {
        const involved = definite.filter((rule) => rule.sources.some((source) => takesPart(source, false)));
        return [{ decided: true, rules: involved, sources: namedSources(together, families), doubts: [] }];
    }
    const possible = rules.filter((rule) => opens(rule.possible, transport, piece));
    const worst = possible.flatMap((rule) => rule.sources);
    if (coveredFamilies(worst, true).length === 0) {
        return [];
    }
    const involved = possible.filter((rule) => rule.sources.some((source) => takesPart(source, true)));
    const doubts = involved.flatMap((rule) => [...(definite.includes(rule) ? [] : rule.doubts), ...rule.sources.flatMap((source) => source.doubt ?? [])]);
    // Every source that takes part is named: which of them decides is what the policy cannot tell.
    const sources = [...new Set(worst.filter((source) => takesPart(source, true)).map((source) => source.text))];
    return [{ decided: false, rules: involved, sources, doubts: [...new Set(doubts)] }];
}

/** Adjacent spans of one transport merged: 2379/tcp and 2380/tcp read as 2379-2380/tcp. */
function mergedPorts(ports: Array<{ transport: Transport; span: PortSpan }>): string[] {
    const merged: Array<{ transport: Transport; span: PortSpan }> = [];
    for (const port of ports) {
        const last = merged[merged.length - 1];
        if (last !== undefined && last.transport === port.transport && last.span.to + 1 === port.span.from) {
            last.span = { from: last.span.from, to: port.span.to };
        } else {
            merged.push({ transport: port.transport, span: { ...port.span } });
        }
    }
    return merged.map((port) => formatPorts(port.transport, port.span));
}

/** Every exposure of `watched` ports by `rules`, one finding per set of rules and sources. */
export function findExposures(rules: readonly InboundRule[], watched: readonly WatchedPorts[], portKind: string): Finding[] {
    const byCause = new Map<string, { exposure: Exposure; ports: Array<{ transport: Transport; span: PortSpan }> }>();
    for (const port of watched) {
        for (const piece of pieces({ from: port.from, to: port.to ?? port.from }, rules)) {
            for (const exposure of exposuresOf(rules, port.protocol, piece)) {
                const cause = JSON.stringify([exposure.decided, exposure.rules.map((rule) => rule.where), exposure.sources, exposure.doubts]);
                const entry = byCause.get(cause) ?? { exposure, ports: [] };
                entry.ports.push({ transport: port.protocol, span: piece });
                byCause.set(cause, entry);
            }
        }
    }
    return [...byCause.values()].map(({ exposure, ports }) => {
        const opened = mergedPorts(ports);
        const what = `${portKind}${opened.length > 1 ? "s" : ""} ${opened.join(", ")}`;
        const where = exposure.rules.map((rule) => rule.where).join(" + ");
        const verb = exposure.rules.length > 1 ? "together open" : "opens";
        const message = exposure.decided
            ? `${where} ${verb} ${what} to the whole internet (source ${exposure.sources.join(", ")})`
            : `${where} may open ${what} to the whole internet (source ${exposure.sources.join(", ")}); the policy cannot tell, because of ${exposure.doubts.join("; ")}`;
        return { decided: exposure.decided, urns: [...new Set(exposure.rules.map((rule) => rule.urn))], message };
    });
}
