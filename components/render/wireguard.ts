// WireGuard hub-and-spoke configs (wg-quick format) and key derivation: pure functions, no Pulumi.
// The hub lists every spoke by its /32; a spoke knows only the hub and sends the whole mesh CIDR
// there, so spoke-to-spoke traffic is forwarded by the hub with its source addresses intact.
import { createPrivateKey, createPublicKey } from "crypto";
import { Cidr, cidrContains, cidrsOverlap, isPort, networkOf, parseCidr, parseIpv4 } from "../net";

export interface WgPeerFacts {
    name: string;
    publicKey: string;
    meshAddress: string;
    /** LANs behind this peer (its node's routes): the hub sends them to it. */
    routes?: string[];
}

export interface HubFacts {
    name: string;
    privateKey: string;
    meshAddress: string;
    /** Prefix length of the mesh CIDR, e.g. 24. */
    meshPrefix: number;
    listenPort: number;
    mtu: number;
    interfaceName: string;
    /** Every node and operator except the hub. */
    peers: WgPeerFacts[];
}

export interface SpokeFacts {
    name: string;
    privateKey: string;
    meshAddress: string;
    meshPrefix: number;
    mtu: number;
    meshCidr: string;
    hub: { name: string; publicKey: string; /** host:port */ endpoint: string };
    /** LANs behind other nodes: sent to the hub with the mesh. */
    routes?: string[];
    /** LANs behind this spoke: it forwards between the mesh and them (a gateway). */
    ownRoutes?: string[];
}

/** Spokes behind NAT must keep their mapping open; 25 s is below every common NAT UDP timeout. */
const persistentKeepaliveSeconds = 25;

/** PKCS#8 DER header of a raw X25519 private key; the 32 key bytes follow it. */
const x25519Pkcs8Prefix = Buffer.from("302e020100300506032b656e04220420", "hex");

/** The public key `wg pubkey` prints for a base64 private key (X25519 of the clamped scalar). */
export function wireguardPublicKey(privateKeyBase64: string): string {
    const privateKey = keyBytes(privateKeyBase64, "private key");
    const keyObject = createPrivateKey({ key: Buffer.concat([x25519Pkcs8Prefix, privateKey]), format: "der", type: "pkcs8" });
    const spki = createPublicKey(keyObject).export({ format: "der", type: "spki" });
    return spki.subarray(spki.length - 32).toString("base64");
}

export function renderHubConfig(f: HubFacts): string {
    checkName(f.name, "hub");
    keyBytes(f.privateKey, `hub ${f.name} private key`);
    checkPort(f.listenPort, `hub ${f.name} listenPort`);
    checkMtu(f.mtu, `hub ${f.name}`);
    if (!/^[A-Za-z0-9_=+.-]{1,15}$/.test(f.interfaceName)) {
        throw new Error(`hub ${f.name}: interface name "${f.interfaceName}" is not one wg-quick accepts (1-15 of A-Z a-z 0-9 _ = + . -)`);
    }
    const mesh = meshOf(f.meshAddress, f.meshPrefix, `hub ${f.name}`);
    checkUnique([{ name: f.name, meshAddress: f.meshAddress }, ...f.peers]);

    const peers = [...f.peers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const lines = [
        `# hybrid-k3s WireGuard hub ${f.name} (${f.interfaceName}): ${peers.length} peer${peers.length === 1 ? "" : "s"}`,
        "[Interface]",
        `Address = ${f.meshAddress}/${f.meshPrefix}`,
        `ListenPort = ${f.listenPort}`,
        `PrivateKey = ${f.privateKey}`,
        `MTU = ${f.mtu}`,
        "# Spokes reach each other through the hub: forward between peers without NAT, so every",
        "# host sees the real mesh source address (the nftables ruleset does the filtering).",
        "PostUp = sysctl -w net.ipv4.ip_forward=1",
    ];
    for (const peer of peers) {
        checkName(peer.name, "peer");
        keyBytes(peer.publicKey, `peer ${peer.name} public key`);
        if (!cidrContains(mesh, parseIpv4(peer.meshAddress) ?? -1)) {
            throw new Error(`peer ${peer.name}: mesh address "${peer.meshAddress}" is not inside the hub's mesh ${mesh.text}`);
        }
        const routes = checkRoutes(peer.routes, mesh, `peer ${peer.name}`);
        lines.push(
            "",
            "[Peer]",
            `# ${peer.name}${routes.length ? `, gateway to ${routes.join(", ")}` : ""}`,
            `PublicKey = ${peer.publicKey}`,
            `AllowedIPs = ${[`${peer.meshAddress}/32`, ...routes].join(", ")}`,
        );
    }
    return lines.join("\n") + "\n";
}

/** A spoke's config; nodes and operators (laptops, CI) get the same shape. */
export function renderSpokeConfig(f: SpokeFacts): string {
    checkName(f.name, "spoke");
    checkName(f.hub.name, "hub");
    keyBytes(f.privateKey, `spoke ${f.name} private key`);
    keyBytes(f.hub.publicKey, `hub ${f.hub.name} public key`);
    checkMtu(f.mtu, `spoke ${f.name}`);
    const mesh = meshOf(f.meshAddress, f.meshPrefix, `spoke ${f.name}`);
    const meshCidr = parseCidr(f.meshCidr);
    if (!meshCidr || meshCidr.text !== mesh.text) {
        throw new Error(`spoke ${f.name}: meshCidr "${f.meshCidr}" does not match its address ${f.meshAddress}/${f.meshPrefix} (expected ${mesh.text})`);
    }
    const endpoint = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d+)$/.exec(f.hub.endpoint);
    if (!endpoint) throw new Error(`spoke ${f.name}: hub endpoint "${f.hub.endpoint}" is not host:port`);
    checkPort(Number(endpoint[2]), `spoke ${f.name} hub endpoint port`);
    const routes = checkRoutes(f.routes, mesh, `spoke ${f.name}`);
    const ownRoutes = checkRoutes(f.ownRoutes, mesh, `spoke ${f.name}`);
    const looped = routes.find((r) => ownRoutes.includes(r));
    if (looped) throw new Error(`spoke ${f.name}: ${looped} is behind this spoke; it cannot also be sent to the hub`);

    return [
        `# hybrid-k3s WireGuard spoke ${f.name}: the whole mesh is reached through hub ${f.hub.name}`,
        "[Interface]",
        `Address = ${f.meshAddress}/${f.meshPrefix}`,
        `PrivateKey = ${f.privateKey}`,
        `MTU = ${f.mtu}`,
        ...(ownRoutes.length
            ? [
                  `# Gateway to ${ownRoutes.join(", ")}: forwards between the mesh and them (the nftables ruleset filters).`,
                  "PostUp = sysctl -w net.ipv4.ip_forward=1",
              ]
            : []),
        "",
        "[Peer]",
        `# ${f.hub.name} (hub)`,
        `PublicKey = ${f.hub.publicKey}`,
        `Endpoint = ${f.hub.endpoint}`,
        `AllowedIPs = ${[meshCidr.text, ...routes].join(", ")}`,
        `PersistentKeepalive = ${persistentKeepaliveSeconds}`,
        "",
    ].join("\n");
}

/** LAN routes as CIDR texts; none may overlap the mesh (the config refuses it first). */
function checkRoutes(routes: string[] | undefined, mesh: Cidr, what: string): string[] {
    return (routes ?? []).map((text) => {
        const cidr = parseCidr(text);
        if (!cidr) throw new Error(`${what}: route "${text}" is not an IPv4 CIDR with its network address`);
        if (cidrsOverlap(cidr, mesh)) throw new Error(`${what}: route ${cidr.text} overlaps the mesh ${mesh.text}`);
        return cidr.text;
    });
}

function keyBytes(base64: string, what: string): Buffer {
    const bytes = Buffer.from(base64, "base64");
    if (!/^[A-Za-z0-9+/]{43}=$/.test(base64) || bytes.length !== 32) {
        throw new Error(`${what} is not a WireGuard key (44 base64 characters encoding 32 bytes)`);
    }
    return bytes;
}

/** Names land in comments; a newline there would inject config lines. */
function checkName(name: string, what: string): void {
    if (!/^[A-Za-z0-9][A-Za-z0-9._@-]{0,62}$/.test(name)) {
        throw new Error(`${what} name "${name}" must be 1-63 letters, digits or ._@- (it is written into the config)`);
    }
}

function checkPort(port: number, what: string): void {
    if (!isPort(port)) throw new Error(`${what}: ${port} is not a port (1-65535)`);
}

function checkMtu(mtu: number, what: string): void {
    if (!Number.isInteger(mtu) || mtu < 1280 || mtu > 9000) throw new Error(`${what}: MTU ${mtu} is outside 1280..9000`);
}

/** The mesh network an address/prefix belongs to. */
function meshOf(address: string, prefix: number, what: string): Cidr {
    const value = parseIpv4(address);
    if (value === undefined) throw new Error(`${what}: mesh address "${address}" is not an IPv4 address`);
    if (!Number.isInteger(prefix) || prefix < 8 || prefix > 30) throw new Error(`${what}: mesh prefix /${prefix} must be /8../30`);
    return networkOf(value, prefix);
}

/** Two peers with one address would steal each other's traffic (WireGuard keeps the last AllowedIPs). */
function checkUnique(entries: Array<{ name: string; meshAddress: string }>): void {
    const byAddress = new Map<string, string>();
    const names = new Set<string>();
    for (const entry of entries) {
        const other = byAddress.get(entry.meshAddress);
        if (other !== undefined) throw new Error(`mesh address ${entry.meshAddress} is used by both ${other} and ${entry.name}`);
        if (names.has(entry.name)) throw new Error(`peer name ${entry.name} appears twice`);
        byAddress.set(entry.meshAddress, entry.name);
        names.add(entry.name);
    }
}
