// What a scenario expects of an up: which steps run, in which rolling order, and that an SSH
// session riding the mesh is not cut.
import { ChildProcess } from "node:child_process";
import { sleep } from "../test/net/netns";
import { StepRun } from "./executor";
import { PlannedHost, Rehearsal } from "./rehearsal";
import { SshConnection } from "./ssh";
import { Step } from "../plan/steps";

/** Every step that is not `same` must be allowed; the detail lists them. */
export function onlySteps(steps: Step[], allowed: (s: Step) => boolean): string {
    const changed = steps.filter((s) => s.op !== "same");
    const unexpected = changed.filter((s) => !allowed(s)).map((s) => `${s.op} ${s.name}`);
    if (unexpected.length > 0) throw new Error(`unexpected step(s): ${unexpected.join(", ")}`);
    return changed.length === 0 ? "0 steps" : `${changed.length} step(s): ${changed.map((s) => `${s.op} ${s.name}`).join(", ")}`;
}

/**
 * From the timeline of an upgrade: each node's window runs from its drain's start to its uncordon's
 * end. Servers' windows must not overlap, all must end before any agent's starts, and no more than
 * `batch` agents may be in their window at once.
 */
export function rollingOrder(runs: StepRun[], hosts: PlannedHost[], batch: number): string {
    const windows = hosts
        .filter((h) => h.roles.includes("server") || h.roles.includes("agent"))
        .map((h) => {
            const mine = runs.filter((r) => new RegExp(`^${h.name}-k3s-(drain|upgrade|uncordon)$`).test(r.step.name));
            if (mine.length !== 3) throw new Error(`${h.name}: ${mine.length} of 3 upgrade steps ran`);
            return { host: h, start: Math.min(...mine.map((r) => r.start)), end: Math.max(...mine.map((r) => r.end)) };
        });
    const servers = windows.filter((w) => w.host.roles.includes("server")).sort((a, b) => a.start - b.start);
    const agents = windows.filter((w) => !w.host.roles.includes("server"));
    servers.slice(1).forEach((w, i) => {
        if (w.start < servers[i].end) throw new Error(`servers ${servers[i].host.name} and ${w.host.name} upgraded at the same time`);
    });
    const serversDone = Math.max(0, ...servers.map((w) => w.end));
    const early = agents.filter((w) => w.start < serversDone).map((w) => w.host.name);
    if (early.length > 0) throw new Error(`agents started before the servers were done: ${early.join(", ")}`);
    const most = Math.max(0, ...agents.map((w) => agents.filter((o) => o.start < w.end && w.start < o.end).length));
    if (most > batch) throw new Error(`${most} agents upgraded at once (batch size ${batch})`);
    return `${servers.length} server(s) one by one, ${agents.length} agents, at most ${most} at once`;
}

/** A shell over SSH printing a tick every second; stillAlive() proves it kept going. */
export function holdSession(r: Rehearsal, connection: SshConnection): { stillAlive: () => Promise<string> } {
    const child: ChildProcess = r.ssh.open(connection, "while :; do echo tick; sleep 1; done");
    let ticks = 0;
    child.stdout!.on("data", (chunk: Buffer) => (ticks += chunk.toString().split("tick").length - 1));
    let stderr = "";
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    return {
        stillAlive: async () => {
            const seen = ticks;
            await sleep(3000);
            const alive = child.exitCode === null && child.signalCode === null && ticks > seen;
            child.kill("SIGTERM");
            if (!alive) throw new Error(`the session ended or stalled after ${ticks} ticks: ${stderr.trim()}`);
            return `${ticks} ticks, still ticking`;
        },
    };
}
