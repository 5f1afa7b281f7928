// Checks on real traffic and state, recorded per scenario; the last line of a run counts them.
import { sleep } from "../test/net/netns";
import { Machine } from "./machine";

export interface CheckResult {
    scenario: string;
    name: string;
    ok: boolean;
    detail: string;
}

export class CheckLog {
    readonly results: CheckResult[] = [];
    scenario = "";

    constructor(private readonly log: (line: string) => void) {}

    /** Runs a probe: it returns a detail on success and throws on failure. */
    async check(name: string, probe: () => Promise<string | void>): Promise<boolean> {
        let result: CheckResult;
        try {
            result = { scenario: this.scenario, name, ok: true, detail: (await probe()) ?? "" };
        } catch (error) {
            result = { scenario: this.scenario, name, ok: false, detail: error instanceof Error ? error.message : String(error) };
        }
        this.results.push(result);
        this.log(`  ${result.ok ? "PASS" : "FAIL"} ${name}${result.detail ? `: ${result.detail}` : ""}`);
        return result.ok;
    }

    passed(scenario?: string): number {
        return this.results.filter((r) => r.ok && (scenario === undefined || r.scenario === scenario)).length;
    }

    count(scenario?: string): number {
        return this.results.filter((r) => scenario === undefined || r.scenario === scenario).length;
    }
}

/** Fails with the list of what failed (each a short line), or returns a summary. */
export function allOf(what: string, failures: string[], total: number): string {
    if (failures.length > 0)
        throw new Error(`${failures.length}/${total} ${what} failed: ${failures.slice(0, 8).join("; ")}${failures.length > 8 ? "; ..." : ""}`);
    return `${total} ${what}`;
}

/** Retries a probe until it holds or the time is up; returns the seconds it took. */
export async function waitUntil(what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<number> {
    const started = Date.now();
    while (!(await probe())) {
        if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
        await sleep(500);
    }
    return (Date.now() - started) / 1000;
}

/** Retries a check that throws until it passes or the time is up (the last failure is the answer). */
export async function eventually(check: () => Promise<string>, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        try {
            return await check();
        } catch (error) {
            if (Date.now() > deadline) throw error;
            await sleep(1000);
        }
    }
}

// Probes run at the machine's console (nsenter), so they see what the host itself sees.

export async function pings(machine: Machine, address: string): Promise<boolean> {
    return (await machine.exec(["ping", "-c", "1", "-W", "2", address], { timeoutMs: 5000 })).code === 0;
}

export async function tcpOpen(machine: Machine, address: string, port: number): Promise<boolean> {
    return (await machine.exec(["nc", "-z", "-w", "3", address, String(port)], { timeoutMs: 6000 })).code === 0;
}

export async function unitActive(machine: Machine, unit: string): Promise<boolean> {
    return (await machine.exec(["systemctl", "is-active", "--quiet", unit])).code === 0;
}

/** The unit's last journal lines, for failure details. */
export async function unitJournal(machine: Machine, unit: string, lines = 3): Promise<string> {
    const out = (await machine.exec(["journalctl", "-u", unit, "-n", String(lines), "--no-pager", "-o", "cat"])).stdout.trim();
    return out.split("\n").join(" | ");
}

/** When a unit last became active (monotonic µs; 0 = never), and how often systemd restarted it. */
export async function unitStarts(machine: Machine, unit: string): Promise<{ activeSince: number; restarts: number }> {
    const out = (await machine.exec(["systemctl", "show", "-p", "ActiveEnterTimestampMonotonic", "-p", "NRestarts", unit])).stdout;
    const value = (key: string) => Number(new RegExp(`^${key}=(\\d+)`, "m").exec(out)?.[1] ?? 0);
    return { activeSince: value("ActiveEnterTimestampMonotonic"), restarts: value("NRestarts") };
}
