// The policies that keep watched ports off the internet in cloud firewalls and load balancers:
// what one resource shows (checked before it is created) and what only the whole stack shows
// (rules of one group declared across resources), each split into violations and advisories.
import { PolicyResource, ResourceValidationArgs, StackValidationArgs } from "@pulumi/policy";
import { Finding } from "./exposure";
import { resourceExposures, ScannedResource, stackExposures } from "./groups";
import { hostRulesetType, unknownRulesetInputs } from "./hostfirewall";
import { snapshot } from "./inputs";
import { apiPortsConfigSchema, HybridK3sPolicyConfig, watchedPortsOf, WatchedPorts } from "./ports";
import { isReadable } from "./readers";
import { HybridK3sResourcePolicy, HybridK3sStackPolicy } from "./types";

function scanned(resource: ResourceValidationArgs | PolicyResource): ScannedResource {
    const dependencies = "propertyDependencies" in resource ? resource.propertyDependencies : {};
    return {
        ref: { type: resource.type, name: resource.name, urn: resource.urn },
        props: snapshot(() => resource.props),
        propertyDependencies: Object.fromEntries(Object.entries(dependencies).map(([key, on]) => [key, on.map((dependency) => dependency.urn)])),
    };
}

const API_PORT = "API port";

function resourcePolicy(spec: {
    name: string;
    description: string;
    enforcementLevel: HybridK3sResourcePolicy["enforcementLevel"];
    severity: HybridK3sResourcePolicy["severity"];
    remediationSteps: string;
    portKind: string;
    watchedPorts: (config: HybridK3sPolicyConfig) => readonly WatchedPorts[];
    keep: (finding: Finding) => boolean;
    configSchema?: HybridK3sResourcePolicy["configSchema"];
    /** Extra advisories about a resource the exposure readers do not cover. */
    alsoReport?: (args: ResourceValidationArgs) => string[];
}): HybridK3sResourcePolicy {
    const { portKind, watchedPorts, keep, alsoReport, ...policy } = spec;
    return {
        ...policy,
        validateResource: (args, reportViolation) => {
            const extra = alsoReport?.(args) ?? [];
            if (!isReadable(args.type) && extra.length === 0) {
                return args.notApplicable("only security groups, their rules, NSGs and load balancers");
            }
            for (const message of extra) {
                reportViolation(message);
            }
            const watched = watchedPorts(args.getConfig<HybridK3sPolicyConfig>());
            for (const finding of resourceExposures(scanned(args), watched, portKind).filter(keep)) {
                reportViolation(finding.message);
            }
        },
    };
}

function stackPolicy(spec: {
    name: string;
    description: string;
    enforcementLevel: HybridK3sStackPolicy["enforcementLevel"];
    severity: HybridK3sStackPolicy["severity"];
    remediationSteps: string;
    keep: (finding: Finding) => boolean;
}): HybridK3sStackPolicy {
    const { keep, ...policy } = spec;
    return {
        ...policy,
        configSchema: apiPortsConfigSchema,
        validateStack: (args: StackValidationArgs, reportViolation) => {
            const resources = args.resources.filter((resource) => isReadable(resource.type)).map(scanned);
            for (const finding of stackExposures(resources, watchedPortsOf(args.getConfig<HybridK3sPolicyConfig>()), API_PORT).filter(keep)) {
                reportViolation(finding.message, finding.urns[0]);
            }
        },
    };
}

const decided = (finding: Finding) => finding.decided;
const undecided = (finding: Finding) => !finding.decided;

export const exposurePolicies = {
    apiPorts: resourcePolicy({
        name: "no-api-port-open-to-internet",
        description: "No Kubernetes API, kubelet, etcd or flannel port is reachable from the whole internet.",
        enforcementLevel: "mandatory",
        severity: "critical",
        remediationSteps:
            "Reach these ports over the mesh (or from named admin CIDRs); never from the whole internet, a public load balancer or an Internet/AzureCloud tag.",
        portKind: API_PORT,
        watchedPorts: watchedPortsOf,
        configSchema: apiPortsConfigSchema,
        keep: decided,
    }),
    apiPortsCombined: stackPolicy({
        name: "no-api-port-open-to-internet-combined",
        description: "No group's rules, declared across several resources, together open a watched port to the whole internet.",
        enforcementLevel: "mandatory",
        severity: "critical",
        remediationSteps: "Look at every rule of the named group together: their sources must not add up to the whole internet.",
        keep: decided,
    }),
    apiPortsUnverified: resourcePolicy({
        name: "api-port-exposure-unverified",
        description: "Rules the policy cannot read in full (unknown values, prefix lists, service tags) that may open a watched port to the internet.",
        enforcementLevel: "advisory",
        severity: "high",
        remediationSteps: "Check the named values; `pulumi up` checks unknown ones again once known.",
        portKind: API_PORT,
        watchedPorts: watchedPortsOf,
        configSchema: apiPortsConfigSchema,
        keep: undecided,
        alsoReport: (args) => {
            if (args.type !== hostRulesetType) {
                return [];
            }
            const unknown = unknownRulesetInputs(snapshot(() => args.props));
            return unknown.length === 0 ? [] : [`HostRuleset "${args.name}" cannot be checked: ${unknown.join(", ")} unknown during preview`];
        },
    }),
    apiPortsCombinedUnverified: stackPolicy({
        name: "api-port-exposure-unverified-combined",
        description:
            "Groups and load balancers the policy cannot join in full (unknown or outside the stack) whose rules may open a watched port to the internet.",
        enforcementLevel: "advisory",
        severity: "high",
        remediationSteps: "Check the named group or load balancer by hand, or manage it in this stack.",
        keep: undecided,
    }),
    ssh: resourcePolicy({
        name: "ssh-open-to-internet",
        description: "SSH should be reached through the hub or the mesh, not from the whole internet.",
        enforcementLevel: "advisory",
        severity: "medium",
        remediationSteps: "Restrict port 22 to admin CIDRs, or jump through the hub.",
        portKind: "SSH port",
        watchedPorts: () => [{ protocol: "tcp", from: 22 }],
        keep: decided,
    }),
};
