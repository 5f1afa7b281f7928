// Throwaway network namespaces for tests that need real packets: namespaces, veth pairs, bridges,
// NAT, userspace WireGuard (wireguard-go), nftables, listeners and probes. Everything it creates is
// named `hk3s-<pid>-<lab>-<name>` and removed by teardown(), which also runs on exit and SIGINT.
// Nothing here touches the host's own network namespace: every command runs inside a namespace
// this module created (links are created directly in their target namespaces).
import { ChildProcess, spawn, spawnSync } from "child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { basename, dirname, join } from "path";
import { checkBanner, classifyProbe, ExecResult, ProbeOutcome, run, runChecked, sleep, sleepSync } from "./exec";
import { installExitHooks, liveLabs, reapDeadLabs, runtimeSocketDir, signalGroup, signalPid } from "./reaper";
import { parseWgQuickInterface } from "./wgquick";

// The tools and probes are exec.ts's; tests import them from here with the lab.
export { ExecResult, ProbeOutcome, ProbeState, requireRoot, requireTools, run, sleep, toolPackages, ToolName } from "./exec";
// Whether a process is alive, as the reaper decides it; the rehearsal's machine reaper uses it too.
export { isAlive } from "./reaper";

export interface Namespace {
    /** Short name used in reports, e.g. "hub". */
    name: string;
    /** The real namespace name, unique to this process. */
    netns: string;
}

export interface WireGuardLink {
    namespace: Namespace;
    /** Name the config expects (basename of the config file), e.g. wg0. */
    interfaceName: string;
    /** wireguard-go's control-socket name, unique on the host; `wg` commands take this name. */
    deviceName: string;
    configFile: string;
    process: ChildProcess;
}

/** A long-running process in a namespace; the lab's teardown kills it too (it kills every process in its namespaces). */
export interface Daemon {
    label: string;
    process: ChildProcess;
    /** The tail of its stdout and stderr so far. */
    output(): string;
    /** SIGTERM to its process group (SIGKILL after 3 s); resolves once it has exited. */
    stop(): Promise<void>;
}

let deviceCounter = 0;
let labCounter = 0;

export class NetLab {
    readonly prefix: string;
    /** Files the lab writes (configs as they would sit on each host); removed on teardown. */
    readonly workDir: string;
    private readonly namespaces: Namespace[] = [];
    private readonly processes = new Set<ChildProcess>();
    private readonly daemons = new Set<Daemon>();
    private readonly deviceNames = new Set<string>();
    private readonly stderrTails = new WeakMap<ChildProcess, string>();
    private tornDown = false;

    constructor(label: string) {
        if (!/^[a-z0-9-]{1,20}$/.test(label)) throw new Error(`lab label "${label}" must be 1-20 of a-z 0-9 -`);
        reapDeadLabs();
        this.prefix = `hk3s-${process.pid}-${label}${labCounter++ === 0 ? "" : labCounter}`;
        this.workDir = mkdtempSync(join(tmpdir(), `${this.prefix}-`));
        liveLabs.add(this);
        installExitHooks();
    }

    async addNamespace(name: string): Promise<Namespace> {
        if (!/^[a-z0-9-]{1,30}$/.test(name)) throw new Error(`namespace name "${name}" must be 1-30 of a-z 0-9 -`);
        const namespace = { name, netns: `${this.prefix}-${name}` };
        await runChecked(["ip", "netns", "add", namespace.netns]);
        this.namespaces.push(namespace);
        await this.ip(namespace, ["link", "set", "lo", "up"]);
        return namespace;
    }

    /** Runs a command inside the namespace. */
    exec(namespace: Namespace, argv: string[], options: { input?: string; timeoutMs?: number } = {}): Promise<ExecResult> {
        return run(["ip", "netns", "exec", namespace.netns, ...argv], options);
    }

    execChecked(namespace: Namespace, argv: string[], options: { input?: string; timeoutMs?: number } = {}): Promise<string> {
        return runChecked(["ip", "netns", "exec", namespace.netns, ...argv], options);
    }

    ip(namespace: Namespace, args: string[]): Promise<string> {
        return runChecked(["ip", "-n", namespace.netns, ...args]);
    }

    async sysctl(namespace: Namespace, key: string, value: string): Promise<void> {
        await this.execChecked(namespace, ["sysctl", "-q", "-w", `${key}=${value}`]);
    }

    async addBridge(namespace: Namespace, bridge: string, addresses: string[] = []): Promise<void> {
        await this.ip(namespace, ["link", "add", bridge, "type", "bridge"]);
        for (const address of addresses) await this.ip(namespace, ["addr", "add", address, "dev", bridge]);
        await this.ip(namespace, ["link", "set", bridge, "up"]);
    }

    /**
     * A veth pair between two namespaces, each end created directly in its namespace, addressed
     * and up; an end with `bridge` is enslaved to that bridge instead of being addressed.
     */
    async connect(a: VethEnd, b: VethEnd): Promise<void> {
        await this.ip(a.namespace, ["link", "add", a.ifname, "type", "veth", "peer", "name", b.ifname, "netns", b.namespace.netns]);
        for (const end of [a, b]) {
            if (end.bridge) await this.ip(end.namespace, ["link", "set", end.ifname, "master", end.bridge]);
            for (const address of end.addresses ?? []) await this.ip(end.namespace, ["addr", "add", address, "dev", end.ifname]);
            await this.ip(end.namespace, ["link", "set", end.ifname, "up"]);
        }
    }

    async addRoute(namespace: Namespace, destination: string, via: string): Promise<void> {
        await this.ip(namespace, ["route", "replace", destination, "via", via]);
    }

    /** A home router: forwards and masquerades everything leaving through wanInterface. */
    async masquerade(namespace: Namespace, wanInterface: string): Promise<void> {
        await this.sysctl(namespace, "net.ipv4.ip_forward", "1");
        await this.execChecked(namespace, ["nft", "-f", "-"], {
            input: `table ip home_nat {\n\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\toifname "${wanInterface}" masquerade\n\t}\n}\n`,
        });
    }

    /** Writes files as they would sit on a host (absolute paths) under a per-host root; returns that root. */
    writeHostFiles(host: string, files: Record<string, string>): string {
        const root = join(this.workDir, host);
        for (const [path, content] of Object.entries(files)) {
            if (!path.startsWith("/") || path.split("/").includes("..")) throw new Error(`${host}: file path ${path} must be absolute`);
            const target = join(root, path);
            mkdirSync(dirname(target), { recursive: true });
            writeFileSync(target, content, { mode: 0o600 });
            chmodSync(target, 0o600);
        }
        return root;
    }

    loadNftRuleset(namespace: Namespace, file: string): Promise<string> {
        return this.execChecked(namespace, ["nft", "-f", file]);
    }

    checkNftRuleset(namespace: Namespace, file: string): Promise<string> {
        return this.execChecked(namespace, ["nft", "-c", "-f", file]);
    }

    /**
     * Brings a wg-quick config up the way wg-quick would, with wireguard-go: a uniquely named
     * device (its control socket is host-wide), renamed to the name the config expects, configured
     * with `wg setconf` on the stripped file, then Address, MTU, routes for AllowedIPs and
     * PreUp/PostUp run inside the namespace (%i = interface name).
     */
    async startWireGuard(namespace: Namespace, configFile: string): Promise<WireGuardLink> {
        const interfaceName = basename(configFile).replace(/\.conf$/, "");
        const settings = parseWgQuickInterface(readFileSync(configFile, "utf8"), configFile);
        const deviceName = this.newDeviceName();
        const socket = join(runtimeSocketDir, `${deviceName}.sock`);
        const child = this.spawnIn(namespace, ["wireguard-go", "-f", deviceName]);
        for (let waited = 0; !existsSync(socket); waited += 20) {
            if (child.exitCode !== null || waited > 5000) {
                throw new Error(`wireguard-go ${deviceName} in ${namespace.name} did not start: ${this.stderrTails.get(child)?.trim()}`);
            }
            await sleep(20);
        }
        const link: WireGuardLink = { namespace, interfaceName, deviceName, configFile, process: child };
        await this.ip(namespace, ["link", "set", deviceName, "name", interfaceName]);
        for (const command of settings.preUp) await this.execChecked(namespace, ["sh", "-c", command.replace(/%i/g, interfaceName)]);
        const stripped = join(this.workDir, `${deviceName}.stripped.conf`);
        writeFileSync(stripped, await runChecked(["wg-quick", "strip", configFile]), { mode: 0o600 });
        await this.execChecked(namespace, ["wg", "setconf", deviceName, stripped]);
        for (const address of settings.addresses) await this.ip(namespace, ["addr", "add", address, "dev", interfaceName]);
        await this.ip(namespace, ["link", "set", interfaceName, "mtu", String(settings.mtu), "up"]);
        for (const allowed of settings.allowedIps) {
            // Like wg-quick: only ranges the interface's own addresses do not already route.
            const covered = await this.ip(namespace, ["-4", "route", "show", "dev", interfaceName, "match", allowed]);
            if (covered.trim() === "") await this.ip(namespace, ["route", "add", allowed, "dev", interfaceName]);
        }
        for (const command of settings.postUp) await this.execChecked(namespace, ["sh", "-c", command.replace(/%i/g, interfaceName)]);
        return link;
    }

    /** Stops wireguard-go gracefully (its interface disappears with it). */
    async stopWireGuard(link: WireGuardLink): Promise<void> {
        await this.stopProcess(link.process);
    }

    wg(link: WireGuardLink, args: string[]): Promise<string> {
        return this.execChecked(link.namespace, ["wg", "show", link.deviceName, ...args]);
    }

    /** Peers' latest handshake as seconds since the epoch (0 = never), keyed by public key. */
    async latestHandshakes(link: WireGuardLink): Promise<Map<string, number>> {
        const text = await this.wg(link, ["latest-handshakes"]);
        return new Map(
            text
                .trim()
                .split("\n")
                .filter(Boolean)
                .map((line) => {
                    const [key, seconds] = line.split("\t");
                    return [key, Number(seconds)] as const;
                }),
        );
    }

    /**
     * Starts a long-running process in the namespace, in its own process group (forks die with it),
     * keeping the tail of its output for error messages; stopDaemons() stops every one still running.
     */
    startDaemon(namespace: Namespace, argv: string[], label: string): Daemon {
        const child = this.spawnIn(namespace, argv, "pipe");
        let tail = "";
        const keep = (chunk: Buffer) => (tail = (tail + chunk.toString()).slice(-100000));
        child.stdout!.on("data", keep);
        child.stderr!.on("data", keep);
        const daemon: Daemon = { label, process: child, output: () => tail, stop: () => this.stopProcess(child) };
        this.daemons.add(daemon);
        child.on("exit", () => this.daemons.delete(daemon));
        return daemon;
    }

    /** Stops every daemon still running (gracefully, unlike teardown); resolves once all have exited. */
    async stopDaemons(): Promise<void> {
        await Promise.all([...this.daemons].map((daemon) => daemon.stop()));
    }

    /**
     * Waits until a socket listens (or, with gone, no longer listens) on the port in the namespace;
     * with daemon, fails at once, with its output, if that process exits meanwhile.
     */
    async waitForListener(namespace: Namespace, port: number, options: { protocol?: "tcp" | "udp"; gone?: boolean; daemon?: Daemon } = {}): Promise<void> {
        const { protocol = "tcp", gone = false, daemon } = options;
        for (let waited = 0; waited <= 5000; waited += 25) {
            const listening = (await this.execChecked(namespace, ["ss", protocol === "tcp" ? "-Hltn" : "-Hlun", `sport = :${port}`])).trim() !== "";
            if (listening !== gone) return;
            if (daemon && daemon.process.exitCode !== null) throw new Error(`${daemon.label} exited ${daemon.process.exitCode}:\n${daemon.output()}`);
            await sleep(25);
        }
        throw new Error(
            `port ${port}/${protocol} in ${namespace.name} is ${gone ? "still" : "not"} listening after 5 s${daemon ? `; ${daemon.label} said:\n${daemon.output()}` : ""}`,
        );
    }

    /**
     * A TCP listener that answers each connection with `banner`, on every IPv4 address or only on
     * `bind`; stop() on the returned daemon closes it.
     */
    async listenTcp(namespace: Namespace, port: number, banner: string, options: { bind?: string; label?: string } = {}): Promise<Daemon> {
        checkBanner(banner);
        const bind = options.bind ? `,bind=${options.bind}` : "";
        const daemon = this.startDaemon(
            namespace,
            ["socat", `TCP4-LISTEN:${port}${bind},fork,reuseaddr`, `SYSTEM:echo ${banner}`],
            options.label ?? `TCP listener ${banner}`,
        );
        await this.waitForListener(namespace, port, { daemon });
        return daemon;
    }

    /**
     * A UDP listener that answers each datagram with `banner`. Node rather than socat: socat's
     * forked UDP children read each other's datagrams when several peers send at once.
     */
    async listenUdp(namespace: Namespace, port: number, banner: string): Promise<void> {
        checkBanner(banner);
        const echo =
            "const [port, banner] = process.argv.slice(1); const socket = require('dgram').createSocket('udp4');" +
            " socket.on('message', (_, peer) => socket.send(banner + '\\n', peer.port, peer.address)); socket.bind(Number(port));";
        this.spawnIn(namespace, [process.execPath, "-e", echo, String(port), banner]);
        await this.waitForListener(namespace, port, { protocol: "udp" });
    }

    /** Records every datagram sent to the port, for traffic that cannot be answered (forged sources). */
    async udpSink(namespace: Namespace, port: number): Promise<UdpSink> {
        const child = this.spawnIn(namespace, ["socat", "-u", `UDP4-RECV:${port},reuseaddr`, "STDOUT"], "pipe");
        let received = "";
        child.stdout?.on("data", (chunk: Buffer) => (received += chunk.toString()));
        await this.waitForListener(namespace, port, { protocol: "udp" });
        return { received: () => received };
    }

    /** Sends one datagram and returns at once (no answer expected). */
    async sendUdp(from: Namespace, address: string, port: number, payload: string, options: Pick<ProbeOptions, "sourceAddress"> = {}): Promise<void> {
        const bind = options.sourceAddress ? `,bind=${options.sourceAddress}` : "";
        await this.execChecked(from, ["socat", "-u", "STDIN", `UDP4-SENDTO:${address}:${port}${bind}`], { input: payload });
    }

    /** Connects and reads the banner; a reset is "refused", an ICMP error "unreachable". */
    async probeTcp(from: Namespace, address: string, port: number, options: ProbeOptions = {}): Promise<ProbeOutcome> {
        const seconds = (options.timeoutMs ?? 1500) / 1000;
        const bind = options.sourceAddress ? `,bind=${options.sourceAddress}` : "";
        const result = await this.exec(from, ["socat", `-T${seconds}`, "-u", `TCP4:${address}:${port},connect-timeout=${seconds}${bind}`, "STDOUT"], {
            timeoutMs: (seconds + 2) * 1000,
        });
        return classifyProbe(result, "tcp");
    }

    /** Sends one datagram and waits for an answer; silence is "timeout". */
    async probeUdp(from: Namespace, address: string, port: number, options: ProbeOptions = {}): Promise<ProbeOutcome> {
        const seconds = (options.timeoutMs ?? 1500) / 1000;
        const bind = options.sourceAddress ? `,bind=${options.sourceAddress}` : "";
        const result = await this.exec(from, ["socat", `-T${seconds}`, `-t${seconds}`, "STDIO", `UDP4:${address}:${port}${bind}`], {
            input: "probe\n",
            timeoutMs: (seconds + 2) * 1000,
        });
        return classifyProbe(result, "udp");
    }

    async ping(from: Namespace, address: string, timeoutSeconds = 1): Promise<boolean> {
        const result = await this.exec(from, ["ping", "-n", "-q", "-c", "1", "-W", String(timeoutSeconds), address], {
            timeoutMs: (timeoutSeconds + 2) * 1000,
        });
        return result.code === 0;
    }

    /**
     * Kills every process in this lab's namespaces, deletes the namespaces, stale WireGuard sockets
     * and the work directory. Synchronous so it can run from an exit handler; safe to call twice.
     */
    teardown(): void {
        if (this.tornDown) return;
        this.tornDown = true;
        liveLabs.delete(this);
        const namespaceNames = this.namespaces.map((n) => n.netns);
        const pidsInLab = () =>
            namespaceNames.flatMap((netns) =>
                (spawnSync("ip", ["netns", "pids", netns], { encoding: "utf8" }).stdout ?? "").split("\n").filter(Boolean).map(Number),
            );
        const signalAll = (signal: NodeJS.Signals) => {
            for (const child of this.processes) if (child.pid !== undefined && child.exitCode === null) signalGroup(child.pid, signal);
            for (const pid of pidsInLab()) signalPid(pid, signal);
        };
        signalAll("SIGTERM");
        for (let waited = 0; pidsInLab().length > 0 && waited < 2000; waited += 50) sleepSync(50);
        signalAll("SIGKILL");
        for (let waited = 0; pidsInLab().length > 0 && waited < 2000; waited += 50) sleepSync(50);
        for (const device of this.deviceNames) rmSync(join(runtimeSocketDir, `${device}.sock`), { force: true });
        for (const netns of namespaceNames) spawnSync("ip", ["netns", "del", netns]);
        rmSync(this.workDir, { recursive: true, force: true });
    }

    private newDeviceName(): string {
        // IFNAMSIZ allows 15 characters: "hk" + pid (up to 7 digits) + "w" + counter.
        const name = `hk${process.pid}w${deviceCounter++}`;
        if (name.length > 15) throw new Error(`WireGuard device name ${name} is longer than 15 characters`);
        if (existsSync(join(runtimeSocketDir, `${name}.sock`))) throw new Error(`WireGuard device ${name} already exists on this host`);
        this.deviceNames.add(name);
        return name;
    }

    /** Starts a long-running process in the namespace, in its own process group (forks die with it). */
    private spawnIn(namespace: Namespace, argv: string[], stdout: "ignore" | "pipe" = "ignore"): ChildProcess {
        if (this.tornDown) throw new Error("lab is torn down");
        const child = spawn("ip", ["netns", "exec", namespace.netns, ...argv], { detached: true, stdio: ["ignore", stdout, "pipe"] });
        this.processes.add(child);
        // Drained so a chatty process never blocks on a full pipe; the tail explains failures.
        child.stderr?.on("data", (chunk: Buffer) => this.stderrTails.set(child, ((this.stderrTails.get(child) ?? "") + chunk.toString()).slice(-2000)));
        child.on("exit", () => this.processes.delete(child));
        child.on("error", () => this.processes.delete(child));
        return child;
    }

    private async stopProcess(child: ChildProcess): Promise<void> {
        if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
        const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
        signalGroup(child.pid, "SIGTERM");
        const timer = setTimeout(() => child.pid !== undefined && signalGroup(child.pid, "SIGKILL"), 3000);
        await exited;
        clearTimeout(timer);
    }
}

export interface VethEnd {
    namespace: Namespace;
    ifname: string;
    addresses?: string[];
    bridge?: string;
}

export interface UdpSink {
    /** Everything received so far, datagrams concatenated. */
    received(): string;
}

export interface ProbeOptions {
    timeoutMs?: number;
    /** Source address to bind (it must be assigned in the probing namespace). */
    sourceAddress?: string;
}
