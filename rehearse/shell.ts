// Running programs: one place for "run, collect output, fail with its stderr".
import { spawn } from "node:child_process";

export interface RunResult {
    code: number;
    stdout: string;
    stderr: string;
}

export interface RunOptions {
    input?: string;
    /** Resolve with the exit code instead of throwing when the program fails. */
    allowFailure?: boolean;
    timeoutMs?: number;
}

export function run(program: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
    return new Promise((resolve, reject) => {
        const child = spawn(program, args, { stdio: ["pipe", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (chunk) => (stdout += chunk));
        child.stderr.on("data", (chunk) => (stderr += chunk));
        const timer = options.timeoutMs ? setTimeout(() => child.kill("SIGKILL"), options.timeoutMs) : undefined;
        child.on("error", reject);
        child.on("close", (code, signal) => {
            if (timer) clearTimeout(timer);
            const result = { code: code ?? (signal ? 128 : 1), stdout, stderr };
            if (result.code !== 0 && !options.allowFailure) {
                reject(new Error(`${program} ${args.join(" ")} exited ${result.code}${signal ? ` (${signal})` : ""}: ${stderr.trim() || stdout.trim()}`));
            } else resolve(result);
        });
        child.stdin.on("error", () => undefined);
        child.stdin.end(options.input ?? "");
    });
}
