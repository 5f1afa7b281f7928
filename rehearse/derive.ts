// Derived stack configs for the scenarios: what a user would change in Pulumi.<stack>.yaml.
import { cidrContains, parseCidr, parseIpv4 } from "../components/net";
import { PlanResult } from "../plan/plan";
import { StackConfig } from "./rehearsal";

const nodesKey = "hybrid-k3s:nodes";
type NodeConfig = Record<string, unknown>;

const nodesOf = (config: StackConfig) => JSON.parse(config[nodesKey]) as NodeConfig[];

/** v1.31.1+k3s1 → v1.31.2+k3s1. */
export function bumpPatchVersion(version: string): string {
    const match = /^v(\d+)\.(\d+)\.(\d+)(.*)$/.exec(version);
    if (!match) throw new Error(`k3sVersion ${version} is not vX.Y.Z+k3sN`);
    return `v${match[1]}.${match[2]}.${Number(match[3]) + 1}${match[4]}`;
}

/** A home machine behind NAT, as an agent, at a mesh address nobody uses; not enrolled yet. */
export function newNatHost(plan: PlanResult): NodeConfig {
    const used = new Set([...plan.spec.nodes.map((n) => n.meshAddress), ...plan.spec.operators.map((o) => o.meshAddress)]);
    const cidr = parseCidr(plan.spec.mesh.cidr)!;
    const [a, b, c] = plan.spec.mesh.cidr.split(".").map(Number);
    for (let last = 20; last < 250; last++) {
        const address = `${a}.${b}.${c}.${last}`;
        if (!used.has(address) && cidrContains(cidr, parseIpv4(address)!)) {
            return { name: "new-home", provider: "existing", arch: "amd64", roles: ["agent"], behindNat: true, meshAddress: address, enrolled: false };
        }
    }
    throw new Error(`no free mesh address in ${plan.spec.mesh.cidr}`);
}

const operatorsKey = "hybrid-k3s:operators";

/**
 * Every existing host and operator enrolled or not: `false` is the stack before its owners ran the
 * bootstrap scripts (README, first up), `true` after they did and set `enrolled` (steps 3 and 4).
 */
export function withEnrollment(config: StackConfig, enrolled: boolean): StackConfig {
    const operators = config[operatorsKey] ? (JSON.parse(config[operatorsKey]) as NodeConfig[]) : [];
    return {
        ...config,
        [nodesKey]: JSON.stringify(nodesOf(config).map((n) => (n.provider === "existing" ? { ...n, enrolled } : n))),
        ...(operators.length > 0 ? { [operatorsKey]: JSON.stringify(operators.map((o) => ({ ...o, enrolled }))) } : {}),
    };
}

export function addNode(config: StackConfig, node: NodeConfig): StackConfig {
    return { ...config, [nodesKey]: JSON.stringify([...nodesOf(config), node]) };
}

export function removeNodes(config: StackConfig, names: string[]): StackConfig {
    return { ...config, [nodesKey]: JSON.stringify(nodesOf(config).filter((n) => !names.includes(String(n.name)))) };
}

export function changeNode(config: StackConfig, name: string, change: (node: NodeConfig) => NodeConfig): StackConfig {
    return { ...config, [nodesKey]: JSON.stringify(nodesOf(config).map((n) => (n.name === name ? change(n) : n))) };
}
