// Readers for AWS: classic provider (@pulumi/aws 7: input names from its .d.ts files) and Cloud
// Control (aws-native, names from AWS::EC2::SecurityGroup(Ingress) and AWS::ElasticLoadBalancingV2
// in the registry docs). Security groups, their standalone rules, prefix lists, load balancers and
// the target groups their listeners forward to.
import { addressSource, inboundRule, isEveryProtocol, portNumber, prefixListSource, ResourceRef, Source, transportsOf } from "../inbound";
import { field, Known, list, text, UNKNOWN } from "../inputs";
import { EVERY_PORT, PortSpan } from "../ports";
import { internetFacing, nothing, ReadResource } from "./shared";

/** Where one AWS rule shape keeps its protocol and sources (ports are fromPort/toPort everywhere). */
interface AwsRuleFields {
    protocol: string;
    cidrs: string[];
    prefixLists: string[];
}
/** aws.ec2.SecurityGroup ingress[], DefaultSecurityGroup ingress[], SecurityGroupRule. */
const classicFields: AwsRuleFields = { protocol: "protocol", cidrs: ["cidrBlocks", "ipv6CidrBlocks"], prefixLists: ["prefixListIds"] };
/** aws.vpc.SecurityGroupIngressRule. */
const vpcFields: AwsRuleFields = { protocol: "ipProtocol", cidrs: ["cidrIpv4", "cidrIpv6"], prefixLists: ["prefixListId"] };
/** aws-native ec2 SecurityGroup securityGroupIngress[] and SecurityGroupIngress. */
const cloudControlFields: AwsRuleFields = { protocol: "ipProtocol", cidrs: ["cidrIp", "cidrIpv6"], prefixLists: ["sourcePrefixListId"] };

/** fromPort/toPort; -1 (ICMP's "any") read as the end of the range it stands for. */
function awsPorts(rule: Known): { ports: PortSpan[]; unknown: boolean } {
    const fromField = field(rule, "fromPort");
    const toField = field(rule, "toPort");
    if (fromField === UNKNOWN || toField === UNKNOWN) {
        return { ports: [], unknown: true };
    }
    const from = portNumber(fromField);
    const to = portNumber(toField);
    if (from === undefined || to === undefined) {
        return { ports: [], unknown: false };
    }
    return { ports: [{ from: Math.max(from, EVERY_PORT.from), to: to < 0 ? EVERY_PORT.to : to }], unknown: false };
}

function awsRule(rule: Known, fields: AwsRuleFields, resource: ResourceRef, label?: string, appliesUnknown?: string) {
    const protocolField = field(rule, fields.protocol);
    const protocol = text(protocolField);
    const ports = awsPorts(rule);
    // AWS ignores fromPort/toPort when the protocol is "all" (-1).
    const everyPort = protocol !== undefined && isEveryProtocol(protocol);
    const sources: Source[] = [
        ...list(...fields.cidrs.map((name) => field(rule, name))).map(addressSource),
        ...list(...fields.prefixLists.map((name) => field(rule, name))).map(prefixListSource),
    ];
    return inboundRule({
        resource,
        label,
        transports: protocol === undefined ? [] : transportsOf(protocol),
        transportUnknown: protocolField === UNKNOWN,
        ports: everyPort ? [EVERY_PORT] : ports.ports,
        portsUnknown: protocolField === UNKNOWN || (!everyPort && ports.unknown),
        appliesUnknown,
        sources,
    });
}

/** Inline rules; an unknown list, or an unknown item, reads as a rule whose every field is unknown. */
function inlineRules(items: Known, fields: AwsRuleFields, resource: ResourceRef, listName: string) {
    const unknownRule: Known = { [fields.protocol]: UNKNOWN, fromPort: UNKNOWN, toPort: UNKNOWN, [fields.cidrs[0]]: UNKNOWN };
    if (items === UNKNOWN) {
        return [awsRule(unknownRule, fields, resource, listName)];
    }
    return list(items).map((rule, index) => awsRule(rule === UNKNOWN ? unknownRule : rule, fields, resource, `${listName}[${index}]`));
}

function securityGroup(listName: string, fields: AwsRuleFields, keyFields: string[]) {
    return (props: Known, resource: ResourceRef): ReadResource => ({
        rules: inlineRules(field(props, listName), fields, resource, listName),
        group: { kind: "security group", keys: keyFields.map((name) => field(props, name)) },
    });
}

function standaloneRule(fields: AwsRuleFields, groupField: string) {
    return (props: Known, resource: ResourceRef): ReadResource => ({
        rules: [awsRule(props, fields, resource)],
        joins: { kind: "security group", field: groupField, value: field(props, groupField) },
    });
}

/** Where a listener's default actions keep target group ARNs: aws.lb, and aws-native (CloudFormation's names). */
interface ListenerFields {
    targetGroup: string;
    forward: string;
    forwardedGroup: string;
}
const classicListenerFields: ListenerFields = { targetGroup: "targetGroupArn", forward: "forward", forwardedGroup: "arn" };
const cloudControlListenerFields: ListenerFields = { targetGroup: "targetGroupArn", forward: "forwardConfig", forwardedGroup: "targetGroupArn" };

/** Listeners of aws.lb (alias aws.alb) and aws-native elasticloadbalancingv2: port, protocol, forward targets. */
function listener(fields: ListenerFields) {
    return (props: Known, resource: ResourceRef): ReadResource => {
        const portField = field(props, "port");
        const port = portNumber(portField);
        const protocolField = field(props, "protocol");
        const actions = field(props, "defaultActions");
        const targetGroups = list(actions).flatMap((action) => [
            ...list(field(action, fields.targetGroup)),
            ...list(field(field(action, fields.forward), "targetGroups")).map((group) => field(group, fields.forwardedGroup)),
        ]);
        const forwarded: Known[] = actions === UNKNOWN ? [UNKNOWN] : targetGroups;
        return {
            // A listener without a protocol is HTTP (ALB) or refused (NLB): TCP either way.
            rules: [
                inboundRule({
                    resource,
                    transports: transportsOf(text(protocolField) ?? "tcp"),
                    transportUnknown: protocolField === UNKNOWN,
                    ports: port === undefined ? [] : [{ from: port, to: port }],
                    portsUnknown: portField === UNKNOWN,
                    sources: [],
                }),
            ],
            joins: { kind: "load balancer", field: "loadBalancerArn", value: field(props, "loadBalancerArn") },
            forwardsTo: forwarded.map((value) => ({ kind: "target group", field: "defaultActions", value })),
        };
    };
}

/** A target group's port, and attachments overriding it per target. */
function targetGroup(keyFields: string[]) {
    return (props: Known): ReadResource => ({
        rules: [],
        group: { kind: "target group", keys: keyFields.map((name) => field(props, name)) },
        members: [field(props, "port")],
    });
}

function targetGroupAttachment(props: Known): ReadResource {
    const port = field(props, "port");
    return {
        rules: [],
        joins: { kind: "target group", field: "targetGroupArn", value: field(props, "targetGroupArn") },
        members: port === undefined ? [] : [port],
    };
}

/** aws.elb.LoadBalancer: listeners inline; the instance port is reached through the LB port. */
function classicElb(props: Known, resource: ResourceRef): ReadResource {
    const sources = internetFacing(field(props, "internal"), true, "internal flag");
    const rules = list(field(props, "listeners")).map((item, index) => {
        const ports = ["lbPort", "instancePort"].map((name) => field(item, name));
        const protocol = field(item, "lbProtocol");
        return inboundRule({
            resource,
            label: `listeners[${index}]`,
            transports: transportsOf(text(protocol) ?? "tcp"),
            transportUnknown: protocol === UNKNOWN,
            ports: ports.flatMap((value) => portNumber(value) ?? []).map((port) => ({ from: port, to: port })),
            portsUnknown: ports.includes(UNKNOWN),
            sources,
        });
    });
    return { rules };
}

/** aws.lb (alias aws.alb) LoadBalancer: internet-facing unless `internal`. */
function loadBalancer(props: Known): ReadResource {
    return {
        rules: [],
        group: { kind: "load balancer", keys: [field(props, "arn"), field(props, "id")] },
        frontSources: internetFacing(field(props, "internal"), true, "internal flag"),
    };
}

/** aws.ec2.ManagedPrefixList and aws-native ec2 PrefixList: `entries[].cidr`. */
function prefixList(keyFields: string[]) {
    return (props: Known): ReadResource => {
        const entries = field(props, "entries");
        const cidrs: Known[] = entries === UNKNOWN ? [UNKNOWN] : list(entries).map((entry) => (entry === UNKNOWN ? UNKNOWN : field(entry, "cidr")));
        return { rules: [], group: { kind: "prefix list", keys: keyFields.map((name) => field(props, name)) }, members: cidrs };
    };
}

export const awsReaders: Record<string, (props: Known, resource: ResourceRef) => ReadResource> = {
    "aws:ec2/securityGroup:SecurityGroup": securityGroup("ingress", classicFields, ["id", "arn"]),
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": securityGroup("ingress", classicFields, ["id", "arn"]),
    "aws:ec2/securityGroupRule:SecurityGroupRule": (props, resource) => {
        const type = field(props, "type");
        if (type !== UNKNOWN && text(type)?.toLowerCase() !== "ingress") {
            return nothing;
        }
        const appliesUnknown = type === UNKNOWN ? "its type (ingress or egress) unknown during preview" : undefined;
        return {
            rules: [awsRule(props, classicFields, resource, undefined, appliesUnknown)],
            joins: { kind: "security group", field: "securityGroupId", value: field(props, "securityGroupId") },
        };
    },
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": standaloneRule(vpcFields, "securityGroupId"),
    "aws-native:ec2:SecurityGroup": securityGroup("securityGroupIngress", cloudControlFields, ["groupId", "id"]),
    "aws-native:ec2:SecurityGroupIngress": standaloneRule(cloudControlFields, "groupId"),
    "aws:elb/loadBalancer:LoadBalancer": classicElb,
    "aws:ec2/managedPrefixList:ManagedPrefixList": prefixList(["id", "arn"]),
    "aws-native:ec2:PrefixList": prefixList(["prefixListId", "id", "arn"]),
    "aws:ec2/managedPrefixListEntry:ManagedPrefixListEntry": (props) => ({
        rules: [],
        joins: { kind: "prefix list", field: "prefixListId", value: field(props, "prefixListId") },
        members: [field(props, "cidr")],
    }),
    "aws-native:elasticloadbalancingv2:LoadBalancer": (props) => ({
        rules: [],
        group: { kind: "load balancer", keys: [field(props, "loadBalancerArn"), field(props, "id")] },
        frontSources: internetFacing(field(props, "scheme"), "internal", "scheme"),
    }),
    "aws:lb/loadBalancer:LoadBalancer": loadBalancer,
    "aws:alb/loadBalancer:LoadBalancer": loadBalancer,
    "aws:lb/listener:Listener": listener(classicListenerFields),
    "aws:alb/listener:Listener": listener(classicListenerFields),
    "aws:lb/targetGroup:TargetGroup": targetGroup(["arn", "id"]),
    "aws:alb/targetGroup:TargetGroup": targetGroup(["arn", "id"]),
    "aws:lb/targetGroupAttachment:TargetGroupAttachment": targetGroupAttachment,
    "aws:alb/targetGroupAttachment:TargetGroupAttachment": targetGroupAttachment,
    "aws-native:elasticloadbalancingv2:Listener": listener(cloudControlListenerFields),
    "aws-native:elasticloadbalancingv2:TargetGroup": targetGroup(["targetGroupArn", "id"]),
};
