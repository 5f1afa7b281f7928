// What the network tests share: the prod stack as the offline plan renders it, and a fake internet
// to put its hosts on — a bridge routing between TEST-NET / benchmark subnets, a home NAT router
// with its LAN, and a stranger (an internet client no host knows). Public hosts sit on the
// internet, hosts behind NAT on the home LAN, each with the plan's files written under its own root;
// then the firewall is loaded before WireGuard comes up (hub first), so every packet crosses the
// plan's rulesets.
import { firewallRulesetPath } from "../../components/paths";
import assert from "node:assert/strict";
import { join } from "path";
import { cidrContains, parseCidr, parseIpv4 } from "../../components/net";
import { readStackConfig, runPlan } from "../../plan/plan";
import { Namespace, NetLab, ProbeOutcome, WireGuardLink } from "./netns";

export type NodeRole = "hub" | "server" | "agent" | "edge" | "ingress";

export interface NetNode {
    name: string;
    roles: NodeRole[];
    /** Address on the internet; absent when behindNat. */
    publicAddress?: string;
    behindNat: boolean;
    meshAddress: string;
    /** Absolute path on the host → content, as the plan ships it; holds /etc/wireguard/<mesh interface>.conf and our nftables ruleset. */
    files: Record<string, string>;
}

export interface StackPlan {
    nodes: NetNode[];
    meshPrefix: number;
    /** The Istio gateway's NodePorts, where the edge proxies send 80 and 443. */
    httpNodePort: number;
    httpsNodePort: number;
}

/**
 * A stack as the offline plan renders it: the files every host would receive, real keys included
 * (config overrides as `pulumi config set` would make them). `dir` holds Pulumi.<stack>.yaml.
 */
export async function planStack(stack: string, overrides: Record<string, string> = {}, dir?: string): Promise<StackPlan> {
    const { config, secretKeys } = readStackConfig(stack, dir);
    const plan = await runPlan(stack, { ...config, ...overrides }, secretKeys);
    const addresses = plan.outputs.nodes as Array<{ name: string; publicAddress?: string }>;
    return {
        nodes: plan.spec.nodes.map((node) => ({
            name: node.name,
            roles: node.roles,
            publicAddress: addresses.find((a) => a.name === node.name)?.publicAddress,
            behindNat: node.existing?.behindNat ?? false,
            meshAddress: node.meshAddress,
            files: Object.fromEntries(Object.entries(plan.nodeFiles[node.name] ?? {}).map(([file, { content }]) => [file, content])),
        })),
        meshPrefix: plan.spec.mesh.prefix,
        httpNodePort: plan.spec.ingress.httpNodePort,
        httpsNodePort: plan.spec.ingress.httpsNodePort,
    };
}

export const planProd = (overrides: Record<string, string> = {}) => planStack("prod", overrides);

export const hasRole = (node: NetNode, role: NodeRole) => node.roles.includes(role);

/** The mesh interface's name, from the node's /etc/wireguard/<name>.conf. */
export function meshInterfaceOf(node: NetNode): string {
    const config = Object.keys(node.files).find((p) => /^\/etc\/wireguard\/[^/]+\.conf$/.test(p));
    if (config === undefined) throw new Error(`${node.name}: the plan ships no /etc/wireguard/*.conf`);
    return config.replace(/^.*\/|\.conf$/g, "");
}

/** The host path of the node's wg-quick config. */
export const meshConfigPath = (node: NetNode) => `/etc/wireguard/${meshInterfaceOf(node)}.conf`;

/** The fake internet (TEST-NET / benchmark ranges only) and the home LAN behind NAT. */
export const internetSubnets = [
    { gateway: "203.0.113.1", cidr: "203.0.113.0/24" },
    { gateway: "198.18.0.1", cidr: "198.18.0.0/16" },
    { gateway: "192.0.2.1", cidr: "192.0.2.0/24" },
];
const prefixOf = (cidr: string) => cidr.split("/")[1];
export const homeRouterPublic = "192.0.2.20";
export const homeLan = { gateway: "198.19.1.1", prefix: 24, firstHost: 10 };
export const strangerAddress = "192.0.2.66";

export interface FakeInternet {
    /** The router between the internet subnets: one bridge (br0) holding every subnet's gateway. */
    internet: Namespace;
    /** The home NAT router: eth0 on the internet, br0 the home LAN. */
    home: Namespace;
    /** An internet client, at strangerAddress. */
    stranger: Namespace;
    /** Cables a namespace to the internet as eth0 with the public address, default route via its subnet's gateway. */
    attachToInternet(namespace: Namespace, address: string): Promise<void>;
}

/** The internet bridge, the home NAT router with its LAN bridge, and the stranger on the internet. */
export async function buildInternet(lab: NetLab): Promise<FakeInternet> {
    // The internet: one bridge, with the router's gateway addresses on it.
    const internet = await lab.addNamespace("internet");
    await lab.addBridge(
        internet,
        "br0",
        internetSubnets.map((s) => `${s.gateway}/${prefixOf(s.cidr)}`),
    );
    await lab.sysctl(internet, "net.ipv4.ip_forward", "1");
    let port = 0;
    const attachToInternet = async (namespace: Namespace, address: string) => {
        const subnet = internetSubnets.find((s) => cidrContains(parseCidr(s.cidr)!, parseIpv4(address)!));
        assert.ok(subnet, `${namespace.name}: public address ${address} is outside the test internet ${internetSubnets.map((s) => s.cidr).join(", ")}`);
        await lab.connect(
            { namespace, ifname: "eth0", addresses: [`${address}/${prefixOf(subnet.cidr)}`] },
            { namespace: internet, ifname: `port${port++}`, bridge: "br0" },
        );
        await lab.addRoute(namespace, "default", subnet.gateway);
    };

    // Home: a NAT router on the internet, and a LAN bridge for the hosts behind it.
    const home = await lab.addNamespace("home-router");
    await attachToInternet(home, homeRouterPublic);
    await lab.addBridge(home, "br0", [`${homeLan.gateway}/${homeLan.prefix}`]);
    await lab.masquerade(home, "eth0");

    const stranger = await lab.addNamespace("stranger");
    await attachToInternet(stranger, strangerAddress);
    return { internet, home, stranger, attachToInternet };
}

/** A node placed on the fake internet. */
export interface NetHost {
    node: NetNode;
    namespace: Namespace;
    /** Where the plan's files for this host were written (the host's "/"). */
    root: string;
    /** Set by startMesh. */
    wireguard?: WireGuardLink;
}

/**
 * A namespace per node with the node's files written: public nodes on the internet (which routes
 * their mesh /32 via their public address, so a stranger next to the host can aim packets at its
 * mesh address), nodes behind NAT on the home LAN.
 */
export async function placeNodes(lab: NetLab, net: FakeInternet, nodes: NetNode[]): Promise<NetHost[]> {
    const hosts: NetHost[] = [];
    let lanHost = homeLan.firstHost;
    for (const node of nodes) {
        const namespace = await lab.addNamespace(node.name);
        hosts.push({ node, namespace, root: lab.writeHostFiles(node.name, node.files) });
        if (node.behindNat) {
            const lanAddress = `${homeLan.gateway.split(".").slice(0, 3).join(".")}.${lanHost++}`;
            await lab.connect(
                { namespace, ifname: "eth0", addresses: [`${lanAddress}/${homeLan.prefix}`] },
                { namespace: net.home, ifname: `lan${lanHost}`, bridge: "br0" },
            );
            await lab.addRoute(namespace, "default", homeLan.gateway);
        } else {
            assert.ok(node.publicAddress, `${node.name}: neither publicAddress nor behindNat`);
            await net.attachToInternet(namespace, node.publicAddress);
            await lab.addRoute(net.internet, `${node.meshAddress}/32`, node.publicAddress);
        }
    }
    return hosts;
}

/** Where the host's nftables ruleset was written. */
export const rulesetFile = (host: NetHost) => join(host.root, firewallRulesetPath);

/** Loads every host's ruleset (before startMesh, so every handshake crosses the rulesets). */
export async function loadRulesets(lab: NetLab, hosts: NetHost[]): Promise<void> {
    await Promise.all(hosts.map((h) => lab.loadNftRuleset(h.namespace, rulesetFile(h))));
}

/** Brings up every host's WireGuard config, the hub first, then the spokes in parallel; sets each host's wireguard. */
export async function startMesh(lab: NetLab, hosts: NetHost[]): Promise<void> {
    const hub = hosts.find((h) => hasRole(h.node, "hub"));
    assert.ok(hub, "no hub among the hosts");
    const config = (h: NetHost) => join(h.root, meshConfigPath(h.node).slice(1));
    hub.wireguard = await lab.startWireGuard(hub.namespace, config(hub));
    await Promise.all(hosts.filter((h) => h !== hub).map(async (h) => (h.wireguard = await lab.startWireGuard(h.namespace, config(h)))));
}

/** A plain-text table under a title: a header line, then a line per row, columns padded to their widest cell. */
export function formatTable(title: string, header: string[], rows: string[][]): string {
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (cells: string[]) =>
        "  " +
        cells
            .map((c, i) => c.padEnd(widths[i]))
            .join("  ")
            .trimEnd();
    return [`\n  ${title}`, line(header), ...rows.map(line)].join("\n");
}

/** One probe of a matrix: what was sent where, what should happen, what did. */
export interface ProbeRow {
    from: string;
    to: string;
    address: string;
    protocol: "tcp" | "udp" | "icmp";
    port?: number;
    expected: "open" | "closed";
    /** Banner an open TCP/UDP port must answer with, proving which host answered. */
    banner?: string;
    sourceAddress?: string;
    note?: string;
    got?: ProbeOutcome;
}

export const probePassed = (probe: ProbeRow) =>
    probe.got !== undefined &&
    (probe.expected === "open" ? probe.got.state === "open" && (probe.banner === undefined || probe.got.detail === probe.banner) : probe.got.state !== "open");

export function probeTable(title: string, probes: ProbeRow[]): string {
    return formatTable(
        title,
        ["from", "to", "port", "expected", "got", "", "note"],
        probes.map((p) => [
            p.from + (p.sourceAddress ? ` (as ${p.sourceAddress})` : ""),
            `${p.to} ${p.address}`,
            p.protocol === "icmp" ? "ping" : `${p.port}/${p.protocol}`,
            p.expected,
            p.got ? `${p.got.state}${p.got.detail && p.got.detail !== p.got.state ? ` (${p.got.detail})` : ""}` : "-",
            probePassed(p) ? "ok" : "FAIL",
            p.note ?? "",
        ]),
    );
}
