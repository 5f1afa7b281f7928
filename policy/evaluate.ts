// Running the pack without the CLI: the tests, the offline plan and the bot call evaluate(), which
// hands every policy what the engine would (inputs behind the engine's unknown-checking proxy).
import { PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs } from "@pulumi/policy";
import { unknownCheckingProxy } from "./inputs";
import { policies } from "./pack";
import { HybridK3sPolicyConfig } from "./ports";
import { HybridK3sPolicy, PlannedResource, PolicyViolation } from "./types";

/** Thrown by `notApplicable()`; only `evaluate` catches it. */
class NotApplicableSignal {}

const notApplicable = (): never => {
    throw new NotApplicableSignal();
};

function urnOf(resource: PlannedResource): string {
    return `urn:pulumi:evaluate::hybrid-k3s::${resource.type}::${resource.name}`;
}

const noOptions: ResourceValidationArgs["opts"] = {
    protect: false,
    ignoreChanges: [],
    aliases: [],
    customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
    additionalSecretOutputs: [],
};

function isTypeOf(type: string) {
    return (resourceClass: unknown) => (resourceClass as { __pulumiType?: unknown }).__pulumiType === type;
}

function validationArgs(resource: PlannedResource, config: HybridK3sPolicyConfig): ResourceValidationArgs {
    // The engine hands rules their inputs behind this proxy; so does evaluate, unknowns included.
    const props = unknownCheckingProxy(resource.props);
    const isType: ResourceValidationArgs["isType"] = isTypeOf(resource.type);
    return {
        type: resource.type,
        props,
        urn: urnOf(resource),
        name: resource.name,
        opts: noOptions,
        stackTags: new Map(),
        isType,
        // Inputs are untyped data here exactly as in the engine; the cast only satisfies the generic signature.
        asType: (resourceClass) => (isType(resourceClass) ? props : undefined) as never,
        getConfig: <T extends object>() => config as T,
        notApplicable,
    };
}

/** The whole stack as a stack policy sees it, property dependencies resolved to the resources named. */
function stackArgs(resources: readonly PlannedResource[], config: HybridK3sPolicyConfig): StackValidationArgs {
    const seen: PolicyResource[] = resources.map((resource) => {
        const props = unknownCheckingProxy(resource.props);
        const isType = isTypeOf(resource.type);
        return {
            type: resource.type,
            props,
            urn: urnOf(resource),
            name: resource.name,
            opts: noOptions,
            dependencies: [],
            propertyDependencies: {},
            isType,
            asType: (resourceClass) => (isType(resourceClass) ? props : undefined) as never,
        };
    });
    resources.forEach((resource, index) => {
        for (const [input, names] of Object.entries(resource.propertyDependencies ?? {})) {
            seen[index].propertyDependencies[input] = seen.filter((other) => names.includes(other.name));
        }
    });
    return { resources: seen, stackTags: new Map(), getConfig: <T extends object>() => config as T, notApplicable };
}

/** Runs a validation, skipping it when it calls notApplicable(); refuses asynchronous ones. */
function run(policy: HybridK3sPolicy, validate: () => void | Promise<void>): void {
    let outcome: void | Promise<void>;
    try {
        outcome = validate();
    } catch (error) {
        if (error instanceof NotApplicableSignal) {
            return;
        }
        throw error;
    }
    if (outcome instanceof Promise) {
        throw new Error(`policy "${policy.name}" validates asynchronously; evaluate() runs synchronous policies only`);
    }
}

/**
 * Runs every policy of `pack` (by default this pack) as the engine does: resource policies on
 * every resource, then stack policies on all of them; returns the violations, resource policies'
 * first. A stack violation names the resource whose URN it reports.
 */
export function evaluate(
    resources: readonly PlannedResource[],
    config: HybridK3sPolicyConfig = {},
    pack: readonly HybridK3sPolicy[] = policies,
): PolicyViolation[] {
    const violations: PolicyViolation[] = [];
    const reporter =
        (policy: HybridK3sPolicy, fallback: string): ReportViolation =>
        (message, urn) => {
            const named = resources.find((resource) => urnOf(resource) === urn)?.name ?? fallback;
            violations.push({ policy: policy.name, resource: named, message, enforcement: policy.enforcementLevel });
        };
    for (const resource of resources) {
        for (const policy of pack) {
            if ("validateResource" in policy && policy.validateResource !== undefined) {
                for (const validate of [policy.validateResource].flat()) {
                    run(policy, () => validate(validationArgs(resource, config), reporter(policy, resource.name)));
                }
            }
        }
    }
    for (const policy of pack) {
        if ("validateStack" in policy) {
            run(policy, () => policy.validateStack(stackArgs(resources, config), reporter(policy, "(stack)")));
        }
    }
    return violations;
}
