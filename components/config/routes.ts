// Routes to LANs behind nodes: each must be its own range, or the mesh, pods or services, or another
// LAN would be routed to the wrong place.
import { cidrsOverlap, parseCidr, Cidr } from "../net";
import { NodeSpec } from "./types";

export function checkRoutes(nodes: NodeSpec[], ranges: Record<string, Cidr | undefined>, problems: string[]): void {
    const seen: Array<{ cidr: Cidr; owner: string }> = [];
    nodes.forEach((node, i) => {
        (node.routes ?? []).forEach((text, j) => {
            const field = `nodes[${i}].routes[${j}]`;
            const cidr = parseCidr(text)!;
            for (const [key, other] of Object.entries(ranges)) {
                if (other && cidrsOverlap(cidr, other))
                    problems.push(`${field}: ${cidr.text} overlaps ${key} ${other.text}; a LAN behind a node must be outside it`);
            }
            const clash = seen.find((s) => cidrsOverlap(s.cidr, cidr));
            if (clash) problems.push(`${field}: ${cidr.text} overlaps ${clash.cidr.text} routed by ${clash.owner}; each LAN is routed by one node`);
            seen.push({ cidr, owner: node.name });
        });
    });
}
