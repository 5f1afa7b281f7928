// The edge test's lab: the prod stack's hub, edges and ingress nodes on a namespaced network, with gateway stand-ins, probes and the proxies' runner.
import { firewallRulesetPath } from "../../components/paths";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "fs";
import { join } from "path";
import { edgeConfigPath, EdgeKind } from "../../components/render/edge";
import { Daemon, Namespace, NetLab, ProbeOutcome, requireRoot, requireTools } from "./netns";
import { buildInternet, formatTable, hasRole, loadRulesets, NetHost, NodeRole, placeNodes, planProd, StackPlan, startMesh } from "./topology";

export const publicPorts = { http: 80, https: 443 } as const;
/** Client-side limit per connection: above any delay the proxies add (connect timeouts of 3 s, retries). */
export const probeTimeoutMs = 8000;
export const slackMs = 1500;

export interface Route {
    name: "http" | "https";
    listen: number;
    nodePort: number;
}

export interface Connection {
    outcome: ProbeOutcome;
    ms: number;
    /** The ingress node named in the reply, if the reply is a stand-in's banner for the expected NodePort. */
    servedBy?: string;
}

export interface TableRow {
    from: string;
    to: string;
    port: string;
    expected: string;
    got: string;
    ok: boolean;
}

export const systemdSoftFileLimit = 1024;
export const systemdHardFileLimit = 524288;

/** This process's hard open-file limit, and whether it may raise it to systemd's default (CAP_SYS_RESOURCE). */
export function openFileLimits(): { hard: number; canRaise: boolean } {
    const line = readFileSync("/proc/self/limits", "utf8")
        .split("\n")
        .find((l) => l.startsWith("Max open files"));
    const hard = Number(line?.trim().split(/\s+/)[4]);
    const canRaise = spawnSync("sh", ["-c", `ulimit -Hn ${systemdHardFileLimit}`]).status === 0;
    return { hard: canRaise ? systemdHardFileLimit : Number.isFinite(hard) ? hard : 1024, canRaise };
}

export const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** A duration as HAProxy (bare number = ms) or NGINX (bare number = s) writes it. */
export function durationMs(text: string, bareUnit: "ms" | "s"): number {
    const match = /^(\d+)(ms|s|m|h)?$/.exec(text);
    if (!match) throw new Error(`cannot read duration "${text}"`);
    const factor = { ms: 1, s: 1000, m: 60000, h: 3600000 }[(match[2] ?? bareUnit) as "ms" | "s" | "m" | "h"];
    return Number(match[1]) * factor;
}

export function configValue(config: string, pattern: RegExp, what: string): string {
    const match = pattern.exec(config);
    if (!match) throw new Error(`the rendered config has no ${what} (${pattern})`);
    return match[1];
}

/** Counts per name, in a stable order, e.g. "aws-arm×3 k3s-soh-re×3 white-amd×3". */
export function distribution(names: Array<string | undefined>): Map<string, number> {
    const counts = new Map<string, number>();
    for (const name of names) counts.set(name ?? "(failed)", (counts.get(name ?? "(failed)") ?? 0) + 1);
    return new Map([...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
export const formatDistribution = (counts: Map<string, number>) => [...counts].map(([name, n]) => `${name}×${n}`).join(" ");

/** nginx's stream module, a package of its own (requireTools checks the binaries): throws, never skips. */
export function requireNginxStream(): void {
    const loaderDirs = ["/etc/nginx/modules-enabled", "/usr/share/nginx/modules"];
    const streamLoaded = loaderDirs.some(
        (dir) => existsSync(dir) && readdirSync(dir).some((file) => file.endsWith(".conf") && /ngx_stream_module/.test(readFileSync(join(dir, file), "utf8"))),
    );
    if (!streamLoaded) throw new Error("missing the nginx stream module: install with `apt-get install libnginx-mod-stream`");
}

/**
 * Builds the lab in a before hook of the calling suite (and tears it down in its after hook, printing the
 * probe table); returns the helpers its tests use and current(), the state the before hook set.
 */
export function edgeLab() {
    let lab: NetLab | undefined;
    let stranger: Namespace;
    const hosts: NetHost[] = [];
    const table: TableRow[] = [];
    let haproxyStack: StackPlan;
    let nginxStack: StackPlan;
    let routes: Route[];
    let fileLimits: { hard: number; canRaise: boolean };
    /** Stand-in gateway listeners by node name. */
    const standIns = new Map<string, Daemon[]>();

    const ingress = () => hosts.filter((h) => hasRole(h.node, "ingress"));
    const edges = () => hosts.filter((h) => hasRole(h.node, "edge"));
    const hub = () => hosts.find((h) => hasRole(h.node, "hub"))!;
    /** The ingress node behind NAT: its traffic crosses the hub and the home router. */
    const victim = () => ingress().find((h) => h.node.behindNat)!;
    const ingressNames = () =>
        ingress()
            .map((h) => h.node.name)
            .sort();

    /**
     * The stand-in Istio gateway: answers `<node>/<nodePort>` on the node's mesh address only. Like the
     * real one it reads what the edge sends first (HAProxy's PROXY v2 header arrives before any client
     * byte) and discards it; a socat SYSTEM:echo listener would hit a closed pipe there and drop its banner.
     */
    const standInScript =
        "const [port, bind, banner] = process.argv.slice(1);" +
        " require('net').createServer((s) => { s.on('error', () => {}); s.resume(); s.end(banner + '\\n'); }).listen(Number(port), bind);";
    async function startStandIns(host: NetHost): Promise<void> {
        const listeners: Daemon[] = [];
        for (const route of routes) {
            const banner = `${host.node.name}/${route.nodePort}`;
            const daemon = lab!.startDaemon(
                host.namespace,
                [process.execPath, "-e", standInScript, String(route.nodePort), host.node.meshAddress, banner],
                `gateway stand-in ${banner}`,
            );
            await lab!.waitForListener(host.namespace, route.nodePort, { daemon });
            listeners.push(daemon);
        }
        standIns.set(host.node.name, listeners);
    }

    async function stopStandIns(host: NetHost): Promise<void> {
        await Promise.all((standIns.get(host.node.name) ?? []).map((d) => d.stop()));
        standIns.delete(host.node.name);
        for (const route of routes) await lab!.waitForListener(host.namespace, route.nodePort, { gone: true });
    }

    async function connect(from: Namespace, address: string, route: Route): Promise<Connection> {
        const start = Date.now();
        const outcome = await lab!.probeTcp(from, address, route.listen, { timeoutMs: probeTimeoutMs });
        const match = outcome.state === "open" ? /^([a-z0-9.-]+)\/(\d+)$/.exec(outcome.detail) : null;
        const servedBy = match && Number(match[2]) === route.nodePort && ingressNames().includes(match[1]) ? match[1] : undefined;
        return { outcome, ms: Date.now() - start, servedBy };
    }

    async function connectMany(address: string, route: Route, count: number, parallel = 1): Promise<Connection[]> {
        const results: Connection[] = [];
        for (let done = 0; done < count; done += parallel) {
            const batch = Array.from({ length: Math.min(parallel, count - done) }, () => connect(stranger, address, route));
            results.push(...(await Promise.all(batch)));
        }
        return results;
    }

    /**
     * Runs the proxy with its shipped config. The absolute directories the config writes to are
     * replaced, for this process only, by fresh test-owned directories (bind mounts in the private
     * mount namespace `ip netns exec` creates); returns where those directories really are.
     */
    async function startProxy(
        host: NetHost,
        kind: EdgeKind,
        configFile: string,
        privateDirs: string[],
        argv: string[],
    ): Promise<{ daemon: Daemon; dirOf: (path: string) => string }> {
        const scratch = join(lab!.workDir, `${host.node.name}-${kind}-private`);
        const dirOf = (path: string) => join(scratch, path);
        const mounts = privateDirs.map((dir) => {
            if (!existsSync(dir))
                throw new Error(`${kind}: ${dir} (named by the shipped config) does not exist on this host; is the ${kind} package installed?`);
            mkdirSync(dirOf(dir), { recursive: true, mode: 0o755 });
            return `mount --bind '${dirOf(dir)}' '${dir}'`;
        });
        // The open-file limits a systemd service gets by default (soft 1024, hard 524288; neither
        // Debian unit sets LimitNOFILE); the hard one only where this process may raise it.
        const limits = `${fileLimits.canRaise ? `ulimit -Hn ${systemdHardFileLimit} && ` : ""}ulimit -Sn ${systemdSoftFileLimit}`;
        const daemon = lab!.startDaemon(
            host.namespace,
            ["sh", "-c", `${limits} && ${mounts.join(" && ")} && exec "$@"`, "sh", ...argv],
            `${kind} on ${host.node.name} (${configFile})`,
        );
        for (const route of routes) await lab!.waitForListener(host.namespace, route.listen, { daemon });
        return { daemon, dirOf };
    }

    before(async function () {
        requireRoot("the edge network test");
        requireTools(["ip", "ss", "nft", "wg", "wg-quick", "wireguard-go", "socat", "ping", "haproxy", "nginx"]);
        requireNginxStream();
        fileLimits = openFileLimits();
        [haproxyStack, nginxStack] = [await planProd(), await planProd({ "hybrid-k3s:edgeProxy": "nginx" })];
        routes = [
            { name: "http", listen: publicPorts.http, nodePort: haproxyStack.httpNodePort },
            { name: "https", listen: publicPorts.https, nodePort: haproxyStack.httpsNodePort },
        ];
        // The hub, every edge and every ingress node: the hosts the web path touches.
        const nodes = haproxyStack.nodes.filter((n) => (["hub", "edge", "ingress"] as NodeRole[]).some((role) => hasRole(n, role)));
        const ingressNodes = nodes.filter((n) => hasRole(n, "ingress"));
        assert.equal(nodes.filter((n) => hasRole(n, "hub")).length, 1, "the plan must have exactly one hub");
        assert.ok(ingressNodes.length >= 2, "prod must have at least two ingress nodes");
        assert.ok(
            ingressNodes.some((n) => n.behindNat),
            "prod must have an ingress node behind NAT (its edge traffic crosses the hub)",
        );
        for (const node of nodes.filter((n) => hasRole(n, "edge"))) {
            assert.ok(node.files[edgeConfigPath.haproxy], `${node.name}: the haproxy stack ships no ${edgeConfigPath.haproxy}`);
            const nginxNode = nginxStack.nodes.find((n) => n.name === node.name)!;
            assert.ok(nginxNode.files[edgeConfigPath.nginx], `${node.name}: the nginx stack ships no ${edgeConfigPath.nginx}`);
        }
        for (const node of nodes) {
            // The rulesets loaded below are the haproxy stack's: the nginx stack must ship the same ones.
            const nginxNode = nginxStack.nodes.find((n) => n.name === node.name)!;
            assert.equal(nginxNode.files[firewallRulesetPath], node.files[firewallRulesetPath], `${node.name}: the nginx stack ships a different firewall`);
        }

        lab = new NetLab("edge");
        const net = await buildInternet(lab);
        stranger = net.stranger;
        hosts.push(...(await placeNodes(lab, net, nodes)));

        // Firewall first, then WireGuard, so every packet of the test crosses the plan's rulesets.
        await loadRulesets(lab, hosts);
        const wgConfig = (h: NetHost) => join(h.root, "etc/wireguard/wg0.conf");
        assert.ok(
            hosts.every((h) => existsSync(wgConfig(h))),
            "every host gets /etc/wireguard/wg0.conf",
        );
        await startMesh(lab, hosts);
        // Mesh up: every edge reaches every ingress node (for the other edges: through the hub).
        const start = Date.now();
        await Promise.all(
            edges().flatMap((e) =>
                ingress()
                    .filter((i) => i !== e)
                    .map(async (i) => {
                        while (!(await lab!.ping(e.namespace, i.node.meshAddress, 1))) {
                            if (Date.now() - start > 15000)
                                throw new Error(`${e.node.name} cannot ping ${i.node.name} (${i.node.meshAddress}) over the mesh after 15 s`);
                        }
                    }),
            ),
        );
        console.log(
            `\n  mesh up in ${seconds(Date.now() - start)}: edges ${edges()
                .map((h) => h.node.name)
                .join(", ")}; ingress ${ingress()
                .map((h) => `${h.node.name} ${h.node.meshAddress}${h.node.behindNat ? " (behind NAT)" : ""}`)
                .join(", ")}`,
        );
        for (const h of ingress()) await startStandIns(h);
    });

    after(async () => {
        if (table.length > 0) {
            console.log(
                formatTable(
                    "edge probes (stranger = internet client; replies name the backend node)",
                    ["from", "to", "port", "expected", "got", ""],
                    table.map((r) => [r.from, r.to, r.port, r.expected, r.got, r.ok ? "ok" : "FAIL"]),
                ),
            );
        }
        await lab?.stopDaemons();
        lab?.teardown();
    });

    /** Asserts every connection was served by an ingress node; adds a summary row to the table. */
    function record(edge: NetHost, route: Route, results: Connection[], expected: string, allowed: string[], note = ""): Map<string, number> {
        const counts = distribution(results.map((r) => r.servedBy));
        const slowest = Math.max(0, ...results.map((r) => r.ms));
        const bad = results.filter((r) => r.servedBy === undefined || !allowed.includes(r.servedBy));
        table.push({
            from: "stranger",
            to: `${edge.node.name} ${edge.node.publicAddress}${note ? ` ${note}` : ""}`,
            port: `${route.listen}/tcp`,
            expected,
            got: `${results.length} conns: ${formatDistribution(counts)} (slowest ${slowest} ms)`,
            ok: bad.length === 0,
        });
        assert.deepEqual(
            bad.map((r) => `${r.outcome.state}: ${r.outcome.detail}`),
            [],
            `${edge.node.name}:${route.listen} ${note}: connections not served by ${allowed.join("/")}`,
        );
        return counts;
    }

    return {
        table,
        standIns,
        ingress,
        edges,
        hub,
        victim,
        ingressNames,
        startStandIns,
        stopStandIns,
        connect,
        connectMany,
        startProxy,
        record,
        current: () => ({ lab, stranger, nginxStack, routes, fileLimits }),
    };
}
