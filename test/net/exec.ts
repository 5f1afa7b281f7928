// Running the harness's tools: which Debian package has each, root, a child process run to its end,
// and how a probe's result reads (open, refused, unreachable, timeout).
import { spawn } from "child_process";
import { accessSync, constants } from "fs";
import { join } from "path";

/** The commands the harness runs, with the Debian package that provides each. */
export const toolPackages = {
    ip: "iproute2",
    ss: "iproute2",
    nft: "nftables",
    wg: "wireguard-tools",
    "wg-quick": "wireguard-tools",
    "wireguard-go": "wireguard-go",
    socat: "socat",
    ping: "iputils-ping",
    haproxy: "haproxy",
    nginx: "nginx-light",
} as const;
export type ToolName = keyof typeof toolPackages;

/** Throws (never skips) naming the Debian packages to install when a tool is missing. */
export function requireTools(names: ToolName[]): void {
    const searchPath = [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/sbin", "/usr/bin", "/bin"].filter(Boolean);
    const missing = names.filter((name) => !searchPath.some((dir) => isExecutable(join(dir, name))));
    if (missing.length > 0) {
        const packages = [...new Set(missing.map((name) => toolPackages[name]))];
        throw new Error(`missing ${missing.join(", ")}: install with \`apt-get install ${packages.join(" ")}\``);
    }
}

export function requireRoot(what: string): void {
    if (process.getuid?.() !== 0) {
        throw new Error(`${what} needs root (it creates network namespaces and WireGuard interfaces): run it as root, e.g. sudo npx mocha ...`);
    }
}

function isExecutable(path: string): boolean {
    try {
        accessSync(path, constants.X_OK);
        return true;
    } catch {
        return false;
    }
}

export interface ExecResult {
    code: number | null;
    stdout: string;
    stderr: string;
}

/** Runs argv to completion; a timeout kills it (code null). Never throws for a non-zero exit. */
export function run(argv: string[], options: { input?: string; timeoutMs?: number } = {}): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
        const child = spawn(argv[0], argv.slice(1), { stdio: ["pipe", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
        child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
        const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => child.kill("SIGKILL"), options.timeoutMs);
        child.on("error", reject);
        child.on("close", (code) => {
            if (timer) clearTimeout(timer);
            resolve({ code, stdout, stderr });
        });
        child.stdin.on("error", () => undefined);
        child.stdin.end(options.input ?? "");
    });
}

export async function runChecked(argv: string[], options: { input?: string; timeoutMs?: number } = {}): Promise<string> {
    const result = await run(argv, { timeoutMs: 15000, ...options });
    if (result.code !== 0) {
        throw new Error(`\`${argv.join(" ")}\` exited ${result.code ?? "on timeout"}: ${(result.stderr || result.stdout).trim()}`);
    }
    return result.stdout;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function sleepSync(ms: number): void {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export type ProbeState = "open" | "refused" | "unreachable" | "timeout" | "error";

export interface ProbeOutcome {
    state: ProbeState;
    /** The listener's banner for open probes, the tool's message otherwise. */
    detail: string;
}

export function checkBanner(banner: string): void {
    // socat splits addresses on ":" and ",", and the banner goes through sh.
    if (!/^[A-Za-z0-9._/-]+$/.test(banner)) throw new Error(`banner "${banner}" must be letters, digits or ._/-`);
}

export function classifyProbe(result: ExecResult, protocol: "tcp" | "udp"): ProbeOutcome {
    const message = result.stderr.trim().split("\n").pop() ?? "";
    if (result.stdout.trim() !== "") return { state: "open", detail: result.stdout.trim() };
    if (/Connection refused/i.test(message)) return { state: "refused", detail: "refused" };
    if (/No route to host|Host is unreachable|Network is unreachable|Permission denied|Operation not permitted/i.test(message)) {
        return { state: "unreachable", detail: message.replace(/^.*: /, "").toLowerCase() };
    }
    if (result.code === 0) return protocol === "tcp" ? { state: "open", detail: "(no banner)" } : { state: "timeout", detail: "no answer" };
    if (result.code === null || /timed out|Operation now in progress/i.test(message)) return { state: "timeout", detail: "no answer" };
    return { state: "error", detail: message || `exit ${result.code}` };
}
