// Fixtures and assertions the policy tests share.
import { strict as assert } from "node:assert";
import { evaluate, PlannedResource, PolicyViolation } from "../../policy/policies";

export const API = "no-api-port-open-to-internet";
export const API_COMBINED = "no-api-port-open-to-internet-combined";
export const UNVERIFIED = "api-port-exposure-unverified";
export const UNVERIFIED_COMBINED = "api-port-exposure-unverified-combined";
export const HOST_FIREWALL = "host-firewall-keeps-api-ports-on-mesh";
export const K3S = "k3s-server-binds-mesh-address";
export const SSH = "ssh-open-to-internet";

export type Props = Record<string, unknown>;

export const awsGroup = (...ingress: Props[]): PlannedResource => ({
    type: "aws:ec2/securityGroup:SecurityGroup",
    name: "k3s-sg",
    props: { ingress },
});
export const awsGroupRule = (props: Props, name = "api-rule"): PlannedResource => ({
    type: "aws:ec2/securityGroupRule:SecurityGroupRule",
    name,
    props: { type: "ingress", ...props },
});
export const awsIngressRule = (props: Props, name = "api-ingress"): PlannedResource => ({
    type: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    name,
    props,
});
export const azureGroup = (...securityRules: Props[]): PlannedResource => ({
    type: "azure-native:network:NetworkSecurityGroup",
    name: "k3s-nsg",
    props: { securityRules },
});
export const azureRule = (props: Props, type = "azure-native:network:SecurityRule", name = "api-nsg-rule"): PlannedResource => ({
    type,
    name,
    props: { direction: "Inbound", access: "Allow", protocol: "Tcp", ...props },
});

/** An AWS rule (inline ingress item, or rule resource props) opening `from`-`to` over TCP from `cidrs`. */
export const awsTcp = (from: number, to: number, cidrBlocks: unknown[], extra: Props = {}): Props => ({
    protocol: "tcp",
    fromPort: from,
    toPort: to,
    cidrBlocks,
    ...extra,
});

export function violations(policy: string, resources: PlannedResource[], config = {}): PolicyViolation[] {
    return evaluate(resources, config).filter((violation) => violation.policy === policy);
}

/** Asserts exactly one violation, whose message says every fragment; returns it. */
export function assertOneViolation(found: PolicyViolation[], ...fragments: string[]): PolicyViolation {
    assert.equal(found.length, 1, `expected one violation, got ${JSON.stringify(found, null, 1)}`);
    for (const fragment of fragments) {
        assert.ok(found[0].message.includes(fragment), `"${found[0].message}" should mention "${fragment}"`);
    }
    return found[0];
}

/** Every violation as [policy, resource, message], for exact comparisons. */
export function summary(found: PolicyViolation[]): Array<[string, string, string]> {
    return found.map((violation) => [violation.policy, violation.resource, violation.message]);
}
