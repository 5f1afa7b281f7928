// evaluate(): the engine-free runner, and its agreement with the engine's per-resource handler.
import { strict as assert } from "node:assert";
import { SecurityGroup } from "@pulumi/aws/ec2/securityGroup";
import { ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { AnalyzeRequest, AnalyzeResponse, AnalyzerResourceOptions, EnforcementLevel } from "@pulumi/pulumi/proto/analyzer_pb";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import { evaluate, HybridK3sPolicy, PlannedResource, policies } from "../../policy/policies";
import { API, awsGroup, awsIngressRule, awsTcp, azureGroup, azureRule, Props, SSH } from "./helpers";

describe("evaluate", () => {
    it("checks every resource against every policy and names each offender", () => {
        const found = evaluate([
            awsGroup(awsTcp(22, 22, ["0.0.0.0/0"])),
            azureRule({ sourceAddressPrefix: "*", destinationPortRange: "6443" }),
            awsGroup(awsTcp(6443, 6443, ["10.0.0.0/8"])),
        ]);
        assert.deepEqual(
            found.map(({ policy, resource, enforcement }) => ({ policy, resource, enforcement })),
            [
                { policy: SSH, resource: "k3s-sg", enforcement: "advisory" },
                { policy: API, resource: "api-nsg-rule", enforcement: "mandatory" },
            ],
        );
    });

    it("runs validateResourceOfType helpers and validation arrays, skipping what does not apply", () => {
        const seen: string[] = [];
        const typed: HybridK3sPolicy = {
            name: "typed",
            description: "test",
            enforcementLevel: "advisory",
            validateResource: [
                validateResourceOfType(SecurityGroup, (group, _args, reportViolation) => {
                    reportViolation(`${group.ingress?.length ?? 0} ingress rules`);
                }),
                (args) => {
                    seen.push(args.isType(SecurityGroup) ? `${args.name} is a SecurityGroup` : `${args.name} is not`);
                },
            ],
        };
        const bucket = { type: "aws:s3/bucket:Bucket", name: "bucket", props: {} };
        const found = evaluate([awsGroup(awsTcp(22, 22, [])), bucket], {}, [typed]);
        assert.deepEqual(found, [{ policy: "typed", resource: "k3s-sg", message: "1 ingress rules", enforcement: "advisory" }]);
        assert.deepEqual(seen, ["k3s-sg is a SecurityGroup", "bucket is not"]);
    });

    it("refuses asynchronous validations rather than dropping their violations", () => {
        const asynchronous: HybridK3sPolicy = {
            name: "async",
            description: "test",
            enforcementLevel: "mandatory",
            validateResource: async () => undefined,
        };
        assert.throws(() => evaluate([awsGroup()], {}, [asynchronous]), /asynchronously/);
    });
});

describe("agreement with the policy engine", () => {
    // The analyzer's own RPC handler (what `pulumi preview --policy-pack` calls per resource), fed the
    // same inputs: it must report what evaluate() reports. It is internal, hence untyped.
    type AnalyzeCall = (call: { request: AnalyzeRequest }, callback: (error: unknown, response?: AnalyzeResponse) => void) => Promise<void>;
    const { makeAnalyzeRpcFun } = require("@pulumi/policy/server") as {
        makeAnalyzeRpcFun: (pack: string, version: string, level: string, policies: ResourceValidationPolicy[]) => AnalyzeCall;
    };

    async function engineViolations(resource: PlannedResource): Promise<Array<[string, string, string]>> {
        const analyze = makeAnalyzeRpcFun("hybrid-k3s", "0.1.0", "mandatory", policies);
        const request = new AnalyzeRequest()
            .setType(resource.type)
            .setName(resource.name)
            .setUrn(`urn:pulumi:dev::hybrid-k3s::${resource.type}::${resource.name}`)
            .setProperties(Struct.fromJavaScript(resource.props as Parameters<typeof Struct.fromJavaScript>[0]))
            .setOptions(new AnalyzerResourceOptions());
        const response = await new Promise<AnalyzeResponse>((resolve, reject) => {
            void analyze({ request }, (error, result) => (error || !result ? reject(error) : resolve(result)));
        });
        return response
            .getDiagnosticsList()
            .map((diagnostic) => [
                diagnostic.getPolicyname(),
                diagnostic.getMessage(),
                diagnostic.getEnforcementlevel() === EnforcementLevel.MANDATORY ? "mandatory" : "advisory",
            ]);
    }

    // Each with the number of violations it must produce, so that agreeing on nothing proves nothing.
    const fixtures: Array<[PlannedResource, number]> = [
        [awsGroup(awsTcp(0, 65535, ["0.0.0.0/1", "128.0.0.0/1", unknownValue]), unknownValue as unknown as Props), 3],
        [azureGroup({ ...azureRule({ sourceAddressPrefix: "Internet", destinationPortRanges: ["22", "6443"] }).props, name: "ops" }), 2],
        [awsIngressRule({ ipProtocol: "-1", cidrIpv6: "::/0" }), 2],
        [
            {
                type: "hybrid-k3s:k3s:K3sNode",
                name: "k3s-server-1",
                props: { role: "server", meshCidr: "10.0.0.0/24", flags: ["--bind-address=0.0.0.0", "--node-ip", unknownValue] },
            },
            1,
        ],
        [{ type: "aws:s3/bucket:Bucket", name: "not-applicable", props: { acl: unknownValue } }, 0],
    ];
    for (const [resource, count] of fixtures) {
        it(`reports what evaluate() reports for ${resource.type} "${resource.name}"`, async () => {
            const description = (name: string) => policies.find((policy) => policy.name === name)?.description;
            const resourcePolicies = new Set(policies.filter((policy) => "validateResource" in policy).map((policy) => policy.name));
            const expected = evaluate([resource])
                .filter((violation) => resourcePolicies.has(violation.policy))
                .map((violation): [string, string, string] => [
                    violation.policy,
                    `${description(violation.policy)}\n${violation.message}`,
                    violation.enforcement,
                ]);
            assert.equal(expected.length, count);
            assert.deepEqual(await engineViolations(resource), expected);
        });
    }
});
