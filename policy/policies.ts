// The package's public surface: the pack's policies, evaluate() (the same rules without the
// Pulumi CLI), and the types the offline plan and the bot use. index.ts constructs the pack.
export { evaluate } from "./evaluate";
export { policies } from "./pack";
export { defaultPolicyConfig, HybridK3sPolicyConfig, Transport, WatchedPorts } from "./ports";
export { Enforcement, HybridK3sPolicy, HybridK3sResourcePolicy, HybridK3sStackPolicy, PlannedResource, PolicyViolation } from "./types";
