// What the policy joins across resources of a stack: prefix lists and their entries, load balancers,
// listeners, target groups and attachments, also while the engine still has their ids unknown.
import { strict as assert } from "node:assert";
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { evaluate, PlannedResource } from "../../policy/policies";
import { API_COMBINED, summary, UNVERIFIED, UNVERIFIED_COMBINED } from "./helpers";

describe("prefix lists the stack holds", () => {
    const rule = (prefixListId: unknown, dependsOn?: string): PlannedResource => ({
        type: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        name: "listed-api",
        props: { securityGroupId: "sg-0abc", ipProtocol: "tcp", fromPort: 6443, toPort: 6443, prefixListId },
        ...(dependsOn === undefined ? {} : { propertyDependencies: { prefixListId: [dependsOn] } }),
    });
    const advisory: [string, string, string] = [
        UNVERIFIED,
        "listed-api",
        'SecurityGroupIngressRule "listed-api" may open API port 6443/tcp to the whole internet (source prefix list pl-0abc); the policy cannot tell, because of prefix list pl-0abc, whose entries the policy cannot see',
    ];

    it("are read from their entries, inline and standalone: covering the internet is a violation", () => {
        const resources: PlannedResource[] = [
            {
                type: "aws:ec2/managedPrefixList:ManagedPrefixList",
                name: "admins",
                props: { id: "pl-0abc", addressFamily: "IPv4", maxEntries: 4, entries: [{ cidr: "0.0.0.0/1" }] },
            },
            { type: "aws:ec2/managedPrefixListEntry:ManagedPrefixListEntry", name: "admins-2", props: { prefixListId: "pl-0abc", cidr: "128.0.0.0/1" } },
            rule("pl-0abc"),
        ];
        assert.deepEqual(summary(evaluate(resources)), [
            advisory,
            [API_COMBINED, "listed-api", 'SecurityGroupIngressRule "listed-api" opens API port 6443/tcp to the whole internet (source prefix list pl-0abc)'],
        ]);
    });

    it("are joined through the engine's property dependencies while their id is unknown", () => {
        const resources: PlannedResource[] = [
            { type: "aws-native:ec2:PrefixList", name: "everyone", props: { prefixListName: "everyone", addressFamily: "IPv6", entries: [{ cidr: "::/0" }] } },
            rule(unknownValue, "everyone"),
        ];
        assert.deepEqual(summary(evaluate(resources)), [
            [
                UNVERIFIED,
                "listed-api",
                'SecurityGroupIngressRule "listed-api" may open API port 6443/tcp to the whole internet (source prefix list (unknown)); the policy cannot tell, because of prefix list (unknown), whose entries the policy cannot see',
            ],
            [API_COMBINED, "listed-api", 'SecurityGroupIngressRule "listed-api" opens API port 6443/tcp to the whole internet (source prefix list (unknown))'],
        ]);
    });

    it("pass when their entries are private, the advisory about the rule alone remaining", () => {
        const resources: PlannedResource[] = [
            {
                type: "aws:ec2/managedPrefixList:ManagedPrefixList",
                name: "office",
                props: { id: "pl-0abc", addressFamily: "IPv4", maxEntries: 1, entries: [{ cidr: "10.20.0.0/16" }] },
            },
            rule("pl-0abc"),
        ];
        assert.deepEqual(summary(evaluate(resources)), [advisory]);
    });
});

describe("load balancers forwarding to a watched port", () => {
    const publicLb: PlannedResource = { type: "aws:lb/loadBalancer:LoadBalancer", name: "nlb", props: { arn: "arn:nlb" } };
    const listener = (targetGroupArn: unknown, extra: Partial<PlannedResource> = {}): PlannedResource => ({
        type: "aws:lb/listener:Listener",
        name: "https",
        props: { loadBalancerArn: "arn:nlb", port: 443, protocol: "TCP", defaultActions: [{ type: "forward", targetGroupArn }] },
        ...extra,
    });

    it("refuses a public listener on 443 whose target group listens on 6443", () => {
        const resources = [
            publicLb,
            { type: "aws:lb/targetGroup:TargetGroup", name: "api", props: { arn: "arn:tg", port: 6443, protocol: "TCP" } },
            listener("arn:tg"),
        ];
        assert.deepEqual(summary(evaluate(resources)), [
            [API_COMBINED, "https", 'Listener "https" opens API port 6443/tcp to the whole internet (source an internet-facing load balancer)'],
        ]);
    });

    it("refuses an attachment that sends the target group's traffic to the kubelet, joined while ARNs are unknown", () => {
        const resources: PlannedResource[] = [
            publicLb,
            { type: "aws:lb/targetGroup:TargetGroup", name: "web", props: { arn: unknownValue, port: 443, protocol: "TCP" } },
            {
                type: "aws:lb/targetGroupAttachment:TargetGroupAttachment",
                name: "to-kubelet",
                props: { targetGroupArn: unknownValue, targetId: "i-1", port: 10250 },
                propertyDependencies: { targetGroupArn: ["web"] },
            },
            listener(unknownValue, { propertyDependencies: { defaultActions: ["web"] } }),
        ];
        assert.deepEqual(summary(evaluate(resources)), [
            [API_COMBINED, "https", 'Listener "https" opens API port 10250/tcp to the whole internet (source an internet-facing load balancer)'],
        ]);
    });

    it("names a target group outside the stack as an advisory", () => {
        assert.deepEqual(summary(evaluate([publicLb, listener("arn:elsewhere")])), [
            [
                UNVERIFIED_COMBINED,
                "https",
                `Listener "https" may open API ports 6443/tcp, 10250/tcp, 2379-2380/tcp to the whole internet (source an internet-facing load balancer); the policy cannot tell, because of target group arn:elsewhere, which the policy cannot find`,
            ],
        ]);
    });
});
