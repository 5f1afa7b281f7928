// The lifecycle operations, each rehearsed on the machines first-up built, in this order.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { kubeconfigForMesh } from "../components/render/k3s";
import { PlanResult } from "../plan/plan";
import { allOf, pings, unitStarts, waitUntil } from "./checks";
import { edgeUnitOf, healthChecks, unitsOf } from "./health";
import { PlannedHost, Rehearsal } from "./rehearsal";
import { Step } from "../plan/steps";
import { addNode, bumpPatchVersion, changeNode, newNatHost, withEnrollment } from "./derive";
import { holdSession, onlySteps, rollingOrder } from "./expect";

export interface Scenario {
    name: string;
    /** Runs on the freshly booted machines before the first up (what the hosts already do). */
    beforeFirstUp?: (r: Rehearsal) => Promise<string>;
    run: (r: Rehearsal) => Promise<void>;
}

export const scenarios: Scenario[] = [
    { name: "first-up", run: firstUp },
    { name: "idle", run: idle },
    { name: "hub-restart", run: hubRestart },
    { name: "reboot", run: reboot },
    { name: "upgrade", run: upgrade },
    { name: "add-node", run: addNatHost },
];

/**
 * The README's first up, from an empty stack: machines as their owners and clouds hand them over; a
 * first up with nothing enrolled; the owners run the bootstrap scripts and the runner joins the mesh
 * as its operator; then, everything enrolled, the second up runs every step.
 */
async function firstUp(r: Rehearsal): Promise<void> {
    const plan = await r.plan(withEnrollment(r.currentConfig, false));
    const hosts = r.hostsOf(plan);
    await r.checks.check("machines boot (systemd running, sshd up)", async () => {
        await Promise.all(hosts.map((h) => r.boot(h, plan)));
        return `${hosts.length} machines`;
    });
    for (const hook of r.beforeFirstUp) await r.checks.check("the hosts' life before the cluster is set up", () => hook(r));
    const unenrolled = await r.plan(withEnrollment(r.currentConfig, false));
    const first = await r.up("first up (nothing enrolled)", unenrolled);
    await r.checks.check("first up: every step succeeds, none on an existing host (not enrolled yet)", async () => {
        const existing = new Set(hosts.filter((h) => h.provider === "existing").map((h) => h.name));
        const wrong = first.result.runs.filter((run) => run.result === "failed" || existing.has(run.step.host ?? ""));
        return allOf(
            "steps",
            wrong.map((run) => `${run.step.name} on ${run.step.host}: ${run.result}`),
            first.result.runs.length,
        );
    });
    if (!first.result.ok) return;
    await r.checks.check("owners run the bootstrap scripts on existing hosts", async () =>
        runBootstraps(
            r,
            unenrolled,
            hosts.filter((h) => h.provider === "existing"),
        ),
    );
    await joinAsOperator(r, unenrolled);
    const enrolled = await r.plan(withEnrollment(r.currentConfig, true));
    const { result } = await r.up("second up (everything enrolled)", enrolled);
    await r.checks.check("second up: every step succeeds", async () => {
        const failed = result.runs.filter((run) => run.result === "failed").map((run) => `${run.step.name} on ${run.step.host}`);
        return allOf("steps", failed, result.runs.length);
    });
    if (!result.ok) return;
    await healthChecks(r, "first up", { operator: true });
    await r.checks.check("kubeconfig step's output works for operators (kubeconfigForMesh)", async () => {
        // With a cloud hub and a cloud server, k3s (and so the kubeconfig) comes up in the first up already.
        const run = [...first.result.runs, ...result.runs].find((s) => s.step.name.endsWith("-kubeconfig"));
        if (!run) throw new Error("no kubeconfig step ran");
        const server = r.hostsOf(enrolled).find((h) => h.roles.includes("server"))!;
        const config = kubeconfigForMesh(run.stdout, server.meshAddress, enrolled.spec.clusterName);
        return /server: https:\/\/[0-9.]+:6443/.exec(config)?.[0] ?? "";
    });
}

async function runBootstraps(r: Rehearsal, plan: PlanResult, owners: PlannedHost[]): Promise<string> {
    const scripts = plan.outputs.bootstrapScripts as Record<string, string>;
    const failures: string[] = [];
    await Promise.all(
        owners.map(async (h) => {
            const result = await r.lab.host(h.name).machine.exec(["sh", "-s"], { input: scripts[h.name], timeoutMs: 120000 });
            if (result.code !== 0) {
                const journal = await r.lab.host(h.name).machine.exec(["journalctl", "-n", "8", "--no-pager", "-o", "cat"]);
                failures.push(`${h.name}: ${result.stderr.trim().split("\n").pop()}\n${journal.stdout}`);
            }
        }),
    );
    return allOf("bootstrap scripts", failures, owners.length);
}

/** The pulumi runner joins the mesh as the first operator that runs Pulumi (operatorConfigs, README step 4). */
async function joinAsOperator(r: Rehearsal, plan: PlanResult): Promise<void> {
    const operator = plan.spec.operators.find((o) => o.runsPulumi);
    if (!operator) return;
    await r.checks.check(`pulumi runner joins the mesh as operator ${operator.name}`, async () => {
        const configs = plan.outputs.operatorConfigs as Record<string, string>;
        const file = join(r.lab.net.workDir, `${plan.spec.mesh.interfaceName}.conf`);
        writeFileSync(file, configs[operator.name], { mode: 0o600 });
        await r.lab.net.startWireGuard(r.lab.runner, file);
        return `${operator.meshAddress} on ${plan.spec.mesh.interfaceName}`;
    });
}

/** A step of a node's own resources (its key, its files; its drain runs on a server but is still its). */
export const belongsTo = (s: Step, node: string) => s.host === node || s.name.startsWith(`${node}-`) || s.name.endsWith(`-${node}`);

/** Every unit's last start and restart count, to prove an up touched nothing. */
export async function snapshotUnits(r: Rehearsal, hosts: PlannedHost[]): Promise<Map<string, string>> {
    const plan = r.applied!;
    const out = new Map<string, string>();
    await Promise.all(
        hosts.map(async (h) => {
            for (const unit of [...unitsOf(plan, h), edgeUnitOf(plan, h)].filter((u): u is string => !!u)) {
                const starts = await unitStarts(r.lab.host(h.name).machine, unit);
                out.set(`${h.name} ${unit}`, `${starts.activeSince}/${starts.restarts}`);
            }
        }),
    );
    return out;
}

export function unchangedUnits(before: Map<string, string>, after: Map<string, string>): string {
    const changed = [...before].filter(([key, value]) => after.has(key) && after.get(key) !== value).map(([key]) => key);
    return allOf("units untouched", changed, before.size);
}

async function idle(r: Rehearsal): Promise<void> {
    const hosts = r.hostsOf(r.applied!);
    const before = await snapshotUnits(r, hosts);
    const { steps } = await r.up("second up, no change", await r.plan());
    await r.checks.check("a second up runs no step", async () => onlySteps(steps, () => false));
    await r.checks.check("a second up restarts no service", async () => unchangedUnits(before, await snapshotUnits(r, hosts)));
}

async function hubRestart(r: Rehearsal): Promise<void> {
    const plan = r.applied!;
    const hosts = r.hostsOf(plan);
    const hub = hosts.find((h) => h.roles.includes("hub"))!;
    const machine = r.lab.host(hub.name).machine;
    const restart = await machine.exec(["systemctl", "restart", `wg-quick@${plan.spec.mesh.interfaceName}`]);
    await r.checks.check("spokes reconnect to the restarted hub within 30 s (by themselves)", async () => {
        if (restart.code !== 0) throw new Error(`restart failed: ${restart.stderr}`);
        // Pinged from the hub: it cannot start a handshake to a spoke it has no endpoint for, so each
        // spoke must come back on its own (PersistentKeepalive).
        const seconds = await waitUntil("every spoke answering the hub", 30000, async () =>
            (await Promise.all(hosts.filter((h) => h !== hub).map((h) => pings(machine, h.meshAddress)))).every(Boolean),
        );
        return `${seconds.toFixed(1)} s`;
    });
    await healthChecks(r, "after hub restart");
}

async function reboot(r: Rehearsal): Promise<void> {
    const plan = r.applied!;
    const hosts = r.hostsOf(plan);
    await Promise.all(hosts.map((h) => r.lab.host(h.name).machine.powerOff()));
    await r.checks.check("every machine boots again after a power cut", async () => {
        await Promise.all(hosts.map((h) => r.lab.host(h.name).machine.boot()));
        return `${hosts.length} machines`;
    });
    await r.checks.check("at boot: firewall, then mesh, then k3s, by themselves", async () => {
        const failures: string[] = [];
        await Promise.all(
            hosts.map(async (h) => {
                const units = unitsOf(plan, h);
                const starts = await Promise.all(units.map((u) => unitStarts(r.lab.host(h.name).machine, u)));
                starts.forEach((s, i) => {
                    if (s.activeSince === 0) failures.push(`${h.name} ${units[i]} not active`);
                    else if (i > 0 && s.activeSince < starts[i - 1].activeSince) failures.push(`${h.name} ${units[i]} before ${units[i - 1]}`);
                });
            }),
        );
        return allOf("hosts in order", failures, hosts.length);
    });
    await healthChecks(r, "after reboot", { operator: true });
}

async function upgrade(r: Rehearsal): Promise<void> {
    const from = r.applied!.spec.k3s.version;
    const to = bumpPatchVersion(from);
    const next = await r.plan({ ...r.currentConfig, "hybrid-k3s:k3sVersion": to });
    const { steps, result } = await r.up(`upgrade k3s ${from} → ${to}`, next);
    // The files step ships the new version file (k3s keeps running: the install script's install mode
    // never swaps a running binary); then drain, upgrade and uncordon, node by node.
    await r.checks.check("upgrade: only files, drain, upgrade and uncordon steps run", async () =>
        onlySteps(steps, (s) => /-k3s-(files|drain|upgrade|uncordon)$/.test(s.name) || s.runs === "nothing"),
    );
    await r.checks.check(`upgrade: servers one at a time, then agents in batches of ${next.spec.k3s.upgradeBatchSize}`, async () => {
        if (!result.ok) throw new Error("the upgrade failed");
        return rollingOrder(result.runs, r.hostsOf(next), next.spec.k3s.upgradeBatchSize);
    });
    await healthChecks(r, `after upgrade to ${to}`);
}

/**
 * The README's way to add a home machine: declare it (not enrolled) and up, which adds its peer to the
 * hub and nothing else; its owner runs the bootstrap; then `enrolled: true` and up, which runs only
 * its own steps. A session riding the mesh to another NAT host must survive both.
 */
async function addNatHost(r: Rehearsal): Promise<void> {
    const before = r.applied!;
    const host = newNatHost(before);
    const declared = await r.plan(addNode(r.currentConfig, host));
    const planned = r.hostsOf(declared).find((h) => h.name === host.name)!;
    await r.checks.check(`a new home machine ${host.name} boots behind its own NAT`, async () => {
        await r.boot(planned, declared);
    });
    const other = r.hostsOf(before).find((h) => h.behindNat);
    const session = other ? holdSession(r, r.connectionOf(before, other.name)) : undefined;
    const unitsBefore = await snapshotUnits(r, r.hostsOf(before));
    const hub = r.hostsOf(declared).find((h) => h.roles.includes("hub"))!;
    const added = await r.up(`add ${host.name} (not enrolled yet)`, declared);
    await r.checks.check("add-node: only the hub's mesh step runs while the new host is not enrolled", async () =>
        onlySteps(
            added.steps,
            (s) => (s.name === `${hub.name}-mesh` && s.op === "update") || (belongsTo(s, String(host.name)) && s.runs === "provider") || s.runs === "nothing",
        ),
    );
    await r.checks.check(`its owner runs the bootstrap script on ${host.name}`, async () => runBootstraps(r, declared, [planned]));
    const enrolled = await r.up(`enroll ${host.name}`, await r.plan(changeNode(r.currentConfig, String(host.name), (n) => ({ ...n, enrolled: true }))));
    await r.checks.check("add-node: once enrolled, only the new host's steps run", async () =>
        onlySteps(enrolled.steps, (s) => belongsTo(s, String(host.name)) || s.runs === "nothing"),
    );
    if (session && other) await r.checks.check(`an SSH session over the mesh to ${other.name} survives both ups`, async () => session.stillAlive());
    await r.checks.check("add-node: no service on the other hosts restarted", async () =>
        unchangedUnits(unitsBefore, await snapshotUnits(r, r.hostsOf(before))),
    );
    await healthChecks(r, `after adding ${host.name}`, { operator: true });
}
