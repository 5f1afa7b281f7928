// The pack on whole planned stacks: the prod plan passes, and the analyzer's own request handlers
// (what `pulumi preview --policy-pack` calls: one request per resource, one for the stack) report
// exactly what evaluate() reports.
import { strict as assert } from "node:assert";
import { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import {
    AnalyzeRequest,
    AnalyzeResponse,
    AnalyzerPropertyDependencies,
    AnalyzerResource,
    AnalyzerResourceOptions,
    AnalyzeStackRequest,
    EnforcementLevel,
} from "@pulumi/pulumi/proto/analyzer_pb";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import { PlanResult, readStackConfig, runPlan, unwrapSecrets } from "../../plan/plan";
import { evaluate, PlannedResource, policies } from "../../policy/policies";
import { API_COMBINED, awsTcp, HOST_FIREWALL, SSH } from "./helpers";

type Diagnostic = [policy: string, resource: string, message: string, enforcement: string];
type Call<Request> = (call: { request: Request }, callback: (error: unknown, response?: AnalyzeResponse) => void) => Promise<void>;

// Internal to @pulumi/policy, hence untyped: the handlers its gRPC server registers.
const server = require("@pulumi/policy/server") as {
    makeAnalyzeRpcFun: (pack: string, version: string, level: string, policies: ResourceValidationPolicy[]) => Call<AnalyzeRequest>;
    makeAnalyzeStackRpcFun: (pack: string, version: string, level: string, policies: StackValidationPolicy[]) => Call<AnalyzeStackRequest>;
};
const packArgs = ["hybrid-k3s", "0.2.0", "mandatory"] as const;

/** The URN evaluate() gives a resource, so that engine diagnostics name the same resources. */
const urnOf = (resource: PlannedResource) => `urn:pulumi:evaluate::hybrid-k3s::${resource.type}::${resource.name}`;

function struct(props: Record<string, unknown>): Struct {
    return Struct.fromJavaScript(props as Parameters<typeof Struct.fromJavaScript>[0]);
}

async function respond<Request>(handler: Call<Request>, request: Request): Promise<AnalyzeResponse> {
    return new Promise((resolve, reject) => {
        void handler({ request }, (error, response) => (error || !response ? reject(error) : resolve(response)));
    });
}

async function engineDiagnostics(resources: PlannedResource[]): Promise<Diagnostic[]> {
    const nameOf = new Map(resources.map((resource) => [urnOf(resource), resource.name]));
    const toDiagnostics = (response: AnalyzeResponse, fallback: string): Diagnostic[] =>
        response
            .getDiagnosticsList()
            .map((diagnostic) => [
                diagnostic.getPolicyname(),
                nameOf.get(diagnostic.getUrn()) ?? fallback,
                diagnostic.getMessage(),
                diagnostic.getEnforcementlevel() === EnforcementLevel.MANDATORY ? "mandatory" : "advisory",
            ]);
    const analyze = server.makeAnalyzeRpcFun(...packArgs, policies as ResourceValidationPolicy[]);
    const found: Diagnostic[] = [];
    for (const resource of resources) {
        const request = new AnalyzeRequest()
            .setType(resource.type)
            .setName(resource.name)
            .setUrn(urnOf(resource))
            .setProperties(struct(resource.props))
            .setOptions(new AnalyzerResourceOptions());
        found.push(...toDiagnostics(await respond(analyze, request), resource.name));
    }
    const stackRequest = new AnalyzeStackRequest().setResourcesList(
        resources.map((resource) => {
            const analyzed = new AnalyzerResource()
                .setType(resource.type)
                .setName(resource.name)
                .setUrn(urnOf(resource))
                .setProperties(struct(resource.props))
                .setOptions(new AnalyzerResourceOptions());
            for (const [input, names] of Object.entries(resource.propertyDependencies ?? {})) {
                const urns = resources.filter((other) => names.includes(other.name)).map(urnOf);
                analyzed.getPropertydependenciesMap().set(input, new AnalyzerPropertyDependencies().setUrnsList(urns));
            }
            return analyzed;
        }),
    );
    const analyzeStack = server.makeAnalyzeStackRpcFun(...packArgs, policies as StackValidationPolicy[]);
    found.push(...toDiagnostics(await respond(analyzeStack, stackRequest), "(stack)"));
    return found;
}

function evaluated(resources: PlannedResource[]): Diagnostic[] {
    const description = new Map(policies.map((policy) => [policy.name, policy.description]));
    return evaluate(resources).map((violation) => [
        violation.policy,
        violation.resource,
        `${description.get(violation.policy)}\n${violation.message}`,
        violation.enforcement,
    ]);
}

/** The planned resources as the engine shows them to policies (secrets unwrapped). */
function asPolicyInput(plan: PlanResult): PlannedResource[] {
    return plan.resources.map((resource) => ({ type: resource.type, name: resource.name, props: unwrapSecrets(resource.inputs) as Record<string, unknown> }));
}

/** A HostRuleset per host from the nftables file the plan ships it (the component the program is to register). */
/** The HostRuleset resources the program registers, one per host, as the pack sees them. */
function hostRulesets(plan: PlanResult): PlannedResource[] {
    return plan.resources
        .filter((r) => r.type === "hybrid-k3s:firewall:HostRuleset")
        .map((r) => ({ type: r.type, name: r.name, props: r.inputs as Record<string, unknown> }));
}

describe("policy pack on the planned prod stack", function () {
    this.timeout(120000);
    let prod: PlanResult;
    before(async () => {
        const { config, secretKeys } = readStackConfig("prod");
        prod = await runPlan("prod", config, secretKeys, "policy-test");
    });

    // The cloud VMs' SSH is open to sshSourceCidrs, 0.0.0.0/0 by default: the advisory says so.
    const sshWarnings: Diagnostic[] = [
        [SSH, "k3s-soh-re", 'SecurityGroup "k3s-soh-re" ingress[0] opens SSH port 22/tcp to the whole internet (source 0.0.0.0/0)', "advisory"],
        [SSH, "aws-arm", 'SecurityGroup "aws-arm" ingress[0] opens SSH port 22/tcp to the whole internet (source 0.0.0.0/0)', "advisory"],
        [
            SSH,
            "azure-amd",
            'NetworkSecurityGroup "azure-amd" securityRules[0] "allow-tcp-22-ipv4" opens SSH port 22/tcp to the whole internet (source 0.0.0.0/0)',
            "advisory",
        ],
    ];

    it("passes the prod plan: no mandatory violation, the SSH advisories only", () => {
        assert.deepEqual(
            prod.violations.map((violation): Diagnostic => [violation.policy, violation.resource, violation.message, violation.enforcement]),
            sshWarnings,
        );
    });

    it("finds every host's shipped ruleset tight, and each is the file the host receives", () => {
        const rulesets = hostRulesets(prod);
        assert.deepEqual(rulesets.map((r) => r.props.host).sort(), Object.keys(prod.nodeFiles).sort());
        for (const r of rulesets) assert.equal(r.props.ruleset, prod.nodeFiles[String(r.props.host)]["/etc/hybrid-k3s/firewall.nft"].content);
        assert.deepEqual(
            evaluate(rulesets).map((violation) => [violation.policy, violation.resource, violation.message]),
            [],
        );
        // The check can fail: the same rulesets with an accept for the API from anywhere are refused.
        const opened = rulesets.map((r) => ({
            ...r,
            props: {
                ...r.props,
                ruleset: String(r.props.ruleset).replace("\t\ttcp dport { 2379-2380", "\t\ttcp dport 6443 accept\n\t\ttcp dport { 2379-2380"),
            },
        }));
        assert.equal(evaluate(opened).filter((v) => v.policy === HOST_FIREWALL && v.enforcement === "mandatory").length, 7);
    });

    it("reports through the engine's handlers exactly what evaluate() reports on the whole stack", async () => {
        const resources = asPolicyInput(prod);
        const expected = evaluated(resources);
        assert.equal(expected.length, sshWarnings.length);
        assert.deepEqual(await engineDiagnostics(resources), expected);
    });

    it("refuses, through the engine's handlers, halves of the internet added to a planned group by two rules", async () => {
        const group = asPolicyInput(prod).find((resource) => resource.type === "aws:ec2/securityGroup:SecurityGroup" && resource.name === "aws-arm");
        assert.ok(group);
        const half = (name: string, cidr: string): PlannedResource => ({
            type: "aws:ec2/securityGroupRule:SecurityGroupRule",
            name,
            props: { type: "ingress", ...awsTcp(6443, 6443, [cidr]) },
            propertyDependencies: { securityGroupId: [group.name] },
        });
        const resources = [...asPolicyInput(prod), half("api-low", "0.0.0.0/1"), half("api-high", "128.0.0.0/1")];
        const combined =
            'SecurityGroupRule "api-low" + SecurityGroupRule "api-high" together open API port 6443/tcp to the whole internet (source 0.0.0.0/1, 128.0.0.0/1)';
        const expected = evaluated(resources);
        assert.deepEqual(
            expected.filter((diagnostic) => diagnostic[3] === "mandatory"),
            [[API_COMBINED, "api-low", `${policies.find((policy) => policy.name === API_COMBINED)?.description}\n${combined}`, "mandatory"]],
        );
        assert.deepEqual(await engineDiagnostics(resources), expected);
    });
});
