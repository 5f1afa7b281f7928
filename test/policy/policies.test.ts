// The exposure policies rule by rule, on single resources. `unknownValue` is the sentinel the engine
// sends for an input it cannot know during preview; evaluate() hands rules their inputs behind
// @pulumi/policy's unknownCheckingProxy, as the engine does.
import { strict as assert } from "node:assert";
import { unknownCheckingProxy, UnknownValueError } from "@pulumi/policy";
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { defaultPolicyConfig, evaluate, PlannedResource, policies } from "../../policy/policies";
import {
    API,
    API_COMBINED,
    assertOneViolation,
    awsGroup,
    awsGroupRule,
    awsIngressRule,
    awsTcp,
    azureGroup,
    azureRule,
    HOST_FIREWALL,
    K3S,
    Props,
    SSH,
    summary,
    UNVERIFIED,
    UNVERIFIED_COMBINED,
    violations,
} from "./helpers";

describe("policy pack", () => {
    it("exports its policies with their enforcement levels", () => {
        assert.deepEqual(
            policies.map((policy) => [policy.name, policy.enforcementLevel, "validateStack" in policy ? "stack" : "resource"]),
            [
                [API, "mandatory", "resource"],
                [API_COMBINED, "mandatory", "stack"],
                [UNVERIFIED, "advisory", "resource"],
                [UNVERIFIED_COMBINED, "advisory", "stack"],
                [HOST_FIREWALL, "mandatory", "resource"],
                [K3S, "mandatory", "resource"],
                [SSH, "advisory", "resource"],
            ],
        );
    });

    it("defaults the watched ports to the k3s API, kubelet, etcd and flannel ports, in every config schema too", () => {
        assert.deepEqual(defaultPolicyConfig.apiPorts, [
            { protocol: "tcp", from: 6443 },
            { protocol: "tcp", from: 10250 },
            { protocol: "tcp", from: 2379, to: 2380 },
            { protocol: "udp", from: 8472 },
            { protocol: "udp", from: 51820, to: 51821 },
        ]);
        const configurable = policies.filter((policy) => policy.configSchema !== undefined).map((policy) => policy.name);
        assert.deepEqual(configurable, [API, API_COMBINED, UNVERIFIED, UNVERIFIED_COMBINED, HOST_FIREWALL]);
        for (const policy of policies.filter((each) => each.configSchema !== undefined)) {
            assert.deepEqual(policy.configSchema?.properties.apiPorts.default, defaultPolicyConfig.apiPorts, policy.name);
        }
    });
});

describe(API, () => {
    const openings: Array<[string, PlannedResource, string]> = [
        ["aws SecurityGroup ingress", awsGroup(awsTcp(22, 22, ["10.0.0.0/8"]), awsTcp(6443, 6443, ["0.0.0.0/0"])), 'SecurityGroup "k3s-sg" ingress[1]'],
        ["aws SecurityGroupRule", awsGroupRule(awsTcp(6443, 6443, ["0.0.0.0/0"])), 'SecurityGroupRule "api-rule"'],
        [
            "aws vpc SecurityGroupIngressRule",
            awsIngressRule({ ipProtocol: "tcp", fromPort: 6443, toPort: 6443, cidrIpv4: "0.0.0.0/0" }),
            'SecurityGroupIngressRule "api-ingress"',
        ],
        [
            "azure NetworkSecurityGroup securityRules",
            azureGroup({
                name: "allow-api",
                direction: "Inbound",
                access: "Allow",
                protocol: "Tcp",
                sourceAddressPrefix: "0.0.0.0/0",
                destinationPortRange: "6443",
            }),
            'NetworkSecurityGroup "k3s-nsg" securityRules[0] "allow-api"',
        ],
        [
            "azure SecurityRule",
            azureRule({ securityRuleName: "allow-api", sourceAddressPrefix: "0.0.0.0/0", destinationPortRange: "6443" }),
            'SecurityRule "api-nsg-rule" rule "allow-api"',
        ],
        [
            "azure SecurityRule under an API-version token",
            azureRule({ sourceAddressPrefix: "0.0.0.0/0", destinationPortRange: "6443" }, "azure-native:network/v20240301:SecurityRule"),
            'SecurityRule "api-nsg-rule"',
        ],
    ];
    for (const [kind, resource, where] of openings) {
        it(`blocks 6443/tcp from 0.0.0.0/0 in an ${kind}, naming resource, rule, port and source`, () => {
            const violation = assertOneViolation(violations(API, [resource]), `${where} opens API port 6443/tcp to the whole internet (source 0.0.0.0/0)`);
            assert.equal(violation.resource, resource.name);
            assert.equal(violation.enforcement, "mandatory");
        });
    }

    const privateOnly: Array<[string, PlannedResource]> = [
        ["aws SecurityGroup", awsGroup(awsTcp(6443, 6443, ["10.0.0.0/8"], { ipv6CidrBlocks: ["fd00::/8"] }))],
        ["aws SecurityGroupRule", awsGroupRule(awsTcp(6443, 6443, ["192.168.0.0/16"]))],
        ["aws vpc SecurityGroupIngressRule", awsIngressRule({ ipProtocol: "tcp", fromPort: 6443, toPort: 6443, cidrIpv6: "fd00::/8" })],
        ["azure NetworkSecurityGroup", azureGroup({ ...azureRule({}).props, sourceAddressPrefix: "VirtualNetwork", destinationPortRange: "*" })],
        ["azure SecurityRule", azureRule({ sourceAddressPrefixes: ["10.0.0.0/8", "100.64.0.0/10"], destinationPortRange: "6443" })],
    ];
    for (const [kind, resource] of privateOnly) {
        it(`passes an ${kind} that opens the API only to private sources`, () => {
            assert.deepEqual(violations(API, [resource]), []);
        });
    }

    describe("spellings of the whole internet", () => {
        const azureSpellings = [
            "0.0.0.0/0",
            "::/0",
            "::0/0",
            "0:0:0:0:0:0:0:0/0",
            "0000:0000:0000:0000:0000:0000:0000:0000/0",
            "  0.0.0.0/0 ",
            "0.0.0.0 / 0",
            "10.1.2.3/0",
            "2001:DB8::/0",
            "*",
            "Internet",
            "INTERNET",
            "Any",
            "0.0.0.0",
            "::",
        ];
        for (const source of azureSpellings) {
            it(`treats Azure source "${source}" as the whole internet`, () => {
                assertOneViolation(
                    violations(API, [azureRule({ sourceAddressPrefix: source, destinationPortRange: "6443" })]),
                    "6443/tcp",
                    `(source ${source.trim()})`,
                );
            });
        }

        const awsIpv6Spellings = ["::/0", "::0/0", "0:0:0:0:0:0:0:0/0", "::FFFF:0.0.0.0/0"];
        for (const source of awsIpv6Spellings) {
            it(`treats AWS ipv6CidrBlocks "${source}" as the whole internet`, () => {
                assertOneViolation(violations(API, [awsGroup(awsTcp(6443, 6443, [], { ipv6CidrBlocks: [source] }))]), `(source ${source})`);
            });
        }

        it("counts prefixes that together cover all of IPv4, naming them", () => {
            assertOneViolation(violations(API, [awsGroup(awsTcp(6443, 6443, ["0.0.0.0/1", "128.0.0.0/1"]))]), "(source 0.0.0.0/1, 128.0.0.0/1)");
        });

        it("counts overlapping, unordered prefixes across Azure's single and list fields", () => {
            const rule = azureRule({
                sourceAddressPrefix: "128.0.0.0/1",
                sourceAddressPrefixes: ["64.0.0.0/2", "0.0.0.0/2", "10.0.0.0/8"],
                destinationPortRange: "6443",
            });
            assertOneViolation(violations(API, [rule]), "128.0.0.0/1", "64.0.0.0/2", "0.0.0.0/2");
        });

        it("counts prefixes that together cover all of global unicast IPv6", () => {
            assertOneViolation(
                violations(API, [awsGroup(awsTcp(6443, 6443, [], { ipv6CidrBlocks: ["2000::/4", "3000::/4", "fd00::/8"] }))]),
                "(source 2000::/4, 3000::/4)",
            );
        });

        it("names only the source that covers the internet alone", () => {
            assertOneViolation(violations(API, [awsGroup(awsTcp(6443, 6443, ["10.0.0.0/8", "0.0.0.0/0"]))]), "(source 0.0.0.0/0)");
        });

        it("passes prefixes that leave a gap, however large", () => {
            // 208.0.0.0/4 is public and left out.
            const nearlyEverything = ["0.0.0.0/1", "128.0.0.0/2", "192.0.0.0/4", "224.0.0.0/3"];
            assert.deepEqual(violations(API, [awsGroup(awsTcp(6443, 6443, nearlyEverything))]), []);
            assert.deepEqual(violations(API, [awsGroup(awsTcp(6443, 6443, ["0.0.0.0/1", "::/0x"]))]), []);
        });

        it("does not mix families: all of IPv4 in ipv6CidrBlocks' mapped form is not all of IPv6", () => {
            assert.deepEqual(violations(API, [awsGroup(awsTcp(6443, 6443, ["0.0.0.0/1"], { ipv6CidrBlocks: ["::ffff:0:0/96"] }))]), []);
        });
    });

    describe("ports and protocols", () => {
        const awsCases: Array<[string, Props, string]> = [
            ["a TCP range containing the API port", awsTcp(6000, 7000, ["0.0.0.0/0"]), "API port 6443/tcp "],
            ["a range overlapping part of etcd's", awsTcp(2380, 2400, ["0.0.0.0/0"]), "API port 2380/tcp "],
            ["a range spanning etcd's", awsTcp(2000, 3000, ["0.0.0.0/0"]), "API port 2379-2380/tcp "],
            ["every TCP port", awsTcp(0, 65535, ["0.0.0.0/0"]), "API ports 6443/tcp, 10250/tcp, 2379-2380/tcp "],
            ['protocol "-1" whatever from/to say', { protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"] }, "6443/tcp, 10250/tcp, 2379-2380/tcp"],
            ["protocol -1 as a number", { protocol: -1, fromPort: 80, toPort: 80, cidrBlocks: ["0.0.0.0/0"] }, "6443/tcp"],
            ['protocol "all"', { protocol: "ALL", cidrBlocks: ["0.0.0.0/0"] }, "6443/tcp"],
            ["ports given as strings", { protocol: "tcp", fromPort: "10250", toPort: "10250", cidrBlocks: ["0.0.0.0/0"] }, "10250/tcp"],
            ['protocol "TCP" in capitals', { protocol: "TCP", fromPort: 6443, toPort: 6443, cidrBlocks: ["0.0.0.0/0"] }, "6443/tcp"],
            ['protocol number "6"', { protocol: "6", fromPort: 6443, toPort: 6443, cidrBlocks: ["0.0.0.0/0"] }, "6443/tcp"],
        ];
        for (const [what, rule, fragment] of awsCases) {
            it(`blocks ${what}`, () => {
                assertOneViolation(violations(API, [awsGroup(rule)]), fragment);
            });
        }

        const awsHarmless: Array<[string, Props]> = [
            ["UDP on the API port", { protocol: "udp", fromPort: 6443, toPort: 6443, cidrBlocks: ["0.0.0.0/0"] }],
            ['protocol number "17"', { protocol: "17", fromPort: 6443, toPort: 6443, cidrBlocks: ["0.0.0.0/0"] }],
            ["ICMP", { protocol: "icmp", fromPort: -1, toPort: -1, cidrBlocks: ["0.0.0.0/0"] }],
            ["ports next to the API ports", awsTcp(6444, 10249, ["0.0.0.0/0"])],
            ["web ports", awsTcp(80, 443, ["0.0.0.0/0"])],
        ];
        for (const [what, rule] of awsHarmless) {
            it(`passes ${what}`, () => {
                assert.deepEqual(violations(API, [awsGroup(rule)]), []);
            });
        }

        const azureCases: Array<[string, Props, string]> = [
            ['destination port "*"', { destinationPortRange: "*" }, "6443/tcp, 10250/tcp, 2379-2380/tcp"],
            ['a range "6000-7000"', { destinationPortRange: "6000-7000" }, "API port 6443/tcp "],
            ["a port list", { destinationPortRanges: ["80", "443", " 10250 "] }, "API port 10250/tcp "],
            ['protocol "*" (Azure still honours the ports)', { protocol: "*", destinationPortRange: "6443" }, "API port 6443/tcp "],
            ['protocol "TCP"', { protocol: "TCP", destinationPortRange: "2379" }, "API port 2379/tcp "],
        ];
        for (const [what, props, fragment] of azureCases) {
            it(`blocks an Azure rule with ${what}`, () => {
                assertOneViolation(violations(API, [azureRule({ sourceAddressPrefix: "Internet", ...props })]), fragment);
            });
        }

        it("passes an Azure UDP rule and a list without API ports", () => {
            const udp = azureRule({ protocol: "Udp", sourceAddressPrefix: "*", destinationPortRange: "6443" });
            const web = azureRule({ sourceAddressPrefix: "*", destinationPortRanges: ["80", "443"] });
            assert.deepEqual(violations(API, [udp, web]), []);
        });

        it("honours the configured API ports instead of the defaults", () => {
            const group = awsGroup(awsTcp(6443, 6443, ["0.0.0.0/0"]), awsTcp(8443, 8443, ["0.0.0.0/0"]));
            const config = { apiPorts: [{ protocol: "tcp" as const, from: 8443 }] };
            const found = violations(API, [group], config);
            assertOneViolation(found, "ingress[1]", "8443/tcp");
            const udpConfig = { apiPorts: [{ protocol: "udp" as const, from: 8472 }] };
            const vxlan = awsGroup({ protocol: "udp", fromPort: 8472, toPort: 8472, cidrBlocks: ["0.0.0.0/0"] });
            assertOneViolation(violations(API, [vxlan], udpConfig), "8472/udp");
        });
    });

    describe("rules that expose nothing", () => {
        it("ignores egress, in a SecurityGroup and as a SecurityGroupRule", () => {
            const group: PlannedResource = {
                type: "aws:ec2/securityGroup:SecurityGroup",
                name: "egress-only",
                props: { egress: [{ protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"] }] },
            };
            assert.deepEqual(violations(API, [group, awsGroupRule(awsTcp(6443, 6443, ["0.0.0.0/0"], { type: "egress" }))]), []);
        });

        it("ignores Azure Outbound and Deny rules, inline and standalone", () => {
            const outbound = { direction: "Outbound", sourceAddressPrefix: "*", destinationPortRange: "*" };
            const deny = { access: "Deny", sourceAddressPrefix: "Internet", destinationPortRange: "6443" };
            const inline = azureGroup({ ...azureRule(outbound).props, name: "out" }, { ...azureRule(deny).props, name: "deny" });
            assert.deepEqual(violations(API, [inline, azureRule(outbound), azureRule(deny)]), []);
        });

        it("does not apply to other resource types", () => {
            const bucket = { type: "aws:s3/bucket:Bucket", name: "b", props: { ingress: [awsTcp(6443, 6443, ["0.0.0.0/0"])] } };
            assert.deepEqual(evaluate([bucket]), []);
        });
    });

    it("reports each offending rule once, by index and name", () => {
        const group = awsGroup(awsTcp(6443, 6443, ["0.0.0.0/0"], { ipv6CidrBlocks: ["::/0"] }), awsTcp(443, 443, ["0.0.0.0/0"]), awsTcp(0, 65535, ["::/0"]));
        const found = violations(API, [group]);
        assert.deepEqual(
            found.map((violation) => violation.message),
            [
                'SecurityGroup "k3s-sg" ingress[0] opens API port 6443/tcp to the whole internet (source 0.0.0.0/0, ::/0)',
                'SecurityGroup "k3s-sg" ingress[2] opens API ports 6443/tcp, 10250/tcp, 2379-2380/tcp to the whole internet (source ::/0)',
            ],
        );
        const nsg = azureGroup(
            { ...azureRule({ sourceAddressPrefix: "*", destinationPortRange: "22" }).props, name: "ssh" },
            { ...azureRule({ sourceAddressPrefix: "*", destinationPortRange: "10250" }).props, name: "kubelet" },
        );
        assertOneViolation(violations(API, [nsg]), 'securityRules[1] "kubelet" opens API port 10250/tcp');
    });
});

describe(SSH, () => {
    const sshOpenings: PlannedResource[] = [
        awsGroup(awsTcp(22, 22, ["0.0.0.0/0"])),
        awsGroupRule(awsTcp(22, 22, ["0.0.0.0/0"])),
        awsIngressRule({ ipProtocol: "tcp", fromPort: "22", toPort: "22", cidrIpv4: "0.0.0.0/0" }),
        azureGroup({ ...azureRule({ sourceAddressPrefix: "Internet", destinationPortRange: "22" }).props, name: "ssh" }),
        azureRule({ sourceAddressPrefix: "*", destinationPortRange: "20-30" }),
    ];
    for (const resource of sshOpenings) {
        it(`warns, without blocking, about SSH open to the internet in ${resource.type}`, () => {
            const all = evaluate([resource]);
            const warning = assertOneViolation(all, `"${resource.name}"`, "SSH port 22/tcp", "to the whole internet (source ");
            assert.equal(warning.policy, SSH);
            assert.equal(warning.enforcement, "advisory");
        });
    }

    it("is quiet when SSH is open to an admin CIDR only", () => {
        assert.deepEqual(evaluate([awsGroup(awsTcp(22, 22, ["203.0.113.0/24"]))]), []);
    });

    it("fires alongside the mandatory rule when a rule opens everything", () => {
        const found = evaluate([awsGroup({ protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"] })]);
        assert.deepEqual(
            found.map((violation) => [violation.policy, violation.enforcement]),
            [
                [API, "mandatory"],
                [SSH, "advisory"],
            ],
        );
    });
});

describe("unknown values during preview", () => {
    it("uses the engine's sentinel: the proxy throws on reading it", () => {
        assert.throws(() => unknownCheckingProxy({ cidr: unknownValue }).cidr, UnknownValueError);
    });

    const everyWatchedPort = "API ports 6443/tcp, 10250/tcp, 2379-2380/tcp, 8472/udp, 51820-51821/udp";
    const undecided: Array<[PlannedResource, string]> = [
        [
            awsGroup(awsTcp(6443, 6443, [unknownValue])),
            'SecurityGroup "k3s-sg" ingress[0] may open API port 6443/tcp to the whole internet (source (unknown)); the policy cannot tell, because of a source unknown during preview',
        ],
        [
            { type: "aws:ec2/securityGroup:SecurityGroup", name: "all-unknown", props: { ingress: unknownValue } },
            `SecurityGroup "all-unknown" ingress may open ${everyWatchedPort} to the whole internet (source (unknown)); the policy cannot tell, because of the protocol unknown during preview; ports unknown during preview; a source unknown during preview`,
        ],
        [
            awsGroup({ protocol: "tcp", fromPort: unknownValue, toPort: unknownValue, cidrBlocks: ["0.0.0.0/0"] }),
            'SecurityGroup "k3s-sg" ingress[0] may open API ports 6443/tcp, 10250/tcp, 2379-2380/tcp to the whole internet (source 0.0.0.0/0); the policy cannot tell, because of ports unknown during preview',
        ],
        [
            awsGroupRule({ ...awsTcp(6443, 6443, ["0.0.0.0/0"]), type: unknownValue }),
            'SecurityGroupRule "api-rule" may open API port 6443/tcp to the whole internet (source 0.0.0.0/0); the policy cannot tell, because of its type (ingress or egress) unknown during preview',
        ],
        [
            awsIngressRule({ ipProtocol: unknownValue, fromPort: 6443, toPort: 6443, cidrIpv4: "0.0.0.0/0" }),
            `SecurityGroupIngressRule "api-ingress" may open ${everyWatchedPort} to the whole internet (source 0.0.0.0/0); the policy cannot tell, because of the protocol unknown during preview; ports unknown during preview`,
        ],
        [
            azureRule({ access: unknownValue, sourceAddressPrefix: "*", destinationPortRange: "6443" }),
            'SecurityRule "api-nsg-rule" may open API port 6443/tcp to the whole internet (source *); the policy cannot tell, because of its access unknown during preview',
        ],
        [
            azureGroup(unknownValue as unknown as Props),
            `NetworkSecurityGroup "k3s-nsg" securityRules[0] may open ${everyWatchedPort} to the whole internet (source (unknown)); the policy cannot tell, because of its direction and access unknown during preview; the protocol unknown during preview; ports unknown during preview; a source unknown during preview`,
        ],
    ];
    for (const [resource, message] of undecided) {
        it(`names, as an advisory, what it cannot know yet in ${resource.type} "${resource.name}"`, () => {
            assert.deepEqual(summary(evaluate([resource])), [[UNVERIFIED, resource.name, message]]);
        });
    }

    it("says nothing about unknowns that cannot open a watched port", () => {
        const harmless = [
            awsGroup({ protocol: "icmp", fromPort: -1, toPort: -1, cidrBlocks: [unknownValue] }),
            awsGroup(awsTcp(80, 443, [unknownValue])),
            azureRule({ access: unknownValue, sourceAddressPrefix: "10.0.0.0/8", destinationPortRange: "6443" }),
        ];
        assert.deepEqual(evaluate(harmless), []);
    });

    it("still reports what is known next to an unknown", () => {
        const group = awsGroup(unknownValue as unknown as Props, awsTcp(6443, 6443, ["0.0.0.0/0", unknownValue]));
        assertOneViolation(violations(API, [group]), "ingress[1] opens API port 6443/tcp", "(source 0.0.0.0/0)");
        const azure = azureRule({ sourceAddressPrefixes: [unknownValue, "Internet"], destinationPortRanges: [unknownValue, "6443"] });
        assertOneViolation(violations(API, [azure]), "6443/tcp", "(source Internet)");
    });
});
