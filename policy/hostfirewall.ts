// host-firewall-keeps-api-ports-on-mesh: the nftables ruleset the program ships to each host
// (registered as a hybrid-k3s:firewall:HostRuleset component with plaintext inputs) must not accept
// a watched port from outside the mesh.
import { field, Known, snapshot, text, UNKNOWN } from "./inputs";
import { meshLeaks } from "./nftables";
import { apiPortsConfigSchema, HybridK3sPolicyConfig, watchedPortsOf } from "./ports";
import { HybridK3sResourcePolicy } from "./types";

export const hostRulesetType = "hybrid-k3s:firewall:HostRuleset";
const rulesetInputs = ["host", "meshInterface", "meshCidr", "ruleset"] as const;

/** The HostRuleset inputs unknown during preview (the advisory policy names them). */
export function unknownRulesetInputs(props: Known): string[] {
    return rulesetInputs.filter((name) => field(props, name) === UNKNOWN);
}

export const hostFirewallPolicy: HybridK3sResourcePolicy = {
    name: "host-firewall-keeps-api-ports-on-mesh",
    description: "The nftables ruleset shipped to each host accepts the watched ports only from the mesh.",
    enforcementLevel: "mandatory",
    severity: "critical",
    configSchema: apiPortsConfigSchema,
    remediationSteps: "Accept the watched ports only on the mesh interface (iifname) or from the mesh CIDR, and reject them before the chain's policy accept.",
    validateResource: (args, reportViolation) => {
        if (args.type !== hostRulesetType) {
            return args.notApplicable(`only ${hostRulesetType} components`);
        }
        const props = snapshot(() => args.props);
        if (unknownRulesetInputs(props).length > 0) {
            return;
        }
        const [host, meshInterface, meshCidr, ruleset] = rulesetInputs.map((name) => text(field(props, name)) ?? "");
        const where = `HostRuleset "${args.name}" (host ${host})`;
        for (const leak of meshLeaks(ruleset, meshInterface, meshCidr, watchedPortsOf(args.getConfig<HybridK3sPolicyConfig>()))) {
            reportViolation(`${where} ${leak}`);
        }
    },
};
