// The scenarios that change who is in the cluster: remove-node (the README's decommission, then the
// node dropped from the config) and existing-life (the VPS keeps its own site and mail next to the
// cluster's apps).
import {
    configDir,
    firewallUnitName,
    k3sBinaryPath,
    k3sDataDir,
    k3sUnitName,
    leaveCleanupPath,
    libDir,
    stateDir,
    wireguardConfigPath,
    wireguardUnitName,
} from "../components/paths";
import { PlanResult } from "../plan/plan";
import { Step } from "../plan/steps";
import { webClientScript } from "../test/net/clients";
import { allOf, eventually } from "./checks";
import { changeNode, removeNodes } from "./derive";
import { StepRun } from "./executor";
import { healthChecks } from "./health";
import { onlySteps } from "./expect";
import { PlannedHost, Rehearsal } from "./rehearsal";
import { belongsTo, Scenario, snapshotUnits, unchangedUnits } from "./scenarios";

export const laterScenarios: Scenario[] = [
    { name: "remove-node", run: removeNatAndCloudHost },
    {
        name: "existing-life",
        beforeFirstUp: startOwnerServices,
        run: existingLife,
    },
];

/** Files and state a host must not keep once it left the cluster (besides units, interface and table). */
const ourPaths = (plan: PlanResult, purged: boolean) => [
    ...(plan.spec.mesh.kind === "wireguard" ? [wireguardConfigPath(plan.spec.mesh.interfaceName)] : []),
    `/etc/systemd/system/${firewallUnitName}`,
    `/etc/systemd/system/${k3sUnitName("server")}`,
    `/etc/systemd/system/${k3sUnitName("agent")}`,
    k3sBinaryPath,
    libDir,
    configDir,
    "/etc/rancher/k3s",
    ...(purged ? [k3sDataDir] : []),
    stateDir,
    leaveCleanupPath,
];

/**
 * The README's removal: `decommission: true` and an up (drain, delete from Kubernetes, uninstall,
 * then our firewall and the mesh, while the hub still lists the peer), then the nodes dropped from
 * the config and an up that runs nothing on them and drops their peers from the hub.
 */
async function removeNatAndCloudHost(r: Rehearsal): Promise<void> {
    const before = r.applied!;
    const hosts = r.hostsOf(before);
    const nat = [...hosts].reverse().find((h) => h.behindNat && h.roles.every((role) => role === "agent"));
    const cloud = hosts.find((h) => h.provider !== "existing" && h.roles.every((role) => role === "agent"));
    const leaving = [nat, cloud].filter((h): h is PlannedHost => !!h);
    const isLeaving = (s: Step) => leaving.some((h) => belongsTo(s, h.name));
    const staying = hosts.filter((h) => !leaving.includes(h));
    const hub = hosts.find((h) => h.roles.includes("hub"));
    const unitsBefore = await snapshotUnits(r, staying);
    const names = leaving.map((h) => h.name).join(" and ");

    let config = r.currentConfig;
    // The home machine's owner wants its disk back (purge); the cloud VM's k3s data is kept, as by default.
    const purged = (h: PlannedHost) => h === nat;
    for (const h of leaving) config = changeNode(config, h.name, (n) => ({ ...n, decommission: true, ...(purged(h) ? { purge: true } : {}) }));
    const decommission = await r.up(`decommission ${names}`, await r.plan(config));
    await r.checks.check("decommission: every step succeeds", async () => stepsSucceeded(decommission.result.runs));
    await r.checks.check("decommission: only the leaving nodes' steps run", async () => onlySteps(decommission.steps, isLeaving));
    await r.checks.check("decommissioned nodes are gone from k3s", async () => {
        const server = staying.find((h) => h.roles.includes("server"))!;
        const nodes = (await r.lab.host(server.name).machine.exec(["k3s", "kubectl", "get", "nodes"])).stdout;
        const still = leaving.filter((h) => new RegExp(`^${h.name}\\s`, "m").test(nodes)).map((h) => h.name);
        return allOf(
            "removed nodes",
            still.map((n) => `${n} still listed`),
            leaving.length,
        );
    });
    // The leave step schedules the mesh's removal a few seconds out (it may ride that very mesh).
    for (const h of leaving) {
        // The leave step schedules the mesh's removal 5 s out and the file cleanup 15 s out.
        await r.checks.check(`nothing of ours is left on ${h.name}${purged(h) ? " (purge: its k3s data too)" : ""}`, async () =>
            eventually(() => leftovers(r, before, h, purged(h)), 40000),
        );
        if (!purged(h)) {
            await r.checks.check(`${h.name} keeps its k3s data (${k3sDataDir}) without purge`, async () => {
                if ((await r.lab.host(h.name).machine.exec(["test", "-d", k3sDataDir])).code !== 0) throw new Error(`${k3sDataDir} is gone`);
                return k3sDataDir;
            });
        }
    }

    const dropped = await r.up(
        `drop ${names} from the config`,
        await r.plan(
            removeNodes(
                r.currentConfig,
                leaving.map((h) => h.name),
            ),
        ),
    );
    await r.checks.check("drop: every step succeeds", async () => stepsSucceeded(dropped.result.runs));
    const hubMesh = `${hub?.name}-mesh`;
    await r.checks.check(`drop: no script runs but ${hubMesh}; the leaving nodes' resources are deleted`, async () => {
        const ran = dropped.result.runs.filter((run) => run.result === "ok" && run.step.name !== hubMesh);
        if (ran.length > 0) throw new Error(`ran: ${ran.map((run) => `${run.step.name} (${run.step.op})`).join(", ")}`);
        // Provider deletes of what only the leaving nodes used (a region's network) are theirs too.
        const providerDelete = (s: Step) => s.op === "delete" && s.runs === "provider" && !staying.some((h) => belongsTo(s, h.name));
        return onlySteps(dropped.steps, (s) => (isLeaving(s) && s.op === "delete") || providerDelete(s) || s.name === hubMesh || s.runs === "nothing");
    });
    // Pulumi deletes the VM: so does the rehearsal.
    if (cloud) await r.lab.host(cloud.name).machine.powerOff();
    await r.checks.check("remove-node: nobody else is touched (no service restarted)", async () =>
        unchangedUnits(unitsBefore, await snapshotUnits(r, staying)),
    );
    await healthChecks(r, "after removal", { operator: true });
}

function stepsSucceeded(runs: StepRun[]): string {
    return allOf(
        "steps",
        runs.filter((s) => s.result === "failed").map((s) => `${s.step.name} on ${s.step.host ?? "-"}`),
        runs.length,
    );
}

async function leftovers(r: Rehearsal, plan: PlanResult, host: PlannedHost, purged: boolean): Promise<string> {
    const machine = r.lab.host(host.name).machine;
    const iface = plan.spec.mesh.interfaceName;
    const found: string[] = [];
    for (const unit of [k3sUnitName("server"), k3sUnitName("agent"), firewallUnitName, wireguardUnitName(iface)]) {
        const state = (await machine.exec(["systemctl", "is-enabled", unit])).stdout.trim();
        if (state === "enabled" || (await machine.exec(["systemctl", "is-active", "--quiet", unit])).code === 0) found.push(`unit ${unit}`);
    }
    if ((await machine.exec(["ip", "link", "show", iface])).code === 0) found.push(`interface ${iface}`);
    if ((await machine.exec(["nft", "list", "table", "inet", "hybrid_k3s"])).code === 0) found.push("nft table inet hybrid_k3s");
    const paths = ourPaths(plan, purged);
    for (const path of paths) if ((await machine.exec(["test", "-e", path])).code === 0) found.push(path);
    return allOf("kinds of leftovers", found, 4 + 2 + paths.length);
}

/**
 * The VPS's life before the cluster, as docs/existing-hosts.md leaves it: mail on 25, and its own site
 * moved from 80/443 to loopback ports the edge falls back to. Stand-in services (socat), each a
 * script per connection: the site answers HTTP; its TLS port records the first bytes it gets (a TLS
 * client sees no banner) so a check can tell a ClientHello arrived.
 */
const ownerServices: Record<string, { listen: string; script: string }> = {
    "owner-site-http": { listen: "TCP-LISTEN:8080,bind=127.0.0.1", script: "echo HTTP/1.0 200 OK; echo; echo the owner site" },
    "owner-site-https": { listen: "TCP-LISTEN:8443,bind=127.0.0.1", script: "od -An -tx1 -N3 >> /run/owner-site-https.log" },
    "owner-mail": { listen: "TCP-LISTEN:25", script: "echo 220 owner mail ESMTP" },
};
const ownerName = "owner.example";

async function startOwnerServices(r: Rehearsal): Promise<string> {
    const vps = r.hostsOf(await r.plan()).find((h) => h.provider === "existing" && h.publicAddress && h.roles.includes("edge"));
    if (!vps) throw new Error("existing-life needs an existing public host with role edge");
    const machine = r.lab.host(vps.name).machine;
    for (const [name, { listen, script }] of Object.entries(ownerServices)) {
        const unit = [
            "[Unit]",
            `Description=${name} (rehearsal stand-in for the owner's own service)`,
            "[Service]",
            `ExecStart=/usr/bin/socat ${listen},reuseaddr,fork EXEC:/usr/local/bin/${name}`,
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ].join("\n");
        const install = `printf '#!/bin/sh\\n%s\\n' '${script}' > /usr/local/bin/${name} && chmod 755 /usr/local/bin/${name} && cat > /etc/systemd/system/${name}.service && systemctl enable --now ${name}`;
        const result = await machine.exec(["sh", "-c", install], { input: unit });
        if (result.code !== 0) throw new Error(`${name}: ${result.stderr.trim()}`);
    }
    // What the owner declares: mail stays public, other names go to the site behind the edge.
    r.currentConfig = changeNode(r.currentConfig, vps.name, (n) => ({
        ...n,
        publicTcpPorts: [25],
        edgeFallback: { http: "127.0.0.1:8080", https: "127.0.0.1:8443" },
    }));
    return `${vps.name}: mail on 25, its site on 127.0.0.1:8080 and :8443`;
}

async function existingLife(r: Rehearsal): Promise<void> {
    const vps = r.hostsOf(r.applied!).find((h) => h.provider === "existing" && h.publicAddress && h.roles.includes("edge"))!;
    const fromInternet = (argv: string[], input = "") => r.lab.net.exec(r.lab.stranger, argv, { input, timeoutMs: 8000 });
    await r.checks.check(`the owner's mail on ${vps.name}:25 still answers from the internet`, async () => {
        const reply = await fromInternet(["socat", "-T", "3", "-", `TCP:${vps.publicAddress}:25,connect-timeout=3`]);
        if (!/^220 /.test(reply.stdout)) throw new Error(`${vps.publicAddress}:25: ${(reply.stdout || reply.stderr).trim() || "no answer"}`);
        return reply.stdout.trim();
    });
    // A browser's request for the owner's name: by Host on 80, by SNI on 443 (TLS passed through).
    const request = (mode: "http" | "tls", port: number, name: string) =>
        fromInternet([process.execPath, "-e", webClientScript, mode, vps.publicAddress!, String(port), name]).then(
            (reply) => /^answer (.*)$/m.exec(reply.stdout)?.[1] ?? "",
        );
    await r.checks.check(`the owner's site ${ownerName} on ${vps.name}:80 still answers, through the edge's fallback`, async () => {
        // Retried: on a loaded machine the first answer can take longer than the client waits.
        return eventually(async () => {
            const answer = await request("http", 80, ownerName);
            if (!/the owner site/.test(answer)) throw new Error(`${vps.publicAddress}:80 for ${ownerName}: ${answer || "no answer"}`);
            return answer;
        }, 15000);
    });
    const app = r.applied!.spec.ingress.apps[0]?.host;
    await r.checks.check(
        `${ownerName} on ${vps.name}:443 reaches the owner's TLS port by SNI, the ClientHello untouched${app ? `; ${app} does not` : ""}`,
        async () => {
            const log = "/run/owner-site-https.log";
            const arrivals = async () =>
                (await r.lab.host(vps.name).machine.exec(["sh", "-c", `cat ${log} 2>/dev/null || true`])).stdout.trim().split("\n").filter(Boolean);
            if (app) await request("tls", 443, app);
            const before = (await arrivals()).length;
            if (before > 0) throw new Error(`${app} reached the owner's TLS port`);
            // Retried like a browser would, until the owner's port has recorded a connection.
            return eventually(async () => {
                await request("tls", 443, ownerName);
                const got = await arrivals();
                // 16 03 xx: a TLS handshake record, as the browser sent it; every arrival is one of ours.
                if (got.length === 0 || got.some((bytes) => !/^16 03 0[0-4]$/.test(bytes.trim())))
                    throw new Error(`the owner's TLS port got: ${got.join(" | ") || "nothing"}`);
                return `first bytes ${got[0].trim()}`;
            }, 15000);
        },
    );
    await healthChecks(r, "existing life");
}
