// One booted Debian machine: an overlay root on the cached base image, booted by systemd-nspawn
// (systemd as PID 1) inside a network namespace the lab made. The owner's console is nsenter;
// Pulumi reaches it only over SSH.
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { isAlive, sleep } from "../test/net/netns";
import { run, RunResult } from "./shell";

/** Every run's machines live under here, in a folder named after the run (hk3s-<pid>-...). */
export const machinesRoot = "/var/tmp/hk3s-rehearsal";

export class Machine {
    readonly dir: string;
    readonly root: string;
    private nspawn?: ChildProcess;
    private leaderPid?: number;
    private mounted = false;

    constructor(
        readonly name: string,
        private readonly runPrefix: string,
        private readonly netns: string,
        private readonly baseImage: string,
    ) {
        this.dir = join(machinesRoot, runPrefix, name);
        this.root = join(this.dir, "merged");
    }

    /** Mounts the overlay (or, where overlayfs is refused, copies the base with reflinks where possible). */
    async createRoot(): Promise<void> {
        for (const sub of ["upper", "work", "merged"]) mkdirSync(join(this.dir, sub), { recursive: true });
        const overlay = await run(
            "mount",
            ["-t", "overlay", "overlay", "-o", `lowerdir=${this.baseImage},upperdir=${join(this.dir, "upper")},workdir=${join(this.dir, "work")}`, this.root],
            { allowFailure: true },
        );
        if (overlay.code === 0) this.mounted = true;
        else await run("cp", ["-a", "--reflink=auto", `${this.baseImage}/.`, this.root]);
    }

    get booted(): boolean {
        return this.leaderPid !== undefined;
    }

    /** Boots systemd and waits until it reports running (or degraded, reported by the checks). */
    async boot(): Promise<void> {
        const log = openSync(join(this.dir, "console.log"), "a");
        // Each machine in a cgroup of its own: nspawn puts the container under its caller's cgroup, so
        // machines started from one process would share one tree and their systemds would race on it
        // (units failing with 219/CGROUP when two machines start the same unit at once).
        const cgroups = this.cgroupDirs();
        const enter = cgroups.map((dir) => `mkdir -p ${dir} && echo $$ > ${dir}/cgroup.procs`).join(" && ");
        this.nspawn = spawn(
            "sh",
            [
                "-c",
                `${enter || "true"} && exec "$0" "$@"`,
                "systemd-nspawn",
                "-D",
                this.root,
                "--register=no",
                "--keep-unit",
                `--network-namespace-path=/run/netns/${this.netns}`,
                // --private-network would grant it; a network namespace we made ourselves does not (wg-quick needs it).
                "--capability=CAP_NET_ADMIN",
                // A real host's systemd has a hard open-files limit of 2^20 (k3s's unit and haproxy raise theirs);
                // nspawn would pass down ours.
                "--rlimit=RLIMIT_NOFILE=1024:1048576",
                `--machine=${this.runPrefix}-${this.name}`.slice(0, 64),
                `--hostname=${this.name}`,
                "--console=read-only",
                "-b",
            ],
            {
                stdio: ["ignore", log, log],
                detached: true,
                // Likewise /proc/sys/net is writable only for nspawn's own private network (the hub's PostUp sets ip_forward).
                env: { ...process.env, SYSTEMD_NSPAWN_API_VFS_WRITABLE: "network" },
            },
        );
        closeSync(log);
        const nspawn = this.nspawn;
        for (let waited = 0; this.leaderPid === undefined; waited += 50) {
            if (nspawn.exitCode !== null || waited > 15000) throw new Error(`${this.name}: systemd-nspawn did not start: ${this.consoleTail()}`);
            this.leaderPid = containerInit(nspawn.pid!);
            if (this.leaderPid === undefined) await sleep(50);
        }
        // Until PID 1 has exec'd systemd and opened its bus, systemctl says "offline": ask again.
        let state = "";
        for (let waited = 0; waited < 90000; waited += 250) {
            state = (await this.exec(["systemctl", "is-system-running", "--wait"], { timeoutMs: 90000 })).stdout.trim();
            if (state !== "offline" && state !== "") break;
            await sleep(250);
        }
        if (!/running|degraded/.test(state)) throw new Error(`${this.name}: systemd did not finish booting (${state}): ${this.consoleTail()}`);
    }

    /** This machine's cgroup in each hierarchy systemd uses (hybrid: name=systemd and the unified one). */
    private cgroupDirs(): string[] {
        return cgroupHierarchies().map((root) => join(root, `${this.runPrefix}-${this.name}`));
    }

    /** Runs a command on the machine as its owner at the console would (root, no SSH). */
    exec(argv: string[], options: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
        if (this.leaderPid === undefined) throw new Error(`${this.name} is not running`);
        return run("nsenter", ["-t", String(this.leaderPid), "-a", ...argv], {
            allowFailure: true,
            timeoutMs: options.timeoutMs ?? 60000,
            input: options.input,
        });
    }

    /** Pulls the plug: PID 1 dies with everything in the machine, nothing is shut down cleanly. */
    async powerOff(): Promise<void> {
        const nspawn = this.nspawn;
        if (this.leaderPid !== undefined) signal(this.leaderPid, "SIGKILL");
        this.leaderPid = undefined;
        for (let waited = 0; nspawn && nspawn.exitCode === null && nspawn.signalCode === null && waited < 10000; waited += 50) await sleep(50);
        this.nspawn = undefined;
    }

    /** Synchronous, for exit handlers: stop the machine and remove its root. */
    destroy(): void {
        if (this.leaderPid !== undefined) signal(this.leaderPid, "SIGKILL");
        if (this.nspawn?.pid !== undefined) signal(this.nspawn.pid, "SIGKILL");
        this.leaderPid = undefined;
        for (const dir of this.cgroupDirs()) removeCgroup(dir);
        if (this.mounted) spawnSync("umount", ["-l", this.root]);
        this.mounted = false;
        rmSync(this.dir, { recursive: true, force: true });
    }

    consoleTail(): string {
        const file = join(this.dir, "console.log");
        return existsSync(file)
            ? readFileSync(file, "utf8")
                  // eslint-disable-next-line no-control-regex -- strips terminal escape codes
                  .replace(/\x1b\[[0-9;]*m/g, "")
                  .split("\n")
                  .slice(-15)
                  .join("\n")
            : "";
    }
}

/** The unified hierarchy alone, or (hybrid setups) systemd's named one and the unified one. */
function cgroupHierarchies(): string[] {
    if (existsSync("/sys/fs/cgroup/cgroup.procs")) return ["/sys/fs/cgroup"];
    return ["/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"].filter((dir) => existsSync(join(dir, "cgroup.procs")));
}

/** Removes an empty cgroup tree, deepest first (its processes must be gone). */
function removeCgroup(dir: string): void {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) removeCgroup(join(dir, entry.name));
    // The last processes may take a moment to leave it.
    for (let waited = 0; waited < 1000; waited += 50) {
        try {
            rmdirSync(dir);
            return;
        } catch {
            sleepSync(50);
        }
    }
}

function sleepSync(ms: number): void {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** The child of systemd-nspawn that is PID 1 in its own PID namespace (nspawn forks helpers too). */
function containerInit(nspawnPid: number): number | undefined {
    const children = spawnSync("ps", ["-o", "pid=", "--ppid", String(nspawnPid)], { encoding: "utf8" })
        .stdout.split("\n")
        .filter((l) => l.trim());
    return children.map(Number).find((pid) => {
        try {
            const ids =
                /^NSpid:\s+(.*)$/m
                    .exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]
                    .trim()
                    .split(/\s+/) ?? [];
            return ids.length > 1 && ids[ids.length - 1] === "1";
        } catch {
            return false;
        }
    });
}

function signal(pid: number, name: NodeJS.Signals): void {
    try {
        process.kill(pid, name);
    } catch {
        // already gone
    }
}

/** A crashed earlier run cannot clean up: stop its machines and remove their roots (live runs are left alone). */
export function reapDeadMachines(): void {
    if (!existsSync(machinesRoot)) return;
    const mounts = readFileSync("/proc/self/mounts", "utf8")
        .split("\n")
        .map((line) => line.split(" ")[1])
        .filter(Boolean);
    for (const run of readdirSync(machinesRoot)) {
        const owner = /^hk3s-(\d+)-/.exec(run)?.[1];
        if (owner === undefined || isAlive(Number(owner))) continue;
        const dir = join(machinesRoot, run);
        nspawnPidsUnder(dir).forEach((pid) => signal(pid, "SIGKILL"));
        for (const mount of mounts
            .filter((m) => m.startsWith(`${dir}/`))
            .sort()
            .reverse())
            spawnSync("umount", ["-l", mount]);
        rmSync(dir, { recursive: true, force: true });
    }
    for (const root of cgroupHierarchies()) {
        for (const entry of readdirSync(root)) {
            const owner = /^hk3s-(\d+)-/.exec(entry)?.[1];
            if (owner !== undefined && !isAlive(Number(owner))) removeCgroup(join(root, entry));
        }
    }
    for (const propagate of existsSync("/run/systemd/nspawn/propagate") ? readdirSync("/run/systemd/nspawn/propagate") : []) {
        const owner = /^hk3s-(\d+)-/.exec(propagate)?.[1];
        if (owner !== undefined && !isAlive(Number(owner))) rmSync(join("/run/systemd/nspawn/propagate", propagate), { recursive: true, force: true });
    }
}

/** systemd-nspawn processes booting a root under dir, found by their command line. */
function nspawnPidsUnder(dir: string): number[] {
    return readdirSync("/proc")
        .filter((entry) => /^\d+$/.test(entry))
        .filter((pid) => {
            try {
                const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
                return argv[0].endsWith("systemd-nspawn") && argv.some((arg) => arg.startsWith(`${dir}/`));
            } catch {
                return false;
            }
        })
        .map(Number);
}
