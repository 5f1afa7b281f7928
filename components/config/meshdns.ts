// meshDns: split DNS over the mesh (see render/meshdns.ts), a structured setting.
import { isDnsSubdomain, parseIpv4 } from "../net";
import { checkKeys, FieldReader } from "./readers";
import { projectName } from "./settings";
import { MeshDnsSpec } from "./types";

export function readMeshDns(value: unknown, problems: string[]): MeshDnsSpec | undefined {
    if (value === undefined) return undefined;
    const field = `${projectName}:meshDns`;
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
        problems.push(`${field}: expected { servers: [10.0.0.53], domains: [home.arpa] }`);
        return undefined;
    }
    const item = value as Record<string, unknown>;
    checkKeys(item, ["servers", "domains"], "meshDns", problems);
    const r = new FieldReader(item, "meshDns", problems);
    const servers = r.stringList("servers");
    const domains = r.stringList("domains").map((d) => d.replace(/^~/, "").replace(/\.$/, ""));
    if (servers.length === 0) r.problem("servers", "needs at least one DNS server's IPv4 address, reached over the mesh (e.g. [10.0.0.53])");
    if (domains.length === 0) r.problem("domains", "needs at least one domain whose names those servers answer (e.g. [home.arpa])");
    for (const s of servers) if (parseIpv4(s) === undefined) r.problem("servers", `"${s}" is not an IPv4 address`);
    for (const d of domains)
        if (!isDnsSubdomain(d) || /^\d+$/.test(d.split(".").pop() ?? "")) r.problem("domains", `"${d}" is not a domain name (e.g. home.arpa)`);
    return { servers, domains };
}
