// The probes every scenario ends with: our units, the firewall table, WireGuard handshakes, pings
// across the mesh between all hosts, the API from mesh peers (and the operator), the API and kubelet
// ports from the internet, and k3s's own node list.
import { PlanResult } from "../plan/plan";
import { firewallUnitName, k3sUnitName, wireguardUnitName, zerotierUnitName } from "../components/paths";
import { allOf, pings, tcpOpen, unitActive, unitJournal, waitUntil } from "./checks";
import { PlannedHost, Rehearsal } from "./rehearsal";
import { strangerAddress } from "./lab";

export const apiPort = 6443;
export const kubeletPort = 10250;

/** Our units on a host, in the order they must come up at boot. */
export function unitsOf(plan: PlanResult, host: PlannedHost): string[] {
    const k3s = host.roles.includes("server") ? [k3sUnitName("server")] : host.roles.includes("agent") ? [k3sUnitName("agent")] : [];
    const mesh = plan.spec.mesh.kind === "wireguard" ? wireguardUnitName(plan.spec.mesh.interfaceName) : zerotierUnitName;
    return [firewallUnitName, mesh, ...k3s];
}

export function edgeUnitOf(plan: PlanResult, host: PlannedHost): string | undefined {
    return host.roles.includes("edge") ? `${plan.spec.edge.proxy}.service` : undefined;
}

const serversOf = (hosts: PlannedHost[]) => hosts.filter((h) => h.roles.includes("server"));
const k3sNodesOf = (hosts: PlannedHost[]) => hosts.filter((h) => h.roles.includes("server") || h.roles.includes("agent"));

/** Runs the whole set against the applied plan. */
export async function healthChecks(r: Rehearsal, when: string, options: { operator?: boolean } = {}): Promise<void> {
    const plan = r.applied!;
    const hosts = r.hostsOf(plan);
    const machine = (h: PlannedHost) => r.lab.host(h.name).machine;
    const { checks } = r;

    await checks.check(`${when}: our units active on every host`, async () => {
        const failures: string[] = [];
        let total = 0;
        await Promise.all(
            hosts.map(async (h) => {
                for (const unit of [...unitsOf(plan, h), ...[edgeUnitOf(plan, h)].filter((u): u is string => !!u)]) {
                    total++;
                    if (!(await unitActive(machine(h), unit))) failures.push(`${h.name} ${unit} (${await unitJournal(machine(h), unit)})`);
                }
            }),
        );
        return allOf("units", failures, total);
    });

    await checks.check(`${when}: nft table inet hybrid_k3s loaded on every host`, async () => {
        const failures: string[] = [];
        await Promise.all(
            hosts.map(async (h) => {
                if ((await machine(h).exec(["nft", "list", "table", "inet", "hybrid_k3s"])).code !== 0) failures.push(h.name);
            }),
        );
        return allOf("hosts", failures, hosts.length);
    });

    const hub = hosts.find((h) => h.roles.includes("hub"))!;
    await checks.check(`${when}: the hub has a WireGuard handshake with every host`, async () => {
        const seconds = await waitUntil("handshakes", 40000, async () => {
            const out = (await machine(hub).exec(["wg", "show", plan.spec.mesh.interfaceName, "latest-handshakes"])).stdout;
            return (
                out
                    .trim()
                    .split("\n")
                    .filter((l) => Number(l.split("\t")[1]) > 0).length >=
                hosts.length - 1
            );
        });
        return `${hosts.length - 1} peers (${seconds.toFixed(0)} s)`;
    });

    await checks.check(`${when}: every host pings every other over the mesh`, async () => {
        const failures: string[] = [];
        const pairs = hosts.flatMap((a) => hosts.filter((b) => b !== a).map((b) => [a, b] as const));
        await Promise.all(
            pairs.map(async ([a, b]) => {
                // A few tries: a spoke's first packet to another spoke may wait for the hub's handshake.
                for (let i = 0; i < 5; i++) if (await pings(machine(a), b.meshAddress)) return;
                failures.push(`${a.name}→${b.name}`);
            }),
        );
        return allOf("pairs", failures, pairs.length);
    });

    const servers = serversOf(hosts);
    await checks.check(`${when}: the API (${apiPort}) answers every mesh peer`, async () => {
        const failures: string[] = [];
        const probes = hosts.flatMap((h) => servers.map((s) => [h, s] as const));
        await Promise.all(
            probes.map(async ([h, s]) => {
                if (!(await tcpOpen(machine(h), s.meshAddress, apiPort))) failures.push(`${h.name}→${s.name}`);
            }),
        );
        if (options.operator) {
            // The operator is a spoke too: after a hub reboot it needs its next keepalive to be known again.
            for (const s of servers) {
                let state = "";
                await waitUntil(
                    "operator",
                    40000,
                    async () => (state = (await r.lab.net.probeTcp(r.lab.runner, s.meshAddress, apiPort)).state) === "open",
                ).catch(() => failures.push(`operator (pulumi runner)→${s.name}: ${state}`));
            }
        }
        return allOf("probes", failures, probes.length + (options.operator ? servers.length : 0)) + (options.operator ? " (and the operator)" : "");
    });

    await checks.check(`${when}: API and kubelet ports closed from the internet (${strangerAddress})`, async () => {
        const failures: string[] = [];
        const targets = hosts
            .filter((h) => h.publicAddress)
            .flatMap((h) => [
                ...[apiPort, kubeletPort].map((port) => [h.name, h.publicAddress!, port] as const),
                // Aimed straight at the mesh address (the internet routes it to the host): the firewall must drop it.
                ...(k3sNodesOf([h]).length ? [[h.name, h.meshAddress, kubeletPort] as const] : []),
                ...(h.roles.includes("server") ? [[h.name, h.meshAddress, apiPort] as const] : []),
            ]);
        await Promise.all(
            targets.map(async ([name, address, port]) => {
                const outcome = await r.lab.net.probeTcp(r.lab.stranger, address, port);
                if (outcome.state === "open") failures.push(`${name} ${address}:${port} open`);
            }),
        );
        return allOf("ports", failures, targets.length);
    });

    const k3sNodes = k3sNodesOf(hosts);
    if (servers.length > 0) {
        await checks.check(`${when}: k3s lists every node Ready on ${plan.spec.k3s.version}`, async () => {
            let last = "";
            await waitUntil("all nodes Ready", 40000, async () => {
                last = (await machine(servers[0]).exec(["k3s", "kubectl", "get", "nodes"])).stdout;
                return k3sNodes.every((n) => new RegExp(`^${n.name}\\s+Ready\\s+\\S+\\s+\\S+\\s+${escape(plan.spec.k3s.version)}`, "m").test(last));
            }).catch(() => {
                throw new Error(`k3s kubectl get nodes:\n${last}`);
            });
            const extra = last.trim().split("\n").length - 1 - k3sNodes.length;
            if (extra !== 0) throw new Error(`${extra} unexpected node(s):\n${last}`);
            return `${k3sNodes.length} nodes`;
        });
    }
}

const escape = (text: string) => text.replace(/[.+]/g, "\\$&");
