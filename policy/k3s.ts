// k3s-server-binds-mesh-address: k3s listens on, advertises and registers mesh addresses only.
import { AddressRange, contains, parseAddress, parseCidr, privateRanges } from "./addresses";
import { field, Known, list, snapshot, text, UNKNOWN, Unknown } from "./inputs";
import { HybridK3sResourcePolicy } from "./types";

const k3sNodeType = "hybrid-k3s:k3s:K3sNode";

/** The flags that must hold a mesh address, and what k3s does without them. */
const serverAddressFlags: Record<string, string> = {
    "bind-address": "listen on 0.0.0.0",
    "advertise-address": "advertise the node's external address",
};
const nodeAddressFlags: Record<string, string> = {
    "node-ip": "register the address of the default-route interface",
};

interface ParsedFlags {
    values: Map<string, Array<string | Unknown>>;
    /** Some flag text is unknown during preview, so an absent flag may still be there. */
    incomplete: boolean;
}

/** Reads "--flag=value", "--flag value" (one item or two) and "-flag" (urfave/cli accepts one dash). */
function parseFlags(flags: Known): ParsedFlags {
    const tokens = list(flags).flatMap((item): Array<string | Unknown> => (item === UNKNOWN ? [UNKNOWN] : (text(item) ?? "").split(/\s+/).filter(Boolean)));
    const values = new Map<string, Array<string | Unknown>>();
    for (let index = 0; index < tokens.length; index++) {
        const token = tokens[index];
        const flag = token === UNKNOWN ? null : /^--?([a-z0-9][\w-]*)(?:=(.*))?$/i.exec(token);
        if (!flag) {
            continue;
        }
        let value: string | Unknown = flag[2] ?? "";
        const next = tokens[index + 1];
        if (flag[2] === undefined && next !== undefined && (next === UNKNOWN || !next.startsWith("-"))) {
            value = next;
            index++;
        }
        const name = flag[1].toLowerCase();
        const unquoted = value === UNKNOWN ? value : value.replace(/^(['"])(.*)\1$/, "$2");
        values.set(name, [...(values.get(name) ?? []), unquoted]);
    }
    return { values, incomplete: tokens.includes(UNKNOWN) };
}

function addressProblem(text: string, mesh: AddressRange | undefined, meshCidr: string): string | undefined {
    const address = parseAddress(text);
    if (address === undefined) {
        return "is not an IP address";
    }
    if (address.value === 0n) {
        return "is the unspecified address (every interface)";
    }
    const problems = [
        ...(privateRanges.some((range) => contains(range, address)) ? [] : ["is a public address"]),
        ...(mesh === undefined || contains(mesh, address) ? [] : [`is outside the mesh CIDR ${meshCidr}`]),
    ];
    return problems.length > 0 ? problems.join(" and ") : undefined;
}

export const k3sMeshAddressPolicy: HybridK3sResourcePolicy = {
    name: "k3s-server-binds-mesh-address",
    description: "k3s servers bind to and advertise a mesh address, and every node registers a mesh address as its node IP.",
    enforcementLevel: "mandatory",
    severity: "critical",
    remediationSteps: "Pass --bind-address, --advertise-address (servers) and --node-ip (all nodes) set to the node's mesh address.",
    validateResource: (args, reportViolation) => {
        if (args.type !== k3sNodeType) {
            return args.notApplicable(`only ${k3sNodeType} components`);
        }
        const props = snapshot(() => args.props);
        const role = text(field(props, "role"));
        const node = `K3sNode "${args.name}"${role === undefined ? "" : ` (${role})`}`;

        const meshCidrValue = field(props, "meshCidr");
        const meshCidr = text(meshCidrValue) ?? "";
        const mesh = meshCidrValue === UNKNOWN ? undefined : parseCidr(meshCidr);
        if (meshCidrValue !== UNKNOWN && mesh === undefined) {
            reportViolation(`${node} has no valid meshCidr ("${meshCidr}") to check its addresses against`);
        }

        const flags = parseFlags(field(props, "flags"));
        const required = role === "server" ? { ...serverAddressFlags, ...nodeAddressFlags } : nodeAddressFlags;
        for (const [flag, withoutIt] of Object.entries(required)) {
            const values = flags.values.get(flag) ?? [];
            if (values.length === 0 && !flags.incomplete) {
                reportViolation(`${node} sets no --${flag}, so k3s would ${withoutIt}; set it to the mesh address`);
            }
            for (const value of values) {
                if (value === UNKNOWN) {
                    continue;
                }
                const problems = value.split(",").flatMap((part) => {
                    const problem = addressProblem(part, mesh, meshCidr);
                    return problem === undefined ? [] : [`${part.trim()} ${problem}`];
                });
                if (problems.length > 0) {
                    reportViolation(`${node} --${flag}=${value}: ${problems.join("; ")}`);
                }
            }
        }
    },
};
