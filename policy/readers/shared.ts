// What a reader returns for one resource, and the helpers every provider's readers share.
import { IPV4, IPV6, wholeFamily } from "../addresses";
import { InboundRule, Source } from "../inbound";
import { Known, text, UNKNOWN } from "../inputs";

/** Which kind of group a reference points into (security groups, NSGs, load balancers). */
export type GroupKind = "security group" | "network security group" | "load balancer" | "prefix list" | "target group";

/** A standalone rule's (or listener's) reference to the group it belongs to. */
export interface GroupReference {
    kind: GroupKind;
    /** The input holding the reference, as the engine names it in propertyDependencies; "*" for any input. */
    field: string;
    value: Known;
}

export interface ReadResource {
    rules: InboundRule[];
    /** Set on resources whose rules belong to another resource's group. */
    joins?: GroupReference;
    /** Set on resources others refer to: the group kind and the values they use (ids, ARNs, names). */
    group?: { kind: GroupKind; keys: Known[] };
    /**
     * Who reaches a load balancer's frontends. A listener's own rules carry no sources: they come
     * from its load balancer, which only the whole stack shows.
     */
    frontSources?: Source[];
    /**
     * What a prefix list or target group holds, and what its standalone entries or attachments add
     * to it: CIDRs of a prefix list, ports of a target group.
     */
    members?: Known[];
    /** Set on a listener: the target groups it forwards to (their ports are reached through it). */
    forwardsTo?: GroupReference[];
}

export const nothing: ReadResource = { rules: [] };

/** Who reaches a load balancer: nobody outside when `flag` says internal, else the whole internet. */
export function internetFacing(flag: Known, internalValue: boolean | string, what: string): Source[] {
    if (flag === UNKNOWN) {
        return [{ text: "(unknown)", ranges: [], doubt: `a load balancer whose ${what} is unknown during preview` }];
    }
    const internal = typeof internalValue === "string" ? text(flag)?.toLowerCase() === internalValue : flag === internalValue;
    return internal ? [] : [{ text: "an internet-facing load balancer", ranges: [wholeFamily(IPV4), wholeFamily(IPV6)] }];
}
