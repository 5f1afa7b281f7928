// Scenarios that depend on program changes in flight: remove-node (the engine issue's decommission:
// mesh and firewall steps that undo themselves) and existing-life (the existing-hosts issue: the
// VPS keeps its own site and mail). Their harness and checks are complete; blockedBy says what is missing.
import { Scenario } from "./scenarios";

export const laterScenarios: Scenario[] = [];
