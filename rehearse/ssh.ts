// Pulumi's side of SSH, done with the real OpenSSH client from the pulumi runner's namespace: one
// ssh_config and known_hosts per run, the plan's private keys as identity files, ProxyJump through
// the hub where the connection has a proxy, and dial retries as @pulumi/command makes them.
import { createHash } from "node:crypto";
import { ChildProcess, spawn } from "node:child_process";
import { appendFileSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sleep } from "../test/net/netns";
import { run, RunResult } from "./shell";

/** The parts of a `command:remote:Command` connection we use. */
export interface SshConnection {
    host: string;
    port?: number;
    user: string;
    privateKey: string;
    hostKey?: string;
    dialErrorLimit?: number;
    proxy?: Omit<SshConnection, "proxy">;
}

/** ssh exits 255 when it could not connect or authenticate (the remote command's own codes are 0-254). */
const sshFailure = 255;

export class SshClient {
    private readonly dir: string;
    private readonly configFile: string;
    private readonly knownHostsFile: string;
    private readonly identities = new Map<string, string>();
    private readonly hostBlocks = new Map<string, string>();

    constructor(
        workDir: string,
        private readonly runnerNetns: string,
    ) {
        this.dir = join(workDir, "ssh");
        mkdirSync(this.dir, { recursive: true, mode: 0o700 });
        this.configFile = join(this.dir, "config");
        this.knownHostsFile = join(this.dir, "known_hosts");
        writeFileSync(this.knownHostsFile, "", { mode: 0o600 });
        this.writeConfig();
    }

    /** Runs a script remotely (stdin passed through); connection failures are retried like the provider's dials. */
    async run(connection: SshConnection, script: string, stdin: string | undefined, timeoutMs = 600000): Promise<RunResult> {
        const argv = this.argv(connection, script);
        const attempts = Math.min(connection.dialErrorLimit ?? 10, 30);
        let result: RunResult = { code: sshFailure, stdout: "", stderr: "" };
        for (let attempt = 1; attempt <= attempts; attempt++) {
            result = await run(argv[0], argv.slice(1), { input: stdin, allowFailure: true, timeoutMs });
            if (result.code !== sshFailure || !/connect|timed out|refused|unreachable|Connection closed|banner/i.test(result.stderr)) return result;
            await sleep(2000);
        }
        return result;
    }

    /** A long-lived session (e.g. a shell held open across an update); the caller stops it. */
    open(connection: SshConnection, script: string): ChildProcess {
        const argv = this.argv(connection, script);
        return spawn(argv[0], argv.slice(1), { stdio: ["pipe", "pipe", "pipe"] });
    }

    private argv(connection: SshConnection, script: string): string[] {
        this.trust(connection);
        const jump = connection.proxy ? ["-J", `${connection.proxy.user}@${connection.proxy.host}:${connection.proxy.port ?? 22}`] : [];
        return [
            "ip",
            "netns",
            "exec",
            this.runnerNetns,
            "ssh",
            "-F",
            this.configFile,
            "-i",
            this.identity(connection.privateKey),
            "-p",
            String(connection.port ?? 22),
            "-l",
            connection.user,
            ...jump,
            connection.host,
            "--",
            script,
        ];
    }

    /** Pins the connection's host keys, as the program's connections do (a connection without one is a defect). */
    private trust(connection: SshConnection): void {
        for (const target of [connection, ...(connection.proxy ? [connection.proxy] : [])]) {
            if (this.hostBlocks.has(target.host)) continue;
            if (!target.hostKey) throw new Error(`the plan pins no host key for ${target.host}: every connection must set hostKey`);
            appendFileSync(this.knownHostsFile, `${target.host} ${target.hostKey.trim().split(/\s+/).slice(0, 2).join(" ")}\n`);
            const lines = [`Host ${target.host}`, `    IdentityFile ${this.identity(target.privateKey)}`, "    StrictHostKeyChecking yes"];
            this.hostBlocks.set(target.host, lines.join("\n"));
            this.writeConfig();
        }
    }

    private identity(privateKey: string): string {
        const digest = createHash("sha256").update(privateKey).digest("hex").slice(0, 16);
        let file = this.identities.get(digest);
        if (!file) {
            file = join(this.dir, `id-${digest}`);
            writeFileSync(file, privateKey.endsWith("\n") ? privateKey : `${privateKey}\n`, { mode: 0o600 });
            this.identities.set(digest, file);
        }
        return file;
    }

    /** Host blocks first: ssh takes the first value it finds for each option. Atomic: running ssh processes read it. */
    private writeConfig(): void {
        writeFileSync(
            `${this.configFile}.new`,
            [
                ...this.hostBlocks.values(),
                [
                    "Host *",
                    "    BatchMode yes",
                    `    UserKnownHostsFile ${this.knownHostsFile}`,
                    "    StrictHostKeyChecking yes",
                    "    IdentitiesOnly yes",
                    "    ConnectTimeout 15",
                    "    ServerAliveInterval 5",
                    "    ServerAliveCountMax 6",
                    "    LogLevel ERROR",
                ].join("\n"),
                "",
            ].join("\n"),
            { mode: 0o600 },
        );
        renameSync(`${this.configFile}.new`, this.configFile);
    }
}
