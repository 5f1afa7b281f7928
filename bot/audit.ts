// The audit log: one JSON object per line, appended, never rewritten. Every command and decision
// lands here, refusals included, with who, where, what, on which stack and plan, and how it ended.
import * as fs from "node:fs";

export interface AuditEntry {
    user: string;
    channel: string;
    /** The command as parsed (`up`, `approve`, ...), or the raw verb of a refused one. */
    command: string;
    stack?: string;
    /** sha256 of the saved plan an approval is bound to. */
    planHash?: string;
    /** queued, previewed, awaiting-approval, approved, succeeded, failed, cancelled, expired, refused. */
    result: string;
    /** A short reason; only the bot's own wording, never CLI output. */
    detail?: string;
}

export class AuditLog {
    private readonly fd: number;

    /** Opens (creating, 0600) for append at start, so a bad path fails the start, not the first command. */
    constructor(
        readonly file: string,
        private readonly scrub: (text: string) => string,
    ) {
        try {
            this.fd = fs.openSync(file, "a", 0o600);
        } catch (err) {
            throw new Error(
                `BOT_AUDIT_LOG: cannot open ${file} for appending (${(err as NodeJS.ErrnoException).code ?? String(err)}); point it at a writable file.`,
            );
        }
    }

    write(entry: AuditEntry): void {
        // O_APPEND: each line lands whole at the end, whatever else appends to the file.
        fs.writeSync(this.fd, this.scrub(JSON.stringify({ time: new Date().toISOString(), ...entry })) + "\n");
    }

    close(): void {
        fs.closeSync(this.fd);
    }
}
