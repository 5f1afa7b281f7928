// The shapes the pack's modules share: policies, what evaluate() reads and returns.
import { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";

export type Enforcement = "mandatory" | "advisory";

export type HybridK3sResourcePolicy = ResourceValidationPolicy & { enforcementLevel: Enforcement };
export type HybridK3sStackPolicy = StackValidationPolicy & { enforcementLevel: Enforcement };
export type HybridK3sPolicy = HybridK3sResourcePolicy | HybridK3sStackPolicy;

/** A resource as the engine registers it: its type token, logical name and inputs. */
export interface PlannedResource {
    type: string;
    name: string;
    props: Record<string, unknown>;
    /**
     * Names of the resources each input depends on, as the engine reports them to stack policies
     * (`securityGroupId` → the group). Lets evaluate() join a rule to a group whose id is unknown.
     */
    propertyDependencies?: Record<string, string[]>;
}

export interface PolicyViolation {
    policy: string;
    resource: string;
    message: string;
    enforcement: Enforcement;
}
