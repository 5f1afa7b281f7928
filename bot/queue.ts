// One operation per stack at a time: Pulumi would refuse a second update anyway (ConcurrentUpdateError),
// and two previews racing an update describe a state that is about to change. Jobs on one stack run
// in arrival order; different stacks run side by side.

/** A job that was dropped from the queue (`/k3s cancel`) before it started. */
export class DroppedFromQueue extends Error {
    override readonly name = "DroppedFromQueue";
}

interface Entry {
    label: string;
    run: () => Promise<void>;
    drop: () => void;
}

export interface Enqueued<T> {
    /** 0: running now; n: n operations run before this one. */
    position: number;
    /** What runs or waits before this one, first the running one. */
    ahead: string[];
    done: Promise<T>;
}

export class StackQueue {
    private readonly lines = new Map<string, Entry[]>();

    enqueue<T>(stack: string, label: string, job: () => Promise<T>): Enqueued<T> {
        const line = this.lines.get(stack) ?? [];
        this.lines.set(stack, line);
        const ahead = line.map((entry) => entry.label);
        let entry!: Entry;
        const done = new Promise<T>((resolve, reject) => {
            entry = { label, run: () => job().then(resolve, reject), drop: () => reject(new DroppedFromQueue(`${label} was cancelled before it started.`)) };
        });
        line.push(entry);
        if (line.length === 1) {
            void this.drain(stack, line);
        }
        return { position: ahead.length, ahead, done };
    }

    /** Labels of the running job and the waiting ones on `stack`, in order. */
    labels(stack: string): string[] {
        return (this.lines.get(stack) ?? []).map((entry) => entry.label);
    }

    /** Drops the waiting jobs (not the running one); returns their labels. */
    dropWaiting(stack: string): string[] {
        const line = this.lines.get(stack) ?? [];
        const waiting = line.splice(1);
        waiting.forEach((entry) => entry.drop());
        return waiting.map((entry) => entry.label);
    }

    private async drain(stack: string, line: Entry[]): Promise<void> {
        while (line.length > 0) {
            await line[0].run();
            line.shift();
        }
        this.lines.delete(stack);
    }
}
