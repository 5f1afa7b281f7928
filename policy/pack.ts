// The pack: every policy, in the order the engine reports them.
import { exposurePolicies } from "./exposurepolicies";
import { hostFirewallPolicy } from "./hostfirewall";
import { k3sMeshAddressPolicy } from "./k3s";
import { HybridK3sPolicy } from "./types";

export const policies: HybridK3sPolicy[] = [
    exposurePolicies.apiPorts,
    exposurePolicies.apiPortsCombined,
    exposurePolicies.apiPortsUnverified,
    exposurePolicies.apiPortsCombinedUnverified,
    hostFirewallPolicy,
    k3sMeshAddressPolicy,
    exposurePolicies.ssh,
];
