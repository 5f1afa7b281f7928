// `npm run bench [-- --nodes 200]`: figures for a large stack, from the offline plan.
//   plan time     wall time of runPlan (the whole program under mocks), and resources per node
//   bring-up depth  longest chain of explicit dependencies between real resources that do work when
//                   created (the upgrade steps have no create step: they order version changes only)
//   blast radius  real resources a second plan would update after adding one node
import { PlannedResource, PlanResult, runPlan, unwrapSecrets } from "../plan/plan";

function argument(name: string, fallback: number): number {
    const index = process.argv.indexOf(`--${name}`);
    return index >= 0 ? Number(process.argv[index + 1]) : fallback;
}

/** A stack of `count` nodes: a public hub and edge, one server, agents spread over AWS, Azure and home machines. */
function syntheticConfig(count: number): Record<string, string> {
    const address = (i: number) => `10.100.${Math.floor(i / 250)}.${(i % 250) + 2}`;
    const nodes: Array<Record<string, unknown>> = [
        { name: "hub", provider: "existing", arch: "amd64", roles: ["hub", "edge"], address: "203.0.113.10", meshAddress: address(0) },
        { name: "server", provider: "aws", arch: "arm64", roles: ["server", "ingress"], region: "us-east-1", instanceType: "t4g.medium", meshAddress: address(1) },
    ];
    for (let i = 2; i < count; i++) nodes.push(agent(i, address(i)));
    return {
        "hybrid-k3s:clusterName": "bench",
        "hybrid-k3s:meshCidr": "10.100.0.0/16",
        "hybrid-k3s:nodes": JSON.stringify(nodes),
        "hybrid-k3s:apps": JSON.stringify([{ host: "app.example.com", namespace: "app", service: "app", port: 80 }]),
    };
}

function agent(i: number, meshAddress: string): Record<string, unknown> {
    const name = `agent-${i}`;
    switch (i % 3) {
        case 0: return { name, provider: "aws", arch: "arm64", roles: ["agent"], region: ["us-east-1", "eu-west-1"][i % 2], instanceType: "t4g.small", meshAddress };
        case 1: return { name, provider: "azure", arch: "amd64", roles: ["agent"], location: "eastus", size: "Standard_B2s", meshAddress };
        default: return { name, provider: "existing", arch: "amd64", roles: ["agent"], behindNat: true, meshAddress };
    }
}

/** Resources the engine creates (components and the stack are only grouping). */
const isReal = (r: PlannedResource) => !r.type.startsWith("hybrid-k3s:") && r.type !== "pulumi:pulumi:Stack";
const key = (r: PlannedResource) => `${r.type}::${r.name}`;

/** A remote command without a create step does nothing on bring-up. */
const worksOnCreate = (r: PlannedResource) => r.type !== "command:remote:Command" || (r.inputs as Record<string, unknown>).create !== undefined;

/** Longest path over explicit dependencies, a dependency on a component meaning all real resources under it. */
function bringUpDepth(plan: PlanResult): { depth: number; chain: string[] } {
    const children = new Map<string, string[]>();
    for (const r of plan.resources) if (r.parent) children.set(r.parent, [...(children.get(r.parent) ?? []), key(r)]);
    const real = new Map(plan.resources.filter(isReal).map((r) => [key(r), r]));
    const expand = (id: string): string[] => (real.has(id) ? [id] : (children.get(id) ?? []).flatMap(expand));
    const memo = new Map<string, string[]>();
    const longest = (id: string): string[] => {
        const known = memo.get(id);
        if (known) return known;
        memo.set(id, [id]); // guards against a cycle while computing
        const before = real.get(id)!.dependsOn.flatMap(expand).map(longest).sort((a, b) => b.length - a.length)[0] ?? [];
        const chain = worksOnCreate(real.get(id)!) ? [...before, id] : before;
        memo.set(id, chain);
        return chain;
    };
    const chain = [...real.keys()].map(longest).sort((a, b) => b.length - a.length)[0] ?? [];
    return { depth: chain.length, chain: chain.map((id) => id.split("::")[1]) };
}

function changed(before: PlanResult, after: PlanResult): string[] {
    const diffed = (r: PlannedResource) => {
        const inputs = { ...(unwrapSecrets(r.inputs) as Record<string, unknown>) };
        for (const ignored of r.ignoreChanges) delete inputs[ignored];
        return JSON.stringify(inputs);
    };
    const old = new Map(before.resources.map((r) => [key(r), diffed(r)]));
    return after.resources.filter((r) => isReal(r) && old.has(key(r)) && old.get(key(r)) !== diffed(r)).map((r) => r.name);
}

async function timedPlan(config: Record<string, string>): Promise<{ plan: PlanResult; seconds: number }> {
    const start = process.hrtime.bigint();
    const plan = await runPlan("bench", config, [], "bench");
    return { plan, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
}

async function main(): Promise<void> {
    const count = argument("nodes", 200);
    const config = syntheticConfig(count);
    const { plan, seconds } = await timedPlan(config);
    const real = plan.resources.filter(isReal).length;
    console.log(`nodes: ${count}`);
    console.log(`plan time: ${seconds.toFixed(1)} s for ${plan.resources.length} resources (${real} real, ${(real / count).toFixed(1)} per node), ${plan.violations.filter((v) => v.enforcement === "mandatory").length} mandatory violations`);
    const { depth, chain } = bringUpDepth(plan);
    console.log(`bring-up depth: ${depth} sequential steps: ${chain.join(" → ")}`);

    const nodes = JSON.parse(config["hybrid-k3s:nodes"]);
    const grown = { ...config, "hybrid-k3s:nodes": JSON.stringify([...nodes, agent(count + 1, `10.100.${Math.floor((count + 1) / 250)}.${((count + 1) % 250) + 2}`)]) };
    const { plan: after, seconds: secondsAfter } = await timedPlan(grown);
    const updated = changed(plan, after);
    const created = after.resources.filter(isReal).length - real;
    console.log(`blast radius of adding a node: ${updated.length} updated (${updated.join(", ")}), ${created} created; second plan ${secondsAfter.toFixed(1)} s`);
}

main().then(() => process.exit(0), (err: unknown) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exit(1);
});
