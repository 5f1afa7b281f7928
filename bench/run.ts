// `npm run bench [-- --nodes 200]`: figures for a large stack, from the offline plan and the step model.
//   plan time       wall time of runPlan (the whole program under mocks), and resources per node
//   bring-up depth  waves of the first `pulumi up` (plan/steps.ts): steps that must run one after
//                   another, counting only steps that do something (components and commands without
//                   a create script take no time)
//   blast radius    steps a second `pulumi up` would run after adding one node (plan/steps.ts)
import { placeholderHostKey } from "../plan/mocks";
import { PlanResult, runPlan } from "../plan/plan";
import { changes, Step, stepsBetween, waves } from "../plan/steps";

function argument(name: string, fallback: number): number {
    const index = process.argv.indexOf(`--${name}`);
    return index >= 0 ? Number(process.argv[index + 1]) : fallback;
}

/**
 * A stack of `count` nodes in its steady state: a public hub and edge, one server, agents spread over
 * AWS, Azure and home machines, every existing host enrolled with its host key, the runner an operator.
 */
export function syntheticConfig(count: number): Record<string, string> {
    const nodes: Array<Record<string, unknown>> = [
        { name: "hub", provider: "existing", arch: "amd64", roles: ["hub", "edge"], address: "203.0.113.10", meshAddress: meshAddress(0), ...enrolled("hub") },
        {
            name: "server",
            provider: "aws",
            arch: "arm64",
            roles: ["server", "ingress"],
            region: "us-east-1",
            instanceType: "t4g.medium",
            meshAddress: meshAddress(1),
        },
    ];
    for (let i = 2; i < count; i++) nodes.push(agent(i));
    return {
        "hybrid-k3s:clusterName": "bench",
        "hybrid-k3s:meshCidr": "10.100.0.0/16",
        "hybrid-k3s:nodes": JSON.stringify(nodes),
        "hybrid-k3s:operators": JSON.stringify([{ name: "runner", meshAddress: meshAddress(count), runsPulumi: true, enrolled: true }]),
        "hybrid-k3s:apps": JSON.stringify([{ host: "app.example.com", namespace: "app", service: "app", port: 80 }]),
    };
}

const enrolled = (name: string) => ({ hostKey: placeholderHostKey(name), enrolled: true });

function meshAddress(i: number): string {
    return `10.100.${Math.floor(i / 250)}.${(i % 250) + 2}`;
}

function agent(i: number): Record<string, unknown> {
    const name = `agent-${i}`;
    switch (i % 3) {
        case 0:
            return {
                name,
                provider: "aws",
                arch: "arm64",
                roles: ["agent"],
                region: ["us-east-1", "eu-west-1"][i % 2],
                instanceType: "t4g.small",
                meshAddress: meshAddress(i),
            };
        case 1:
            return { name, provider: "azure", arch: "amd64", roles: ["agent"], location: "eastus", size: "Standard_B2s", meshAddress: meshAddress(i) };
        default:
            return { name, provider: "existing", arch: "amd64", roles: ["agent"], behindNat: true, meshAddress: meshAddress(i), ...enrolled(name) };
    }
}

async function timedPlan(config: Record<string, string>): Promise<{ plan: PlanResult; seconds: number }> {
    const start = process.hrtime.bigint();
    const plan = await runPlan("bench", config, [], "bench");
    return { plan, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
}

/** Steps that do something: a script on a host or a provider call. */
const working = (steps: Step[]) => changes(steps).filter((s) => s.runs !== "nothing");

async function main(): Promise<void> {
    const count = argument("nodes", 200);
    const config = syntheticConfig(count);
    const { plan, seconds } = await timedPlan(config);
    const real = plan.resources.filter((r) => r.custom).length;
    console.log(`nodes: ${count}`);
    console.log(
        `plan time: ${seconds.toFixed(1)} s for ${plan.resources.length} resources (${real} real, ${(real / count).toFixed(1)} per node), ${plan.violations.filter((v) => v.enforcement === "mandatory").length} mandatory violations`,
    );
    const bringUp = waves(stepsBetween([], plan.resources));
    console.log(`bring-up depth: ${bringUp.length} waves; the widest runs ${Math.max(...bringUp.map((w) => w.length))} steps at once`);

    const nodes = JSON.parse(config["hybrid-k3s:nodes"]);
    const added = agent(count + 1);
    const grown = { ...config, "hybrid-k3s:nodes": JSON.stringify([...nodes, added]) };
    const { plan: after, seconds: secondsAfter } = await timedPlan(grown);
    const steps = working(stepsBetween(plan.resources, after.resources));
    const elsewhere = steps.filter((s) => s.host !== added.name);
    console.log(
        `blast radius of adding a node: ${elsewhere.length} step(s) elsewhere (${elsewhere.map((s) => `${s.op} ${s.name}`).join(", ")}), ${steps.length - elsewhere.length} on the new node; second plan ${secondsAfter.toFixed(1)} s`,
    );
}

if (require.main === module) {
    main().then(
        () => process.exit(0),
        (err: unknown) => {
            console.error(err instanceof Error ? err.stack : err);
            process.exit(1);
        },
    );
}
