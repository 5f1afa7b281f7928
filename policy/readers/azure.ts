// Readers for Azure: azure-native (input names from @pulumi/azure-native 3's .d.ts files) and the
// classic provider (azure.network.NetworkSecurityGroup / NetworkSecurityRule: the same rule field
// names, per its registry docs). Network security groups, their standalone rules, load balancers.
import { addressSource, azurePortSpans, inboundRule, InboundRule, portNumber, ResourceRef, Source, transportsOf } from "../inbound";
import { field, Known, list, text, UNKNOWN } from "../inputs";
import { EVERY_PORT, PortSpan } from "../ports";
import { internetFacing, ReadResource } from "./shared";

function ruleName(rule: Known): string | undefined {
    return text(field(rule, "name")) ?? text(field(rule, "securityRuleName"));
}

/** An NSG rule, inline (`position` set) or standalone; only inbound allow rules open anything. */
function securityRule(rule: Known, resource: ResourceRef, position?: string): InboundRule[] {
    const direction = field(rule, "direction");
    const access = field(rule, "access");
    if ((direction !== UNKNOWN && text(direction)?.toLowerCase() !== "inbound") || (access !== UNKNOWN && text(access)?.toLowerCase() !== "allow")) {
        return [];
    }
    const unknownFields = [direction === UNKNOWN ? "direction" : [], access === UNKNOWN ? "access" : []].flat();
    const name = ruleName(rule);
    const named = name === undefined ? "" : ` "${name}"`;
    const label = position !== undefined ? `${position}${named}` : name !== undefined ? `rule${named}` : undefined;
    const protocol = field(rule, "protocol");
    const portSpecs = list(field(rule, "destinationPortRange"), field(rule, "destinationPortRanges"));
    return [
        inboundRule({
            resource,
            label,
            transports: transportsOf(text(protocol) ?? ""),
            transportUnknown: protocol === UNKNOWN,
            // Unlike AWS's "all", Azure's "*" protocol still honours the destination ports.
            ports: portSpecs.flatMap((spec) => azurePortSpans(text(spec) ?? "")),
            portsUnknown: portSpecs.includes(UNKNOWN),
            appliesUnknown: unknownFields.length > 0 ? `its ${unknownFields.join(" and ")} unknown during preview` : undefined,
            sources: list(field(rule, "sourceAddressPrefix"), field(rule, "sourceAddressPrefixes")).map(addressSource),
        }),
    ];
}

/** Resource group and NSG name, the pair a standalone rule names its NSG by (Azure names ignore case). */
function nsgKey(resourceGroup: Known, name: Known): Known {
    if (resourceGroup === UNKNOWN || name === UNKNOWN) {
        return UNKNOWN;
    }
    const group = text(resourceGroup);
    const nsg = text(name);
    return group === undefined || nsg === undefined ? undefined : `${group}/${nsg}`.toLowerCase();
}

function networkSecurityGroup(nameFields: string[]) {
    return (props: Known, resource: ResourceRef): ReadResource => {
        const rules = field(props, "securityRules");
        const unknownRules: Record<string, Known> = {
            direction: UNKNOWN,
            access: UNKNOWN,
            protocol: UNKNOWN,
            destinationPortRange: UNKNOWN,
            sourceAddressPrefix: UNKNOWN,
        };
        return {
            rules:
                rules === UNKNOWN
                    ? securityRule(unknownRules, resource, "securityRules")
                    : list(rules).flatMap((rule, index) => securityRule(rule === UNKNOWN ? unknownRules : rule, resource, `securityRules[${index}]`)),
            group: {
                kind: "network security group",
                keys: nameFields.map((name) => nsgKey(field(props, "resourceGroupName"), field(props, name))),
            },
        };
    };
}

function standaloneSecurityRule(props: Known, resource: ResourceRef): ReadResource {
    return {
        rules: securityRule(props, resource),
        joins: {
            kind: "network security group",
            field: "networkSecurityGroupName",
            value: nsgKey(field(props, "resourceGroupName"), field(props, "networkSecurityGroupName")),
        },
    };
}

/** The frontend a load-balancer rule uses: named by the last segment of its SubResource id. */
function frontendSources(frontends: Map<string, Source[]>, reference: Known): Source[] {
    const id = field(reference, "id");
    const name = text(id)?.split("/").pop()?.toLowerCase();
    const named = name === undefined ? undefined : frontends.get(name);
    if (named !== undefined) {
        return named;
    }
    if (frontends.size === 1) {
        return [...frontends.values()][0];
    }
    const anyPublic = [...frontends.values()].some((sources) => sources.length > 0);
    return anyPublic ? [{ text: "(unknown)", ranges: [], doubt: "a frontend the policy cannot identify, on a load balancer with a public one" }] : [];
}

/** azure-native LoadBalancer: a frontend with a public IP (or prefix) is the internet's way in. */
function loadBalancer(props: Known, resource: ResourceRef): ReadResource {
    const frontends = new Map<string, Source[]>();
    for (const [index, frontend] of list(field(props, "frontendIPConfigurations")).entries()) {
        const publicParts = [field(frontend, "publicIPAddress"), field(frontend, "publicIPPrefix")];
        const flag = publicParts.includes(UNKNOWN) ? UNKNOWN : publicParts.some((part) => part !== undefined && part !== null);
        const name = text(field(frontend, "name"))?.toLowerCase() ?? `#${index}`;
        frontends.set(name, internetFacing(flag, false, "public address"));
    }
    const ruleLists: Array<[string, Known]> = [
        ["loadBalancingRules", field(props, "loadBalancingRules")],
        ["inboundNatRules", field(props, "inboundNatRules")],
        ["inboundNatPools", field(props, "inboundNatPools")],
    ];
    const rules = ruleLists.flatMap(([listName, items]) =>
        list(items).map((rule, index) => {
            const protocol = field(rule, "protocol");
            const portFields = ["frontendPort", "backendPort", "frontendPortRangeStart", "frontendPortRangeEnd"].map((name) => field(rule, name));
            const [frontendPort, backendPort, rangeStart, rangeEnd] = portFields.map(portNumber);
            const allPorts = text(protocol)?.toLowerCase() === "all" && frontendPort === 0;
            const ports: PortSpan[] = allPorts
                ? [EVERY_PORT]
                : [
                      ...[frontendPort, backendPort].flatMap((port) => (port === undefined ? [] : [{ from: port, to: port }])),
                      ...(rangeStart !== undefined && rangeEnd !== undefined ? [{ from: rangeStart, to: rangeEnd }] : []),
                  ];
            const name = text(field(rule, "name"));
            return inboundRule({
                resource,
                label: `${listName}[${index}]${name === undefined ? "" : ` "${name}"`}`,
                transports: transportsOf(text(protocol) ?? ""),
                transportUnknown: protocol === UNKNOWN,
                ports,
                portsUnknown: portFields.includes(UNKNOWN),
                sources: frontendSources(frontends, field(rule, "frontendIPConfiguration")),
            });
        }),
    );
    return { rules };
}

export const azureReaders: Record<string, (props: Known, resource: ResourceRef) => ReadResource> = {
    "azure-native:network:NetworkSecurityGroup": networkSecurityGroup(["networkSecurityGroupName", "name"]),
    "azure-native:network:SecurityRule": standaloneSecurityRule,
    "azure-native:network:LoadBalancer": loadBalancer,
    "azure:network/networkSecurityGroup:NetworkSecurityGroup": networkSecurityGroup(["name"]),
    "azure:network/networkSecurityRule:NetworkSecurityRule": standaloneSecurityRule,
};
