// The edge proxies as the plan renders them for the prod stack, on a real (namespaced) network: the
// hub/edge phy01 and the other edge on the fake internet, the ingress nodes (one behind a home NAT
// router), the plan's WireGuard configs and nftables rulesets on every host, and a stranger on the
// internet as the web client. On each ingress node a stand-in for the Istio gateway listens on the
// node's mesh address at the gateway NodePorts and answers with `<node>/<port>`, so every reply
// names the backend that served it. HAProxy and NGINX run their shipped configs unmodified; the
// absolute paths those configs write to (HAProxy's chroot and runtime socket, NGINX's pid file) are
// test-owned directories bind-mounted over those paths in the proxy's own private mount namespace
// (`ip netns exec` gives each command one), so nothing on the host is touched.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "fs";
import { basename, dirname, join } from "path";
import { edgeConfigPath } from "../../components/render/edge";
import { Daemon, Namespace, NetLab, run, sleep } from "./netns";
import { NetHost, StackPlan } from "./topology";
import {
    Connection,
    configValue,
    distribution,
    durationMs,
    edgeLab,
    formatDistribution,
    Route,
    seconds,
    slackMs,
    systemdHardFileLimit,
    systemdSoftFileLimit,
} from "./edge-lab";

describe("[root] the edge proxies on a real network (rendered HAProxy and NGINX configs, mesh, firewalls)", function () {
    this.timeout(120000);
    const { table, standIns, ingress, edges, hub, victim, ingressNames, startStandIns, stopStandIns, connect, connectMany, startProxy, record, current } =
        edgeLab();
    let lab: NetLab | undefined;
    let stranger: Namespace;
    let nginxStack: StackPlan;
    let routes: Route[];
    let fileLimits: { hard: number; canRaise: boolean };
    before(() => ({ lab, stranger, nginxStack, routes, fileLimits } = current()));

    describe("HAProxy (the prod stack's edgeProxy)", () => {
        const proxies = new Map<string, { daemon: Daemon; socket: string; config: string }>();

        before(async () => {
            const mounted = new Set<string>();
            const notes = new Set<string>();
            for (const edge of edges()) {
                const file = join(edge.root, edgeConfigPath.haproxy.slice(1));
                const config = readFileSync(file, "utf8");
                const chroot = configValue(config, /^\s*chroot\s+(\S+)/m, "chroot");
                const socket = configValue(config, /^\s*stats socket\s+(\S+)/m, "stats socket");
                const privateDirs = [...new Set([chroot, dirname(socket)])];
                privateDirs.forEach((dir) => mounted.add(dir));
                // maxconn needs 2 descriptors per connection; HAProxy refuses to start (strict-limits) if it
                // cannot get them. Only where this test may not raise its hard limit as far as systemd
                // would, -n lowers maxconn to what fits (the config file stays as shipped).
                const maxconn = Number(configValue(config, /^\s*maxconn\s+(\d+)/m, "global maxconn"));
                const fitting = Math.floor((fileLimits.hard - 200) / 2);
                const lowered = 2 * maxconn + 100 > fileLimits.hard ? ["-n", String(fitting)] : [];
                if (lowered.length > 0) {
                    notes.add(
                        `NOTE: the hard open-file limit here is ${fileLimits.hard} and cannot be raised to systemd's ${systemdHardFileLimit};` +
                            ` the shipped maxconn ${maxconn} needs ~${2 * maxconn + 35}, so haproxy runs with -n ${fitting}`,
                    );
                }
                const { daemon, dirOf } = await startProxy(edge, "haproxy", file, privateDirs, ["haproxy", "-f", file, "-db", ...lowered]);
                proxies.set(edge.node.name, { daemon, socket: join(dirOf(dirname(socket)), basename(socket)), config });
            }
            console.log(
                `\n  haproxy runs the shipped ${edgeConfigPath.haproxy} on ${edges()
                    .map((h) => h.node.name)
                    .join(", ")}` + ` (test-owned directories mounted over ${[...mounted].join(", ")})${[...notes].map((n) => `\n  ${n}`).join("")}`,
            );
        });

        after(async () => {
            await Promise.all([...proxies.values()].map((p) => p.daemon.stop()));
            for (const edge of edges()) for (const route of routes) await lab!.waitForListener(edge.namespace, route.listen, { gone: true });
        });

        /** backend/server → status ("UP", "DOWN", "UP 1/3", ...) from the shipped runtime API socket. */
        async function serverStatus(edge: NetHost): Promise<Map<string, string>> {
            const result = await run(["socat", "-t2", "STDIO", `UNIX-CONNECT:${proxies.get(edge.node.name)!.socket}`], {
                input: "show stat\n",
                timeoutMs: 5000,
            });
            const lines = result.stdout.split("\n").filter((l) => l.trim() !== "");
            assert.ok(lines.length > 1, `haproxy on ${edge.node.name}: no answer on the stats socket: ${result.stderr}`);
            const header = lines[0].replace(/^#\s*/, "").split(",");
            const [px, sv, st] = ["pxname", "svname", "status"].map((f) => header.indexOf(f));
            return new Map(
                lines
                    .slice(1)
                    .map((l) => l.split(","))
                    .filter((c) => !["FRONTEND", "BACKEND"].includes(c[sv]))
                    .map((c) => [`${c[px]}/${c[sv]}`, c[st]]),
            );
        }

        const statusOf = (status: Map<string, string>, node: string) => routes.map((r) => status.get(`ingress_${r.name}/${node}`) ?? "(absent)");

        it("health-checks every ingress node's gateway NodePort over the mesh: all UP after the first round of checks", async () => {
            // The first checks are spread over one inter; until then a server shows "UP 1/3" (not checked yet).
            const inter = durationMs(configValue(proxies.get(hub().node.name)!.config, /^\s*default-server\s.*\binter\s+(\S+)/m, "inter"), "ms");
            const expected = routes.flatMap((r) => ingressNames().map((n) => `ingress_${r.name}/${n}`)).sort();
            for (const edge of edges()) {
                let status = await serverStatus(edge);
                for (const start = Date.now(); Date.now() - start < inter + slackMs && ![...status.values()].every((s) => s === "UP"); await sleep(200)) {
                    status = await serverStatus(edge);
                }
                assert.deepEqual([...status.keys()].sort(), expected, `haproxy on ${edge.node.name}: the backends must be exactly the ingress nodes`);
                const up = [...status].filter(([, state]) => state === "UP").length;
                table.push({
                    from: `(haproxy checks on ${edge.node.name})`,
                    to: ingressNames().join(", "),
                    port: routes.map((r) => r.nodePort).join(","),
                    expected: `all ${status.size} servers UP`,
                    got: `${up} UP${
                        up < status.size
                            ? `; ${[...status]
                                  .filter(([, state]) => state !== "UP")
                                  .map(([server, state]) => `${server} ${state}`)
                                  .join(", ")}`
                            : ""
                    }`,
                    ok: up === status.size,
                });
                assert.deepEqual(
                    [...status].filter(([, state]) => state !== "UP"),
                    [],
                    `haproxy on ${edge.node.name}: servers not UP after one inter`,
                );
            }
        });

        it("forwards 443 and 80 from the internet to every ingress node's gateway NodePort over the mesh, round robin", async () => {
            const perNode = 3;
            for (const edge of edges()) {
                for (const route of [...routes].reverse()) {
                    const results = await connectMany(edge.node.publicAddress!, route, perNode * ingress().length);
                    const counts = record(edge, route, results, `round robin over ${ingressNames().join(", ")}`, ingressNames());
                    console.log(`  haproxy ${edge.node.name}:${route.listen} → ${formatDistribution(counts)}`);
                    assert.deepEqual([...counts.keys()], ingressNames(), `${edge.node.name}:${route.listen}: every ingress node serves`);
                    assert.ok(
                        Math.max(...counts.values()) - Math.min(...counts.values()) <= 1,
                        `${edge.node.name}:${route.listen}: not round robin: ${formatDistribution(counts)}`,
                    );
                }
            }
        });

        it("keeps the gateway NodePorts closed to the internet (reached by the edge over the mesh only)", async () => {
            for (const target of ingress().filter((h) => !h.node.behindNat)) {
                for (const route of routes) {
                    const got = await lab!.probeTcp(stranger, target.node.meshAddress, route.nodePort);
                    table.push({
                        from: "stranger",
                        to: `${target.node.name} ${target.node.meshAddress} (routed via its public address)`,
                        port: `${route.nodePort}/tcp`,
                        expected: "closed (nft)",
                        got: `${got.state} ${got.detail === got.state ? "" : got.detail}`.trim(),
                        ok: got.state !== "open",
                    });
                    assert.notEqual(got.state, "open", `${target.node.name}: NodePort ${route.nodePort} answers the internet: ${got.detail}`);
                }
            }
        });

        it("takes a dead ingress node out of rotation within inter×fall (and back within rise×inter)", async function () {
            const edge = hub();
            const dead = victim();
            const config = proxies.get(edge.node.name)!.config;
            const defaults = configValue(config, /^\s*default-server\s+(.*)$/m, "default-server line");
            const inter = durationMs(configValue(defaults, /\binter\s+(\S+)/, "inter"), "ms");
            const fall = Number(configValue(defaults, /\bfall\s+(\d+)/, "fall"));
            const rise = Number(configValue(defaults, /\brise\s+(\d+)/, "rise"));
            this.timeout(inter * (fall + rise) + 60000);
            const https = routes.find((r) => r.name === "https")!;
            const live = ingressNames().filter((n) => n !== dead.node.name);
            assert.deepEqual(
                statusOf(await serverStatus(edge), dead.node.name),
                routes.map(() => "UP"),
            );

            // The gateway on the node behind NAT goes away (no gateway pod): its NodePorts refuse.
            await stopStandIns(dead);
            const stoppedAt = Date.now();
            let downAfter: number | undefined;
            const during: Connection[] = [];
            try {
                while (Date.now() - stoppedAt < inter * fall + 5000) {
                    if (statusOf(await serverStatus(edge), dead.node.name).every((s) => s === "DOWN")) {
                        downAfter = Date.now() - stoppedAt;
                        break;
                    }
                    during.push(await connect(stranger, edge.node.publicAddress!, https));
                    await sleep(200);
                }
                const window = inter * fall;
                console.log(
                    `  haproxy ${edge.node.name}: ${dead.node.name} DOWN after ${downAfter === undefined ? "never" : seconds(downAfter)} (window inter ${seconds(inter)} × fall ${fall} = ${seconds(window)});` +
                        ` meanwhile ${during.length} conns → ${formatDistribution(distribution(during.map((c) => c.servedBy)))}, slowest ${Math.max(0, ...during.map((c) => c.ms))} ms`,
                );
                table.push({
                    from: "(haproxy checks)",
                    to: `${dead.node.name} ${dead.node.meshAddress}`,
                    port: routes.map((r) => r.nodePort).join(","),
                    expected: `DOWN within ${seconds(window)}`,
                    got: downAfter === undefined ? "still up" : `DOWN after ${seconds(downAfter)}`,
                    ok: downAfter !== undefined && downAfter <= window + slackMs,
                });
                assert.ok(
                    downAfter !== undefined && downAfter <= window + slackMs,
                    `${dead.node.name} not DOWN within inter×fall = ${seconds(window)} (+${slackMs} ms slack)`,
                );
                // While the checks were still failing, option redispatch moved each refused connection to another node.
                record(edge, https, during, "a live node (redispatch)", live, `(${dead.node.name} dying)`);

                const after = [...routes].reverse().map((route) => ({ route, results: [] as Connection[] }));
                for (const a of after) a.results = await connectMany(edge.node.publicAddress!, a.route, 3 * live.length);
                for (const a of after) {
                    const counts = record(edge, a.route, a.results, `only ${live.join(", ")}`, live, `(${dead.node.name} DOWN)`);
                    console.log(`  haproxy ${edge.node.name}:${a.route.listen} with ${dead.node.name} DOWN → ${formatDistribution(counts)}`);
                    assert.deepEqual([...counts.keys()], live, "the remaining nodes share the load");
                }
            } finally {
                if (!standIns.has(dead.node.name)) await startStandIns(dead);
            }

            // Back: rise consecutive good checks, one every inter.
            const restartedAt = Date.now();
            let upAfter: number | undefined;
            while (Date.now() - restartedAt < inter * rise + 5000) {
                if (statusOf(await serverStatus(edge), dead.node.name).every((s) => s === "UP")) {
                    upAfter = Date.now() - restartedAt;
                    break;
                }
                await sleep(200);
            }
            const riseWindow = inter * rise;
            console.log(
                `  haproxy ${edge.node.name}: ${dead.node.name} UP again after ${upAfter === undefined ? "never" : seconds(upAfter)} (window rise ${rise} × inter ${seconds(inter)} = ${seconds(riseWindow)})`,
            );
            table.push({
                from: "(haproxy checks)",
                to: `${dead.node.name} ${dead.node.meshAddress}`,
                port: routes.map((r) => r.nodePort).join(","),
                expected: `UP within ${seconds(riseWindow)}`,
                got: upAfter === undefined ? "still down" : `UP after ${seconds(upAfter)}`,
                ok: upAfter !== undefined && upAfter <= riseWindow + slackMs,
            });
            assert.ok(upAfter !== undefined && upAfter <= riseWindow + slackMs, `${dead.node.name} not back within rise×inter = ${seconds(riseWindow)}`);
            const back = await connectMany(edge.node.publicAddress!, https, 3 * ingress().length);
            const counts = record(edge, https, back, `round robin over ${ingressNames().join(", ")}`, ingressNames(), `(${dead.node.name} back)`);
            assert.deepEqual([...counts.keys()], ingressNames(), `${dead.node.name} is back in rotation`);
        });
    });

    describe("NGINX stream (the prod stack with edgeProxy nginx)", () => {
        const proxies = new Map<string, { daemon: Daemon; errorLog: string; config: string; pidFile: string }>();

        before(async () => {
            for (const edge of edges()) {
                const node = nginxStack.nodes.find((n) => n.name === edge.node.name)!;
                const config = node.files[edgeConfigPath.nginx];
                const file = join(lab!.writeHostFiles(`${edge.node.name}-nginx`, { [edgeConfigPath.nginx]: config }), edgeConfigPath.nginx.slice(1));
                const pid = configValue(config, /^pid\s+(\S+);/m, "pid");
                const errorLog = join(lab!.workDir, `${edge.node.name}-nginx-error.log`);
                // No -p: Debian's module loaders (load_module modules/...) are relative to the compiled-in prefix.
                // The extra error_log (main level allows several) is the test's window on upstream failures:
                // the shipped one goes to syslog (/dev/log), which a test namespace does not have.
                const { daemon, dirOf } = await startProxy(
                    edge,
                    "nginx",
                    file,
                    [dirname(pid)],
                    ["nginx", "-e", "stderr", "-c", file, "-g", `daemon off; error_log ${errorLog} notice;`],
                );
                proxies.set(edge.node.name, { daemon, errorLog, config, pidFile: join(dirOf(dirname(pid)), basename(pid)) });
            }
            // What nginx says at startup under systemd's default limits (e.g. worker_connections above the soft limit).
            const startup = [
                ...new Set(
                    [...proxies.values()]
                        .flatMap((p) => p.daemon.output().split("\n"))
                        .map((l) => l.replace(/^.*?\[(\w+)\] \d+#\d+: /, "[$1] ").trim())
                        .filter(Boolean),
                ),
            ];
            if (startup.length > 0)
                console.log(
                    `\n  nginx startup messages (soft open-file limit ${systemdSoftFileLimit}, as under systemd):\n${startup.map((l) => `    ${l}`).join("\n")}`,
                );
            console.log(
                `\n  nginx runs the shipped ${edgeConfigPath.nginx} on ${edges()
                    .map((h) => h.node.name)
                    .join(", ")} (test-owned directory mounted over ${dirname(configValue([...proxies.values()][0].config, /^pid\s+(\S+);/m, "pid"))})`,
            );
        });

        after(async () => {
            await Promise.all([...proxies.values()].map((p) => p.daemon.stop()));
        });

        it("forwards 443 and 80 from the internet to every ingress node's gateway NodePort over the mesh", async () => {
            for (const edge of edges()) {
                const proxy = proxies.get(edge.node.name)!;
                assert.ok(existsSync(proxy.pidFile), `nginx on ${edge.node.name} wrote no pid file where the shipped config says`);
                for (const route of [...routes].reverse()) {
                    // Round robin is per worker process (the upstreams have no shared `zone`), so the
                    // spread depends on which worker accepts: connect until every node has served.
                    const results: Connection[] = [];
                    while (results.length < 60 && new Set(results.map((r) => r.servedBy)).size < ingress().length) {
                        results.push(...(await connectMany(edge.node.publicAddress!, route, ingress().length)));
                        if (results.some((r) => r.servedBy === undefined)) break;
                    }
                    const counts = record(edge, route, results, `every one of ${ingressNames().join(", ")}`, ingressNames());
                    console.log(`  nginx ${edge.node.name}:${route.listen} → ${formatDistribution(counts)}`);
                    assert.deepEqual([...counts.keys()], ingressNames(), `${edge.node.name}:${route.listen}: every ingress node serves`);
                }
            }
        });

        it("keeps serving when an ingress node's gateway dies, and skips it after max_fails (passive checks)", async () => {
            const edge = hub();
            const dead = victim();
            const proxy = proxies.get(edge.node.name)!;
            const https = routes.find((r) => r.name === "https")!;
            const serverLine = configValue(
                proxy.config,
                new RegExp(`^\\s*server\\s+(${dead.node.meshAddress.replace(/\./g, "\\.")}:${https.nodePort}\\s[^;]*);`, "m"),
                `server line for ${dead.node.name}`,
            );
            const maxFails = Number(configValue(serverLine, /max_fails=(\d+)/, "max_fails"));
            const failTimeout = durationMs(configValue(serverLine, /fail_timeout=(\S+)/, "fail_timeout"), "s");
            const workers = await nginxWorkers(edge);
            assert.ok(workers >= 1, `no nginx worker process found in ${edge.node.name}`);
            const live = ingressNames().filter((n) => n !== dead.node.name);
            const upstream = `upstream: "${dead.node.meshAddress}:${https.nodePort}"`;
            const logLines = () => (existsSync(proxy.errorLog) ? readFileSync(proxy.errorLog, "utf8") : "").split("\n").filter((l) => l.includes(upstream));
            const linesBefore = logLines().length;

            await stopStandIns(dead);
            let results: Connection[] = [];
            let elapsed = 0;
            try {
                // Enough connections that plain round robin would try the dead node far more than max_fails times per worker.
                const count = Math.max(30, 2 * workers * maxFails * ingress().length);
                const start = Date.now();
                results = await connectMany(edge.node.publicAddress!, https, count, 6);
                elapsed = Date.now() - start;
            } finally {
                await startStandIns(dead);
            }
            const lines = logLines().slice(linesBefore);
            const failedConnects = lines.filter((l) => /connect\(\) failed/.test(l)).length;
            const disabled = lines.filter((l) => /upstream server temporarily disabled/.test(l)).length;
            // Each worker keeps its own failure count; after fail_timeout a worker tries the node once more.
            const bound = workers * (maxFails + Math.floor(elapsed / failTimeout));
            const counts = record(edge, https, results, `only ${live.join(", ")}`, live, `(${dead.node.name} refusing)`);
            console.log(
                `  nginx ${edge.node.name}:443 with ${dead.node.name} refusing: ${results.length} conns in ${seconds(elapsed)} → ${formatDistribution(counts)};` +
                    ` nginx tried ${dead.node.name} ${failedConnects}× (max_fails ${maxFails} × ${workers} worker(s) → bound ${bound}; plain round robin would try ~${Math.round(results.length / ingress().length)}×), "temporarily disabled" logged ${disabled}×`,
            );
            table.push({
                from: "(nginx passive checks)",
                to: `${dead.node.name} ${dead.node.meshAddress}`,
                port: `${https.nodePort}/tcp`,
                expected: `tried ≤ ${bound}× then skipped`,
                got: `tried ${failedConnects}×, disabled ${disabled}×`,
                ok: failedConnects >= 1 && failedConnects <= bound && disabled >= 1,
            });
            assert.ok(failedConnects >= 1, `nginx never tried ${dead.node.name}: the test did not exercise the failure (log: ${proxy.errorLog})`);
            assert.ok(disabled >= 1, `nginx did not take ${dead.node.name} out after max_fails=${maxFails}`);
            assert.ok(failedConnects <= bound, `nginx tried the dead node ${failedConnects}× (bound ${bound}): it was not skipped`);
        });

        /** Worker processes of the nginx running in the edge's namespace (worker_processes auto = CPUs). */
        async function nginxWorkers(edge: NetHost): Promise<number> {
            const pids = (await run(["ip", "netns", "pids", edge.namespace.netns])).stdout.split("\n").filter(Boolean);
            return pids.filter((pid) => {
                try {
                    return readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("nginx: worker process");
                } catch {
                    return false;
                }
            }).length;
        }
    });
});
