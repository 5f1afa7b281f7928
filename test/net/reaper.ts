// The lab's safety net: exit and signal hooks that tear live labs down, the reaper of labs whose test process died, and process signalling.
import { spawnSync } from "child_process";
import { existsSync, readdirSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";

export const runtimeSocketDir = "/var/run/wireguard";
/** Labs not yet torn down: teardown() runs on each at exit and on SIGINT/SIGTERM. */
export const liveLabs = new Set<{ teardown(): void }>();
let exitHooksInstalled = false;

export function installExitHooks(): void {
    if (exitHooksInstalled) return;
    exitHooksInstalled = true;
    const teardownAll = () => [...liveLabs].forEach((lab) => lab.teardown());
    process.on("exit", teardownAll);
    // `on`, not `once`: Ctrl-C under mocha delivers SIGINT twice (and then SIGTERM), and a second
    // signal without a handler would kill the process halfway through the teardown.
    let stopping = false;
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
        process.on(signal, () => {
            if (stopping) return;
            stopping = true;
            teardownAll();
            process.exit(128 + (signal === "SIGINT" ? 2 : 15));
        });
    }
}

/**
 * A test run killed with SIGKILL cannot clean up: remove namespaces (and the processes in them)
 * whose owning test process is gone. Live runs, including concurrent ones, are never touched.
 */
export function reapDeadLabs(): void {
    const listed = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout ?? "";
    for (const netns of listed.split("\n").map((line) => line.split(" ")[0])) {
        const owner = /^hk3s-(\d+)-/.exec(netns)?.[1];
        if (owner === undefined || isAlive(Number(owner))) continue;
        const pids = (spawnSync("ip", ["netns", "pids", netns], { encoding: "utf8" }).stdout ?? "").split("\n").filter(Boolean).map(Number);
        pids.forEach((pid) => signalPid(pid, "SIGKILL"));
        spawnSync("ip", ["netns", "del", netns]);
    }
    const deadOwner = (name: string, pattern: RegExp) => {
        const owner = pattern.exec(name)?.[1];
        return owner !== undefined && !isAlive(Number(owner));
    };
    if (existsSync(runtimeSocketDir)) {
        for (const socket of readdirSync(runtimeSocketDir)) {
            if (deadOwner(socket, /^hk(\d+)w\d+\.sock$/)) rmSync(join(runtimeSocketDir, socket), { force: true });
        }
    }
    for (const dir of readdirSync(tmpdir())) {
        if (deadOwner(dir, /^hk3s-(\d+)-/)) rmSync(join(tmpdir(), dir), { recursive: true, force: true });
    }
}

export function isAlive(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch (error) {
        return (error as NodeJS.ErrnoException).code === "EPERM";
    }
}

export function signalGroup(pid: number, signal: NodeJS.Signals): void {
    try {
        process.kill(-pid, signal);
    } catch {
        signalPid(pid, signal);
    }
}

export function signalPid(pid: number, signal: NodeJS.Signals): void {
    try {
        process.kill(pid, signal);
    } catch {
        // Already gone.
    }
}
