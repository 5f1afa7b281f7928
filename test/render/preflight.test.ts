// The firewall step's checks on an existing host, run as shipped (inside the rendered bundle, as
// `sh -s`) against a scratch ROOT, with shims for ss, systemctl, iptables, firewall-cmd and ufw on
// PATH that answer as the real tools do on such a host and record what they were asked to change.
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { firewallRulesetPath } from "../../components/paths";
import { renderBundle } from "../../components/render/bundle";
import {
    otherFirewallsScriptPath,
    PreflightFacts,
    renderDockerDropIn,
    renderFirewallPreflight,
    renderOtherFirewallsScript,
} from "../../components/render/preflight";

const vps: PreflightFacts = {
    nodeName: "vps",
    meshInterface: "wg0",
    meshAddress: "10.0.0.1",
    clusterCidr: "10.42.0.0/16",
    serviceCidr: "10.43.0.0/16",
    isHub: true,
    openTcpPorts: [22, 25, 587],
    openUdpPorts: [51830, 53],
    isEdge: false,
};

/** `ss -Hltnup` as iproute2 prints it on a shared VPS (columns: netid state recv-q send-q local peer process). */
const ssLine = (proto: "tcp" | "udp", local: string, process?: string) =>
    `${proto}   ${proto === "tcp" ? "LISTEN" : "UNCONN"} 0      4096   ${local}   ${proto === "tcp" ? "0.0.0.0:*" : "0.0.0.0:*"}   ${process ? `users:(("${process}",pid=812,fd=13),("${process}",pid=813,fd=13))` : ""}`;
const sharedVps = [
    ssLine("tcp", "0.0.0.0:22", "sshd"),
    ssLine("tcp", "[::]:22", "sshd"),
    ssLine("tcp", "0.0.0.0:25", "master"),
    ssLine("tcp", "[::]:587", "master"),
    ssLine("udp", "0.0.0.0:53", "named"),
    ssLine("udp", "[::]:53", "named"),
    ssLine("tcp", "127.0.0.1:3306", "mariadbd"),
    ssLine("tcp", "[::1]:631", "cupsd"),
    ssLine("udp", "127.0.0.53%lo:53", "systemd-resolve"),
    ssLine("udp", "0.0.0.0:68", "dhclient"),
    ssLine("udp", "10.0.0.1:5353", "avahi-daemon"),
    ssLine("tcp", "[fe80::1%wg0]:9100", "node_exporter"),
    // The kernel's own sockets (WireGuard here) have no process.
    ssLine("udp", "0.0.0.0:51830"),
    ssLine("udp", "0.0.0.0:41337"),
    // A k3s someone runs by hand: its API is meant to be mesh only, so it is no listener to keep.
    ssLine("tcp", "*:6443", "k3s-server"),
    ssLine("tcp", "*:10250", "k3s-server"),
];

const shims: Record<string, string> = {
    ss: `#!/bin/sh\n[ "$*" = "-Hltnup" ] || { echo "ss shim: unexpected $*" >&2; exit 2; }\ncat "$SHIM_DIR/ss.out"\n`,
    systemctl: `#!/bin/sh\necho "systemctl $*" >> "$SHIM_DIR/calls"\ncase "$*" in "is-active --quiet firewalld") [ -f "$SHIM_DIR/firewalld-active" ] ;; *) exit 0 ;; esac\n`,
    // A DOCKER-USER chain as a file of rules, one per line, newest first (iptables -I inserts at the top).
    iptables: `#!/bin/sh
chain="$SHIM_DIR/DOCKER-USER"
case "$1" in
  -n) [ -f "$chain" ] ;;
  -N) touch "$chain" ;;
  -C) shift 2; grep -qxF -- "$*" "$chain" ;;
  -I) shift 2; { echo "$*"; cat "$chain"; } > "$chain.new" && mv "$chain.new" "$chain" ;;
  -D) shift 2; grep -vxF -- "$*" "$chain" > "$chain.new" || true; mv "$chain.new" "$chain" ;;
  *) echo "iptables shim: unexpected $*" >&2; exit 2 ;;
esac
`,
    "firewall-cmd": `#!/bin/sh\necho "firewall-cmd $*" >> "$SHIM_DIR/firewall-cmd.calls"\n`,
    ufw: `#!/bin/sh\n[ "$*" = "status verbose" ] || exit 2\nif [ -f "$SHIM_DIR/ufw.out" ]; then cat "$SHIM_DIR/ufw.out"; else echo "Status: inactive"; fi\n`,
};

describe("render/preflight (firewall step on an existing host)", () => {
    let root: string;
    let shimDir: string;
    beforeEach(() => {
        root = mkdtempSync(join(tmpdir(), "hk3s-preflight-"));
        shimDir = join(root, "shims");
        mkdirSync(shimDir);
        for (const [name, content] of Object.entries(shims)) {
            writeFileSync(join(shimDir, name), content);
            chmodSync(join(shimDir, name), 0o755);
        }
        writeFileSync(join(shimDir, "ss.out"), "");
    });
    afterEach(() => rmSync(root, { recursive: true, force: true }));

    const shim = (name: string, content: string) => writeFileSync(join(shimDir, name), content);
    const shimFile = (name: string) => (existsSync(join(shimDir, name)) ? readFileSync(join(shimDir, name), "utf8") : "");

    /** The firewall step's bundle for these facts, as HostFirewall composes it, run on the scratch host. */
    function runStep(facts: PreflightFacts) {
        const bundle = renderBundle(
            "vps-firewall",
            "test",
            [
                { path: otherFirewallsScriptPath, mode: "0755", content: renderOtherFirewallsScript(facts) },
                { path: firewallRulesetPath, mode: "0644", content: "table inet hybrid_k3s {}\n" },
            ],
            { prepare: renderFirewallPreflight(facts), apply: `sh "$ROOT${otherFirewallsScriptPath}" add` },
        );
        return spawnSync("sh", ["-s"], {
            input: bundle,
            env: { PATH: `${shimDir}:/usr/bin:/bin`, ROOT: root, SHIM_DIR: shimDir },
            encoding: "utf8",
        });
    }

    it("stops before the first ruleset with one line naming each undeclared public listener, its process and the fields to set", () => {
        shim("ss.out", sharedVps.join("\n") + "\n");
        const result = runStep({ ...vps, openTcpPorts: [22], openUdpPorts: [51830] });
        assert.notEqual(result.status, 0);
        assert.equal(
            result.stderr,
            "hybrid-k3s: vps: the firewall would cut tcp 25 (master on 0.0.0.0), tcp 587 (master on ::), udp 53 (named on 0.0.0.0) off from the internet; " +
                "add nodes[vps].publicTcpPorts [25, 587] and nodes[vps].publicUdpPorts [53] if the internet uses it, or bind it to 127.0.0.1 or 10.0.0.1\n",
        );
        assert.equal(existsSync(join(root, firewallRulesetPath)), false, "no ruleset was written");
    });

    it("passes when the config declares them, and runs only before the first ruleset", () => {
        shim("ss.out", sharedVps.join("\n") + "\n");
        const declared = runStep(vps);
        assert.equal(declared.status, 0, declared.stderr);
        assert.ok(existsSync(join(root, firewallRulesetPath)));
        // Once our ruleset is there, a new undeclared listener is the owner's business (its port is closed).
        shim("ss.out", ssLine("tcp", "0.0.0.0:8080", "python3") + "\n");
        assert.equal(runStep(vps).status, 0);
    });

    it("skips the mesh's own sockets: a spoke's userspace WireGuard port (wireguard-go) and, on ZeroTier, zerotier-one's", () => {
        const spoke: PreflightFacts = { ...vps, nodeName: "home", meshAddress: "10.0.0.2", isHub: false, openUdpPorts: [] };
        const member: PreflightFacts = { ...spoke, meshInterface: "zt0" };
        // Each run on a host without our ruleset yet, as the first up finds it.
        const firstRun = (facts: PreflightFacts, listeners: string[]) => {
            rmSync(join(root, firewallRulesetPath), { force: true });
            shim("ss.out", listeners.join("\n") + "\n");
            return runStep(facts);
        };
        // wg-quick brought wg0 up before this step: `wg show wg0 listen-port` names its port.
        shim("wg", `#!/bin/sh\n[ "$*" = "show wg0 listen-port" ] && echo 44122\n`);
        chmodSync(join(shimDir, "wg"), 0o755);
        const ours = firstRun(spoke, [ssLine("udp", "0.0.0.0:44122", "wireguard-go"), ssLine("udp", "[::]:44122", "wireguard-go")]);
        assert.equal(ours.status, 0, ours.stderr);
        // Another wireguard-go port (someone else's tunnel) is a listener like any other.
        assert.match(firstRun(spoke, [ssLine("udp", "0.0.0.0:51999", "wireguard-go")]).stderr, /would cut udp 51999 \(wireguard-go on 0\.0\.0\.0\) off/);
        const zerotier = [ssLine("udp", "0.0.0.0:9993", "zerotier-one"), ssLine("udp", "0.0.0.0:37012", "zerotier-one")];
        const joined = firstRun(member, zerotier);
        assert.equal(joined.status, 0, joined.stderr);
        // On a WireGuard stack, a ZeroTier of the owner's own is not ours to wave through.
        assert.match(firstRun(spoke, zerotier).stderr, /would cut udp 9993 \(zerotier-one on 0\.0\.0\.0\), udp 37012/);
    });

    it("on an edge without edgeFallback, refuses a web server already on 80/443 with the fix", () => {
        shim("ss.out", [ssLine("tcp", "0.0.0.0:80", "nginx"), ssLine("tcp", "0.0.0.0:443", "nginx"), ssLine("tcp", "[::]:443", "nginx")].join("\n") + "\n");
        const edge = { ...vps, isEdge: true, openTcpPorts: [22, 80, 443] };
        const refused = runStep(edge);
        assert.notEqual(refused.status, 0);
        assert.equal(
            refused.stderr,
            "hybrid-k3s: vps: tcp 80 (nginx), tcp 443 (nginx) already serve the internet on this edge; move that web server to other ports " +
                '(e.g. 127.0.0.1:8080 and 127.0.0.1:8443) and set nodes[vps].edgeFallback: { http: "127.0.0.1:8080", https: "127.0.0.1:8443" }, ' +
                "so the edge proxy passes it every name that is not a cluster app\n",
        );
        const withFallback = runStep({ ...edge, edgeFallback: { http: "127.0.0.1:8080", https: "127.0.0.1:8443" } });
        assert.match(withFallback.stderr, /move it to its edgeFallback \(http 127\.0\.0\.1:8080, https 127\.0\.0\.1:8443\) first/);
        shim("ss.out", [ssLine("tcp", "127.0.0.1:8080", "nginx"), ssLine("tcp", "127.0.0.1:8443", "nginx")].join("\n") + "\n");
        assert.equal(runStep({ ...edge, edgeFallback: { http: "127.0.0.1:8080", https: "127.0.0.1:8443" } }).status, 0, "moved: nothing left on 80/443");
    });

    it("Docker: accepts the mesh in DOCKER-USER once, however often it runs; remove takes out exactly ours", () => {
        writeFileSync(join(shimDir, "DOCKER-USER"), "-j RETURN\n");
        assert.equal(runStep(vps).status, 0);
        assert.equal(runStep(vps).status, 0);
        const ours = [
            "-s 10.42.0.0/16 -m comment --comment hybrid-k3s -j ACCEPT",
            "-i wg0 -d 10.42.0.0/16 -m comment --comment hybrid-k3s -j ACCEPT",
            "-i wg0 -o wg0 -m comment --comment hybrid-k3s -j ACCEPT",
        ];
        assert.deepEqual(shimFile("DOCKER-USER").trim().split("\n"), [...ours, "-j RETURN"]);
        const spoke = runStep({ ...vps, isHub: false });
        assert.equal(spoke.status, 0);
        const removed = spawnSync("sh", [join(root, otherFirewallsScriptPath), "remove"], {
            env: { PATH: `${shimDir}:/usr/bin:/bin`, SHIM_DIR: shimDir },
            encoding: "utf8",
        });
        assert.equal(removed.status, 0, removed.stderr);
        // The spoke's script knows no hub rule, so the hub's one stays: removal takes out what this host's script added.
        assert.deepEqual(shimFile("DOCKER-USER").trim().split("\n"), [ours[2], "-j RETURN"]);
    });

    it("no Docker and no firewalld: touches neither", () => {
        assert.equal(runStep(vps).status, 0);
        assert.equal(existsSync(join(shimDir, "DOCKER-USER")), false);
        assert.equal(shimFile("firewall-cmd.calls"), "");
    });

    it("firewalld: trusts the mesh interface and cluster ranges, opens the declared ports, and takes them back on remove", () => {
        writeFileSync(join(shimDir, "firewalld-active"), "");
        const result = runStep(vps);
        assert.equal(result.status, 0, result.stderr);
        const changes = (mode: string) =>
            [
                `--zone=trusted --${mode}-interface=wg0`,
                `--zone=trusted --${mode}-source=10.42.0.0/16`,
                `--zone=trusted --${mode}-source=10.43.0.0/16`,
                `--${mode}-port=22/tcp`,
                `--${mode}-port=25/tcp`,
                `--${mode}-port=587/tcp`,
                `--${mode}-port=51830/udp`,
                `--${mode}-port=53/udp`,
            ].map((c) => `firewall-cmd --permanent ${c}`);
        assert.deepEqual(shimFile("firewall-cmd.calls").trim().split("\n"), [...changes("add"), "firewall-cmd --reload"]);
        spawnSync("sh", [join(root, otherFirewallsScriptPath), "remove"], { env: { PATH: `${shimDir}:/usr/bin:/bin`, SHIM_DIR: shimDir } });
        assert.deepEqual(shimFile("firewall-cmd.calls").trim().split("\n").slice(-9), [...changes("remove"), "firewall-cmd --reload"]);
    });

    it("ufw active: refuses with the commands that open the mesh, and passes once they are in", () => {
        const verbose = (rules: string[]) =>
            [
                "Status: active",
                "Logging: on (low)",
                "Default: deny (incoming), allow (outgoing), deny (routed)",
                "New profiles: skip",
                "",
                "To                         Action      From",
                "--                         ------      ----",
                ...rules,
                "",
            ].join("\n");
        shim("ufw.out", verbose(["22/tcp                     ALLOW IN    Anywhere", "25,587/tcp                 ALLOW IN    Anywhere"]));
        const facts = { ...vps, openTcpPorts: [22], openUdpPorts: [51830] };
        const refused = runStep(facts);
        assert.notEqual(refused.status, 0);
        assert.equal(
            refused.stderr,
            "hybrid-k3s: vps: ufw is active and would drop the mesh; run: ufw allow in on wg0 && ufw allow from 10.42.0.0/16 && " +
                "ufw route allow in on wg0 out on wg0 && ufw allow 51830/udp (or ufw disable: the hybrid-k3s table guards this host)\n",
        );
        shim(
            "ufw.out",
            verbose([
                "22/tcp                     ALLOW IN    Anywhere",
                "Anywhere on wg0            ALLOW IN    Anywhere",
                "Anywhere                   ALLOW IN    10.42.0.0/16",
                "51830/udp                  ALLOW IN    Anywhere",
                "Anywhere on wg0            ALLOW FWD   Anywhere on wg0",
            ]),
        );
        const passed = runStep(facts);
        assert.equal(passed.status, 0, passed.stderr);
    });

    it("passes shellcheck: the prepare and apply snippets inside a bundle, the script and the drop-in's command", () => {
        const script = renderBundle("vps-firewall", "test", [], { prepare: renderFirewallPreflight(vps), apply: "true" });
        for (const text of [script, renderOtherFirewallsScript(vps)]) {
            const result = spawnSync("shellcheck", ["-s", "sh", "-"], { input: text, encoding: "utf8" });
            assert.equal(result.status, 0, result.stdout);
        }
        assert.match(renderDockerDropIn(), /^ExecStartPost=\/bin\/sh \/usr\/local\/lib\/hybrid-k3s\/other-firewalls\.sh add docker$/m);
    });

    it("refuses facts that would break the script", () => {
        assert.throws(() => renderFirewallPreflight({ ...vps, meshInterface: "wg0'; reboot" }), /interface name/);
        assert.throws(() => renderFirewallPreflight({ ...vps, nodeName: "a b" }), /DNS label/);
        assert.throws(() => renderOtherFirewallsScript({ ...vps, clusterCidr: "10.42.0.0/16; reboot" }), /CIDR/);
    });
});
