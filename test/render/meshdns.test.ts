// Split DNS over the mesh: the unit and its apply step, run as the host runs them (the bundle, with
// shims for systemctl and resolvectl that record what they were asked), and planned for both mesh kinds.
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseClusterConfig } from "../../components/config";
import { meshDnsUnitName } from "../../components/paths";
import { renderBundle } from "../../components/render/bundle";
import { interfaceDeviceUnit, meshDnsApply, renderMeshDnsUnit } from "../../components/render/meshdns";
import { readStackConfig, runPlan } from "../../plan/plan";

const unitPath = `/etc/systemd/system/${meshDnsUnitName}`;
const facts = { meshInterface: "zt0", servers: ["10.147.17.11", "10.147.17.12"], domains: ["office.lan", "home.arpa"] };

/** The `ExecStart=` commands of a unit, in order. */
function execStarts(unit: string): string[] {
    return unit
        .split("\n")
        .filter((l) => l.startsWith("ExecStart="))
        .map((l) => l.slice("ExecStart=".length));
}

describe("render/meshdns: split DNS per link with systemd-resolved", () => {
    const dirs: string[] = [];
    after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

    it("binds to the mesh interface's device and routes only the mesh's domains to the mesh's servers", () => {
        const unit = renderMeshDnsUnit(facts);
        assert.deepEqual(execStarts(unit), [
            "/usr/bin/resolvectl dns zt0 10.147.17.11 10.147.17.12",
            "/usr/bin/resolvectl domain zt0 ~office.lan ~home.arpa",
            "/usr/bin/resolvectl default-route zt0 false",
        ]);
        for (const line of [
            "BindsTo=sys-subsystem-net-devices-zt0.device",
            "WantedBy=sys-subsystem-net-devices-zt0.device",
            "ExecStop=-/usr/bin/resolvectl revert zt0",
        ]) {
            assert.ok(unit.split("\n").includes(line), line);
        }
        assert.equal(interfaceDeviceUnit("wg-k3s"), "sys-subsystem-net-devices-wg\\x2dk3s.device");
    });

    function apply(resolved: boolean): { status: number | null; stderr: string; calls: string[]; root: string } {
        const root = fs.mkdtempSync(path.join(os.tmpdir(), "hk3s-meshdns-"));
        dirs.push(root);
        const bin = path.join(root, "shims");
        fs.mkdirSync(bin);
        const log = path.join(root, "calls");
        const shim = (name: string, body = "") => fs.writeFileSync(path.join(bin, name), `#!/bin/sh\necho "${name} $*" >> ${log}\n${body}\n`, { mode: 0o755 });
        // is-active answers for systemd-resolved only when it runs; our unit is not active yet.
        shim("systemctl", `if [ "$1" = is-active ]; then [ "$3" = systemd-resolved ] && [ ${resolved ? 1 : 0} = 1 ]; exit; fi`);
        if (resolved) shim("resolvectl");
        const bundle = renderBundle("mesh-dns", "test", [{ path: unitPath, mode: "0644", content: renderMeshDnsUnit(facts) }], {
            apply: meshDnsApply(meshDnsUnitName, unitPath),
        });
        const run = spawnSync("sh", ["-s"], { input: bundle, env: { PATH: `${bin}:/usr/bin:/bin`, ROOT: root }, encoding: "utf8" });
        const calls = fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n") : [];
        return { status: run.status, stderr: run.stderr, calls, root };
    }

    it("installs the unit and starts it where systemd-resolved runs", () => {
        const run = apply(true);
        assert.equal(run.status, 0, run.stderr);
        assert.equal(fs.readFileSync(path.join(run.root, unitPath), "utf8"), renderMeshDnsUnit(facts));
        assert.deepEqual(run.calls, [
            "systemctl is-active --quiet systemd-resolved",
            "systemctl daemon-reload",
            `systemctl enable ${meshDnsUnitName}`,
            `systemctl restart ${meshDnsUnitName}`,
        ]);
    });

    it("refuses a host without systemd-resolved, naming the fix, and starts nothing", () => {
        const run = apply(false);
        assert.equal(run.status, 1);
        assert.match(run.stderr, /hybrid-k3s: meshDns needs systemd-resolved, which is not running here; install and start it .*or remove meshDns/);
        assert.ok(!run.calls.some((c) => / (enable|restart) /.test(c)), run.calls.join("\n"));
    });

    it("passes shellcheck", () => {
        const result = spawnSync("shellcheck", ["-s", "sh", "-"], {
            input: renderBundle("mesh-dns", "test", [], { apply: meshDnsApply(meshDnsUnitName, unitPath) }),
            encoding: "utf8",
        });
        assert.equal(result.status, 0, result.stdout);
    });

    it("refuses a meshDns setting it cannot apply, naming the field", () => {
        const { config } = readStackConfig("zerotier", path.join(__dirname, "../../examples/zerotier"));
        const raw = Object.fromEntries(Object.entries(config).map(([k, v]) => [k.replace(/^hybrid-k3s:/, ""), /^\s*[[{]/.test(v) ? JSON.parse(v) : v]));
        assert.throws(
            () => parseClusterConfig({ ...raw, meshDns: { servers: ["dns.lan"], domains: [] } }),
            (err: Error) =>
                /meshDns\.servers: "dns\.lan" is not an IPv4 address/.test(err.message) && /meshDns\.domains: needs at least one domain/.test(err.message),
        );
    });

    for (const [kind, stack, dir, iface] of [
        ["wireguard", "prod", undefined, "wg0"],
        ["zerotier", "zerotier", path.join(__dirname, "../../examples/zerotier"), "zt0"],
    ] as const) {
        it(`${kind}: every host gets the unit on its mesh interface (${iface}), after its mesh step`, async function () {
            this.timeout(120000);
            const { config, secretKeys } = readStackConfig(stack, dir);
            const dns = { "hybrid-k3s:meshDns": JSON.stringify({ servers: ["10.0.0.53"], domains: ["home.arpa"] }) };
            const plan = await runPlan(stack, { ...config, ...dns }, secretKeys, "meshdns");
            for (const node of plan.spec.nodes) {
                const unit = plan.nodeFiles[node.name][unitPath]?.content;
                assert.equal(unit, renderMeshDnsUnit({ meshInterface: iface, servers: ["10.0.0.53"], domains: ["home.arpa"] }), node.name);
                const step = plan.resources.find((r) => r.type === "command:remote:Command" && r.name === `${node.name}-mesh-dns`)!;
                const meshStep = plan.resources.find(
                    (r) => r.name === (kind === "zerotier" ? `${node.name}-mesh-address` : `${node.name}-mesh`) && r.type === "command:remote:Command",
                )!;
                assert.ok(step.dependencies.includes(meshStep.urn), `${node.name}: after the mesh`);
            }
        });
    }
});
