// Every way issue 11 found to open a watched port to the internet past the pack, each refused.
import { strict as assert } from "node:assert";
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { evaluate, PlannedResource } from "../../policy/policies";
import { API, API_COMBINED, awsTcp, summary, UNVERIFIED, UNVERIFIED_COMBINED } from "./helpers";

/** Every IPv4 block outside RFC 1918, loopback, link-local, shared, this-network and class D/E (a WireGuard AllowedIPs list). */
const everyRoutableIpv4Block = [
    "1.0.0.0/8",
    "2.0.0.0/7",
    "4.0.0.0/6",
    "8.0.0.0/7",
    "11.0.0.0/8",
    "12.0.0.0/6",
    "16.0.0.0/4",
    "32.0.0.0/3",
    "64.0.0.0/3",
    "96.0.0.0/6",
    "100.0.0.0/10",
    "100.128.0.0/9",
    "101.0.0.0/8",
    "102.0.0.0/7",
    "104.0.0.0/5",
    "112.0.0.0/5",
    "120.0.0.0/6",
    "124.0.0.0/7",
    "126.0.0.0/8",
    "128.0.0.0/3",
    "160.0.0.0/5",
    "168.0.0.0/8",
    "169.0.0.0/9",
    "169.128.0.0/10",
    "169.192.0.0/11",
    "169.224.0.0/12",
    "169.240.0.0/13",
    "169.248.0.0/14",
    "169.252.0.0/15",
    "169.255.0.0/16",
    "170.0.0.0/7",
    "172.0.0.0/12",
    "172.32.0.0/11",
    "172.64.0.0/10",
    "172.128.0.0/9",
    "173.0.0.0/8",
    "174.0.0.0/7",
    "176.0.0.0/4",
    "192.0.0.0/9",
    "192.128.0.0/11",
    "192.160.0.0/13",
    "192.169.0.0/16",
    "192.170.0.0/15",
    "192.172.0.0/14",
    "192.176.0.0/12",
    "192.192.0.0/10",
    "193.0.0.0/8",
    "194.0.0.0/7",
    "196.0.0.0/6",
    "200.0.0.0/5",
    "208.0.0.0/4",
];

const group = (name: string, ingress: unknown[], type = "aws:ec2/securityGroup:SecurityGroup", extra = {}): PlannedResource => ({
    type,
    name,
    props: { ingress, ...extra },
});

describe("bypasses of issue 11, each refused", () => {
    it("every routable IPv4 block instead of 0.0.0.0/0", () => {
        const resource = group("routable", [awsTcp(6443, 6443, everyRoutableIpv4Block)]);
        assert.deepEqual(summary(evaluate([resource])), [
            [
                API,
                "routable",
                `SecurityGroup "routable" ingress[0] opens API port 6443/tcp to the whole internet (source ${everyRoutableIpv4Block.join(", ")})`,
            ],
        ]);
    });

    it("all of global unicast IPv6 instead of ::/0", () => {
        const resource = group("global-unicast", [awsTcp(10250, 10250, [], { ipv6CidrBlocks: ["2000::/3"] })]);
        assert.deepEqual(summary(evaluate([resource])), [
            [API, "global-unicast", 'SecurityGroup "global-unicast" ingress[0] opens API port 10250/tcp to the whole internet (source 2000::/3)'],
        ]);
    });

    it("halves split across entries of one group", () => {
        const resource = group("halves", [awsTcp(6443, 6443, ["0.0.0.0/1"]), awsTcp(6000, 7000, ["128.0.0.0/1"])]);
        assert.deepEqual(summary(evaluate([resource])), [
            [
                API,
                "halves",
                'SecurityGroup "halves" ingress[0] + SecurityGroup "halves" ingress[1] together open API port 6443/tcp to the whole internet (source 0.0.0.0/1, 128.0.0.0/1)',
            ],
        ]);
    });

    it("halves split across separate rule resources carrying the group's id", () => {
        const resources: PlannedResource[] = [
            group("base", [], "aws:ec2/securityGroup:SecurityGroup", { id: "sg-0abc" }),
            {
                type: "aws:ec2/securityGroupRule:SecurityGroupRule",
                name: "low-half",
                props: { type: "ingress", securityGroupId: "sg-0abc", ...awsTcp(6443, 6443, ["0.0.0.0/1"]) },
            },
            {
                type: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
                name: "high-half",
                props: { securityGroupId: "sg-0abc", ipProtocol: "tcp", fromPort: 6443, toPort: 6443, cidrIpv4: "128.0.0.0/1" },
            },
        ];
        assert.deepEqual(summary(evaluate(resources)), [
            [
                API_COMBINED,
                "low-half",
                'SecurityGroupRule "low-half" + SecurityGroupIngressRule "high-half" together open API port 6443/tcp to the whole internet (source 0.0.0.0/1, 128.0.0.0/1)',
            ],
        ]);
    });

    it("halves split across rule resources of a group whose id is unknown during preview (joined through the engine's property dependencies)", () => {
        const resources: PlannedResource[] = [
            group("new-group", [awsTcp(6443, 6443, ["0.0.0.0/1"])], "aws:ec2/securityGroup:SecurityGroup", { id: unknownValue }),
            {
                type: "aws:ec2/securityGroupRule:SecurityGroupRule",
                name: "other-half",
                props: { type: "ingress", securityGroupId: unknownValue, ...awsTcp(6443, 6443, ["128.0.0.0/1"]) },
                propertyDependencies: { securityGroupId: ["new-group"] },
            },
        ];
        assert.deepEqual(summary(evaluate(resources)), [
            [
                API_COMBINED,
                "new-group",
                'SecurityGroup "new-group" ingress[0] + SecurityGroupRule "other-half" together open API port 6443/tcp to the whole internet (source 0.0.0.0/1, 128.0.0.0/1)',
            ],
        ]);
    });

    it("halves split across standalone rules of an unknown group the engine cannot name: an advisory", () => {
        const resource: PlannedResource = {
            type: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            name: "half",
            props: { securityGroupId: unknownValue, ipProtocol: "tcp", fromPort: 6443, toPort: 6443, cidrIpv4: "0.0.0.0/1" },
        };
        assert.deepEqual(summary(evaluate([resource])), [
            [
                UNVERIFIED_COMBINED,
                "half",
                'SecurityGroupIngressRule "half" may open API port 6443/tcp to the whole internet (source 0.0.0.0/1, (unknown)); the policy cannot tell, because of the other rules of a security group unknown during preview',
            ],
        ]);
    });

    it("halves split across an azure-native NSG and a SecurityRule naming it", () => {
        const resources: PlannedResource[] = [
            {
                type: "azure-native:network:NetworkSecurityGroup",
                name: "nsg",
                props: {
                    resourceGroupName: "rg",
                    networkSecurityGroupName: "k3s-nsg",
                    securityRules: [
                        { name: "low", direction: "Inbound", access: "Allow", protocol: "Tcp", sourceAddressPrefix: "0.0.0.0/1", destinationPortRange: "6443" },
                    ],
                },
            },
            {
                type: "azure-native:network:SecurityRule",
                name: "high",
                props: {
                    resourceGroupName: "RG",
                    networkSecurityGroupName: "K3S-NSG",
                    direction: "Inbound",
                    access: "Allow",
                    protocol: "*",
                    sourceAddressPrefix: "128.0.0.0/1",
                    destinationPortRange: "*",
                },
            },
        ];
        assert.deepEqual(summary(evaluate(resources)), [
            [
                API_COMBINED,
                "nsg",
                'NetworkSecurityGroup "nsg" securityRules[0] "low" + SecurityRule "high" together open API port 6443/tcp to the whole internet (source 0.0.0.0/1, 128.0.0.0/1)',
            ],
        ]);
    });

    it("a prefix list: an advisory naming it", () => {
        const resource = group("listed", [awsTcp(6443, 6443, [], { prefixListIds: ["pl-0123"] })]);
        assert.deepEqual(summary(evaluate([resource])), [
            [
                UNVERIFIED,
                "listed",
                'SecurityGroup "listed" ingress[0] may open API port 6443/tcp to the whole internet (source prefix list pl-0123); the policy cannot tell, because of prefix list pl-0123, whose entries the policy cannot see',
            ],
        ]);
    });

    it("the default security group", () => {
        const resource = group("default", [awsTcp(6443, 6443, ["0.0.0.0/0"])], "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup");
        assert.deepEqual(summary(evaluate([resource])), [
            [API, "default", 'DefaultSecurityGroup "default" ingress[0] opens API port 6443/tcp to the whole internet (source 0.0.0.0/0)'],
        ]);
    });

    it("the AWS Cloud Control security group and its standalone ingress", () => {
        const resources: PlannedResource[] = [
            {
                type: "aws-native:ec2:SecurityGroup",
                name: "cc-group",
                props: {
                    groupDescription: "k3s",
                    groupId: "sg-0cc",
                    securityGroupIngress: [{ ipProtocol: "tcp", fromPort: 2379, toPort: 2380, cidrIpv6: "::/0" }],
                },
            },
            { type: "aws-native:ec2:SecurityGroupIngress", name: "cc-low", props: { groupId: "sg-0cc", ipProtocol: "-1", cidrIp: "0.0.0.0/1" } },
            {
                type: "aws-native:ec2:SecurityGroupIngress",
                name: "cc-high",
                props: { groupId: "sg-0cc", ipProtocol: "udp", fromPort: 8472, toPort: 8472, cidrIp: "128.0.0.0/1" },
            },
        ];
        assert.deepEqual(summary(evaluate(resources)), [
            [API, "cc-group", 'SecurityGroup "cc-group" securityGroupIngress[0] opens API port 2379-2380/tcp to the whole internet (source ::/0)'],
            [
                API_COMBINED,
                "cc-low",
                'SecurityGroupIngress "cc-low" + SecurityGroupIngress "cc-high" together open API port 8472/udp to the whole internet (source 0.0.0.0/1, 128.0.0.0/1)',
            ],
        ]);
    });

    it("the classic Azure provider's NSG and rule", () => {
        const rule = {
            direction: "Inbound",
            access: "Allow",
            protocol: "Tcp",
            sourcePortRange: "*",
            destinationPortRange: "6443",
            sourceAddressPrefix: "Internet",
        };
        const resources: PlannedResource[] = [
            {
                type: "azure:network/networkSecurityGroup:NetworkSecurityGroup",
                name: "classic-nsg",
                props: { name: "nsg", resourceGroupName: "rg", securityRules: [{ name: "api", ...rule }] },
            },
            {
                type: "azure:network/networkSecurityRule:NetworkSecurityRule",
                name: "classic-rule",
                props: { name: "kubelet", resourceGroupName: "rg", networkSecurityGroupName: "nsg", ...rule, destinationPortRange: "10250" },
            },
        ];
        assert.deepEqual(summary(evaluate(resources)), [
            [API, "classic-nsg", 'NetworkSecurityGroup "classic-nsg" securityRules[0] "api" opens API port 6443/tcp to the whole internet (source Internet)'],
            [API, "classic-rule", 'NetworkSecurityRule "classic-rule" rule "kubelet" opens API port 10250/tcp to the whole internet (source Internet)'],
        ]);
    });

    it("an internet-facing AWS load balancer listening on an API port, internal ones passing", () => {
        const resources: PlannedResource[] = [
            {
                type: "aws:lb/loadBalancer:LoadBalancer",
                name: "public-nlb",
                props: { loadBalancerType: "network", arn: "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/net/public/1" },
            },
            { type: "aws:lb/loadBalancer:LoadBalancer", name: "internal-nlb", props: { loadBalancerType: "network", internal: true, arn: "arn:internal" } },
            {
                type: "aws:lb/listener:Listener",
                name: "api",
                props: { loadBalancerArn: "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/net/public/1", port: 6443, protocol: "TCP" },
            },
            { type: "aws:lb/listener:Listener", name: "internal-api", props: { loadBalancerArn: "arn:internal", port: 6443, protocol: "TCP" } },
            {
                type: "aws:lb/listener:Listener",
                name: "web",
                props: { loadBalancerArn: "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/net/public/1", port: 443, protocol: "TCP" },
            },
        ];
        assert.deepEqual(summary(evaluate(resources)), [
            [API_COMBINED, "api", 'Listener "api" opens API port 6443/tcp to the whole internet (source an internet-facing load balancer)'],
        ]);
    });

    it("a Cloud Control load balancer with the default internet-facing scheme, joined while its ARN is unknown", () => {
        const resources: PlannedResource[] = [
            { type: "aws-native:elasticloadbalancingv2:LoadBalancer", name: "cc-lb", props: { type: "network", loadBalancerArn: unknownValue } },
            {
                type: "aws-native:elasticloadbalancingv2:Listener",
                name: "cc-etcd",
                props: { loadBalancerArn: unknownValue, port: 2379, protocol: "TCP" },
                propertyDependencies: { loadBalancerArn: ["cc-lb"] },
            },
        ];
        assert.deepEqual(summary(evaluate(resources)), [
            [API_COMBINED, "cc-etcd", 'Listener "cc-etcd" opens API port 2379/tcp to the whole internet (source an internet-facing load balancer)'],
        ]);
    });

    it("a classic ELB forwarding to the API port", () => {
        const resource: PlannedResource = {
            type: "aws:elb/loadBalancer:LoadBalancer",
            name: "elb",
            props: { listeners: [{ lbPort: 443, lbProtocol: "tcp", instancePort: 6443, instanceProtocol: "tcp" }] },
        };
        assert.deepEqual(summary(evaluate([resource])), [
            [API, "elb", 'LoadBalancer "elb" listeners[0] opens API port 6443/tcp to the whole internet (source an internet-facing load balancer)'],
        ]);
        assert.deepEqual(evaluate([{ ...resource, props: { ...resource.props, internal: true } }]), []);
    });

    it("an azure-native load balancer with a public frontend, NAT and balancing rules on API ports", () => {
        const resource: PlannedResource = {
            type: "azure-native:network:LoadBalancer",
            name: "alb",
            props: {
                resourceGroupName: "rg",
                frontendIPConfigurations: [
                    { name: "public", publicIPAddress: { id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/publicIPAddresses/ip" } },
                    { name: "private", privateIPAddress: "10.1.0.4", subnet: { id: "subnet" } },
                ],
                loadBalancingRules: [
                    {
                        name: "api",
                        protocol: "Tcp",
                        frontendPort: 443,
                        backendPort: 6443,
                        frontendIPConfiguration: { id: "/subscriptions/s/.../loadBalancers/alb/frontendIPConfigurations/public" },
                    },
                    {
                        name: "internal-api",
                        protocol: "Tcp",
                        frontendPort: 6443,
                        backendPort: 6443,
                        frontendIPConfiguration: { id: "/subscriptions/s/.../loadBalancers/alb/frontendIPConfigurations/private" },
                    },
                ],
                inboundNatRules: [
                    {
                        name: "vxlan",
                        protocol: "Udp",
                        frontendPort: 8472,
                        backendPort: 8472,
                        frontendIPConfiguration: { id: ".../frontendIPConfigurations/public" },
                    },
                ],
            },
        };
        assert.deepEqual(summary(evaluate([resource])), [
            [
                API,
                "alb",
                'LoadBalancer "alb" loadBalancingRules[0] "api" opens API port 6443/tcp to the whole internet (source an internet-facing load balancer)',
            ],
            [
                API,
                "alb",
                'LoadBalancer "alb" inboundNatRules[0] "vxlan" opens API port 8472/udp to the whole internet (source an internet-facing load balancer)',
            ],
        ]);
    });

    for (const tag of ["AzureCloud", "azurecloud"]) {
        it(`the ${tag} tag`, () => {
            const resource: PlannedResource = {
                type: "azure-native:network:SecurityRule",
                name: "cloud",
                props: { direction: "Inbound", access: "Allow", protocol: "Tcp", sourceAddressPrefix: tag, destinationPortRange: "6443" },
            };
            assert.deepEqual(summary(evaluate([resource])), [
                [API, "cloud", `SecurityRule "cloud" opens API port 6443/tcp to the whole internet (source ${tag})`],
            ]);
        });
    }

    it("UDP 8472 (unauthenticated VXLAN) and flannel's WireGuard ports", () => {
        const resource = group("vxlan", [{ protocol: "udp", fromPort: 8000, toPort: 60000, cidrBlocks: ["0.0.0.0/0"] }]);
        assert.deepEqual(summary(evaluate([resource])), [
            [API, "vxlan", 'SecurityGroup "vxlan" ingress[0] opens API ports 8472/udp, 51820-51821/udp to the whole internet (source 0.0.0.0/0)'],
        ]);
    });
});
