// Shared helpers of the whole-stack tests: the prod stack's config, node edits, and runPlan under a fixed seed.
import { readStackConfig, runPlan } from "../../plan/plan";

export type Config = Record<string, string>;
const seed = "stack-test";

export function prodConfig(): { config: Config; secretKeys: string[] } {
    return readStackConfig("prod");
}

/** The prod config with its node list edited. */
export function withNodes(edit: (nodes: Array<Record<string, unknown>>) => void, extra: Config = {}): Config {
    const { config } = prodConfig();
    const nodes = JSON.parse(config["hybrid-k3s:nodes"]);
    edit(nodes);
    return { ...config, "hybrid-k3s:nodes": JSON.stringify(nodes), ...extra };
}

export const plan = (config: Config, secretKeys: string[] = []) => runPlan("prod", config, secretKeys, seed);

/** A home machine behind NAT its owner has bootstrapped: what "adding a node" adds in these tests. */
export const enrolledHomeAgent = {
    name: "rpi4",
    provider: "existing",
    arch: "arm64",
    roles: ["agent"],
    behindNat: true,
    enrolled: true,
    hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
};
