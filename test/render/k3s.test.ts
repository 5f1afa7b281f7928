// k3s renderers: config.yaml, the systemd unit and the mesh kubeconfig, checked as text, by a YAML parser and by systemd-analyze.
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import {
    agentJoinToken,
    K3sNodeFacts,
    k3sFlags,
    k3sSettings,
    kubeconfigForMesh,
    renderDatastoreConfig,
    renderK3sConfig,
    renderK3sUnit,
} from "../../components/render/k3s";
import { agent, externalDatastoreServer, firstServer, joiningServer, removeScratchDirs, scratch, zerotierAgent } from "./k3s-helpers";

describe("render/k3s", () => {
    after(removeScratchDirs);

    /** config.yaml as k3s reads it: a YAML map of flag names to values. */
    function configOf(node: K3sNodeFacts): Record<string, unknown> {
        return parseYaml(renderK3sConfig(node)) as Record<string, unknown>;
    }

    describe("k3s config.yaml", () => {
        it("binds every server listener and advertisement to the mesh address", () => {
            const config = configOf(firstServer);
            for (const key of ["node-ip", "node-external-ip", "advertise-address", "bind-address"]) assert.equal(config[key], "10.0.0.4", key);
            assert.equal(config["flannel-iface"], "wg0");
            assert.deepEqual(config["tls-san"], ["10.0.0.4", "k3s.soh.re"]);
            assert.deepEqual(config.disable, ["traefik", "servicelb"]);
            assert.equal(config["flannel-backend"], "wireguard-native");
            assert.equal(config["flannel-external-ip"], true);
            assert.equal(config["cluster-init"], true);
            assert.equal(config["write-kubeconfig-mode"], "0600");
            assert.equal(config["token-file"], "/etc/rancher/k3s/token");
            assert.equal(config["agent-token-file"], "/etc/rancher/k3s/agent-token", "servers accept agents by the agent token");
            assert.equal(config["cluster-cidr"], "10.42.0.0/16");
            assert.equal(config["service-cidr"], "10.43.0.0/16");
            assert.equal(config.server, undefined, "the first server joins nobody");
        });

        it("gives agents the server, the agent token file and the mesh address, and no server settings", () => {
            assert.deepEqual(configOf(agent), {
                "node-name": "black-intel",
                "node-ip": "10.0.0.7",
                "node-external-ip": "10.0.0.7",
                "bind-address": "10.0.0.7",
                "flannel-iface": "wg0",
                "token-file": "/etc/rancher/k3s/agent-token",
                server: "https://10.0.0.4:6443",
            });
        });

        it("makes a joining server join with server instead of cluster-init", () => {
            const config = configOf(joiningServer);
            assert.equal(config.server, "https://10.0.0.4:6443");
            assert.equal(config["cluster-init"], undefined);
            assert.equal(config["bind-address"], "10.0.0.5");
        });

        it("uses no address but the node's own mesh address, and never a wildcard", () => {
            for (const node of [firstServer, joiningServer, agent, zerotierAgent]) {
                const values = Object.values(configOf(node)).flat().map(String);
                const addresses = values.filter((value) => isIP(value) !== 0);
                assert.equal(addresses.length, node.role === "server" ? 5 : 3, node.nodeName);
                assert.ok(
                    addresses.every((address) => address === node.meshAddress),
                    `${node.nodeName}: ${addresses.join(" ")}`,
                );
                assert.ok(!renderK3sConfig(node).includes("0.0.0.0"), node.nodeName);
            }
        });

        it("adds labels, taints and harmless extra flags as config keys, repeated ones as lists", () => {
            const extraFlags = [
                "--disable=local-storage",
                "--kubelet-arg=max-pods=200",
                "--kubelet-arg=image-gc-high-threshold=80",
                "--protect-kernel-defaults",
            ];
            const config = configOf({ ...firstServer, nodeLabels: ["site=home"], nodeTaints: ["edge=true:NoSchedule"], extraFlags });
            assert.deepEqual(config["node-label"], ["site=home"]);
            assert.deepEqual(config["node-taint"], ["edge=true:NoSchedule"]);
            assert.deepEqual(config.disable, ["traefik", "servicelb", "local-storage"]);
            assert.deepEqual(config["kubelet-arg"], ["max-pods=200", "image-gc-high-threshold=80"]);
            assert.equal(config["protect-kernel-defaults"], true);
            assert.deepEqual(
                k3sFlags(firstServer).filter((f) => f.startsWith("--tls-san")),
                ["--tls-san=10.0.0.4", "--tls-san=k3s.soh.re"],
                "the policy reads the same settings as flags",
            );
        });

        it("keeps every value inside its key, whatever characters it holds", () => {
            const tricky = `a"b\\c\n--- !x #y`;
            const config = configOf({ ...agent, extraFlags: [`--node-name-suffix-note=${tricky.replace("\n", "")}`] });
            assert.equal(config["node-name-suffix-note"], tricky.replace("\n", ""));
            assert.throws(() => k3sSettings({ ...agent, extraFlags: [`--kubelet-arg=x=${"\n"}token: stolen`] }), /control character/);
        });

        const refusedExtraFlags: [string, RegExp][] = [
            ["--bind-address=0.0.0.0", /would override bind-address/],
            ["--advertise-address=203.0.113.9", /would override advertise-address/],
            ["--node-ip=203.0.113.9", /would override node-ip/],
            ["--node-external-ip=203.0.113.9", /would override/],
            ["--flannel-iface=eth0", /would override/],
            ["--token-file=/root/token", /would override token-file/],
            ["--agent-token-file=/root/token", /would override agent-token-file/],
            ["--config=/tmp/other.yaml", /would override config/],
            ["--token=K10abc::server:secret", /would override token/],
            ["--agent-token=abc", /would override agent-token/],
            ["--datastore-endpoint=postgres://k3s:pw@db:5432/k3s", /would override datastore-endpoint/],
            ["--etcd-s3-secret-key=abc", /would put a secret in the k3s config/],
            ["--etcd-s3-endpoint=https://user:pw@s3.example.com", /would put a secret in the k3s config/],
            ["--kube-apiserver-arg=bind-address=0.0.0.0", /rebinds kube-apiserver bind-address/],
            ["--kube-apiserver-arg=advertise-address=203.0.113.9", /rebinds kube-apiserver/],
            ["--kubelet-arg=address=0.0.0.0", /rebinds kubelet address/],
            ["--kube-proxy-arg=metrics-bind-address=0.0.0.0:10249", /rebinds kube-proxy/],
            ["--etcd-arg=listen-client-urls=https://0.0.0.0:2379", /rebinds etcd/],
            ["--kubelet-arg=healthz-bind-address=0.0.0.0", /rebinds kubelet/],
            ["--kube-proxy-arg=nodeport-addresses=0.0.0.0/0", /wildcard address/],
            ["--node-ip", /would override node-ip/],
            ["-t", /--name or --name=value/],
            ["--disable traefik", /--name or --name=value/],
        ];
        for (const [flag, reason] of refusedExtraFlags) {
            it(`refuses the extra flag ${flag}`, () => {
                assert.throws(() => k3sSettings({ ...firstServer, extraFlags: [flag] }), reason);
            });
        }

        it("refuses impossible topologies and addresses with a clear message", () => {
            assert.throws(() => k3sSettings({ ...agent, serverUrl: undefined }), /an agent needs serverUrl/);
            assert.throws(() => k3sSettings({ ...firstServer, serverUrl: "https://10.0.0.5:6443" }), /set only one/);
            assert.throws(() => k3sSettings({ ...firstServer, externalDatastore: true }), /external datastore/);
            assert.throws(() => k3sSettings({ ...firstServer, meshAddress: "0.0.0.0" }), /wildcard or loopback/);
            assert.throws(() => k3sSettings({ ...agent, serverUrl: "http://10.0.0.4:6443" }), /must look like https/);
            assert.throws(() => k3sSettings({ ...agent, serverUrl: "https://0.0.0.0:6443" }), /wildcard/);
            assert.throws(() => k3sSettings({ ...firstServer, nodeName: "Node_1" }), /RFC 1123/);
            assert.throws(() => k3sSettings({ ...firstServer, version: "1.36.1" }), /release tag/);
            assert.throws(() => k3sSettings({ ...firstServer, releaseBaseUrl: "https://x/'; reboot; '" }), /releaseBaseUrl/);
            assert.throws(() => k3sSettings({ ...firstServer, clusterCidr: "10.42.0.0" }), /not a CIDR/);
            assert.throws(() => k3sSettings({ ...firstServer, tlsSans: ["bad name"] }), /neither an IP address nor a DNS name/);
        });

        it("reads an external datastore endpoint from its own 0600 drop-in, never from config.yaml", () => {
            assert.ok(!renderK3sConfig(externalDatastoreServer).includes("datastore"));
            const endpoint = `postgres://k3s:p"a'ss$%\\word@db.internal:5432/k3s`;
            const config = renderDatastoreConfig(endpoint);
            assert.equal((parseYaml(config) as Record<string, string>)["datastore-endpoint"], endpoint, "quoted losslessly (JSON strings are YAML)");
        });

        it("pins the server's CA in an agent's join token", () => {
            const hash = createHash("sha256").update("ca").digest("hex");
            assert.equal(agentJoinToken(hash, "abc123"), `K10${hash}::node:abc123`);
            assert.throws(() => agentJoinToken("not-a-hash", "abc123"), /SHA256/);
        });
    });

    describe("k3s systemd unit", () => {
        // systemd-analyze verify checks that ExecStart's binary exists, and /usr/local/bin/k3s exists
        // on no test machine. A private mount namespace (in a user namespace, so no root needed) puts a
        // stub k3s on a tmpfs over /usr/local/bin that nobody else sees; everything else (modprobe, nft,
        // network-online.target, wg-quick@.service) is the real system's. ZeroTier is not packaged in
        // Debian, so a stub zerotier-one.service comes from SYSTEMD_UNIT_PATH (trailing ':' keeps the
        // default search path). systemd only warns about bad lines and still exits 0, so any output fails.
        function systemdVerify(unitPath: string, content: string): string {
            const dir = scratch("k3s-unit-");
            const unitFile = join(dir, unitPath.split("/").pop()!);
            writeFileSync(unitFile, content);
            const stubUnits = join(dir, "stub-units");
            mkdirSync(stubUnits);
            writeFileSync(join(stubUnits, "zerotier-one.service"), "[Unit]\nDescription=stub ZeroTier\n\n[Service]\nExecStart=/bin/true\n");
            const inNamespace =
                'mount -t tmpfs hybrid-k3s-stub /usr/local/bin && printf "#!/bin/sh\\n" > /usr/local/bin/k3s && chmod 0755 /usr/local/bin/k3s && exec systemd-analyze verify "$1"';
            const run = spawnSync("unshare", ["--user", "--map-root-user", "--mount", "sh", "-c", inNamespace, "verify", unitFile], {
                env: { ...process.env, SYSTEMD_UNIT_PATH: `${stubUnits}:` },
                encoding: "utf8",
            });
            return `${run.error ?? ""}${run.stdout}${run.stderr}`.trim() + (run.status === 0 ? "" : `\n(exit status ${run.status})`);
        }

        const units: [string, K3sNodeFacts, string][] = [
            ["first server", firstServer, "/etc/systemd/system/k3s.service"],
            ["joining HA server", joiningServer, "/etc/systemd/system/k3s.service"],
            ["agent", agent, "/etc/systemd/system/k3s-agent.service"],
            ["agent on ZeroTier", zerotierAgent, "/etc/systemd/system/k3s-agent.service"],
        ];
        for (const [title, node, path] of units) {
            it(`renders a ${title} unit that systemd-analyze verify accepts without a word`, () => {
                const unit = renderK3sUnit(node);
                assert.equal(unit.path, path);
                assert.equal(systemdVerify(unit.path, unit.content), "");
            });
        }

        it("fails verification on a broken line (the check above can fail)", () => {
            const unit = renderK3sUnit(firstServer);
            const broken = unit.content.replace("KillMode=process", "KillMode process");
            assert.match(systemdVerify(unit.path, broken), /Missing '='/);
        });

        it("starts after our firewall and the mesh, requires the mesh, loads our ruleset first, and keeps ExecStart short", () => {
            const { content } = renderK3sUnit(zerotierAgent);
            const unitSection = content.slice(content.indexOf("\n[Unit]\n"), content.indexOf("\n[Install]\n"));
            assert.match(unitSection, /^After=network-online\.target hybrid-k3s-firewall\.service zerotier-one\.service$/m);
            assert.match(unitSection, /^Requires=zerotier-one\.service$/m);
            assert.match(content, /^Type=notify$/m);
            assert.ok(content.indexOf("ExecStartPre=/usr/sbin/nft -f /etc/hybrid-k3s/firewall.nft") < content.indexOf("ExecStart="));
            assert.match(content, /^ExecStart=\/usr\/local\/bin\/k3s agent$/m, "settings live in config.yaml");
        });

        it("keeps tokens out of the unit and the environment", () => {
            for (const node of [firstServer, joiningServer, agent]) {
                const { content } = renderK3sUnit(node);
                assert.doesNotMatch(content, /--token|token-file|\/etc\/rancher\/k3s\/(agent-)?token|K3S_TOKEN|^Environment=/m);
            }
        });
    });

    describe("kubeconfigForMesh", () => {
        // What k3s writes with bind-address set: the server at that address (writeKubeConfig).
        const k3sYaml = `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTi0=
    server: https://10.0.0.4:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
    client-certificate-data: Y2VydA==
    client-key-data: a2V5
`;

        it("keeps the bind address k3s wrote, and names everything after the cluster", () => {
            const config = kubeconfigForMesh(k3sYaml, "10.0.0.4", "hybrid");
            assert.match(config, /^ {4}server: https:\/\/10\.0\.0\.4:6443$/m);
            assert.doesNotMatch(config, /\bdefault\b/);
            assert.equal(config.match(/\bhybrid\b/g)?.length, 6);
            assert.match(config, /^current-context: hybrid$/m);
            assert.match(config, /client-key-data: a2V5/);
            assert.equal(config.split("\n").length, k3sYaml.split("\n").length);
        });

        it("rewrites a loopback server to the mesh address", () => {
            const loopback = k3sYaml.replace("https://10.0.0.4:6443", "https://127.0.0.1:6443");
            assert.match(kubeconfigForMesh(loopback, "10.0.0.4", "hybrid"), /^ {4}server: https:\/\/10\.0\.0\.4:6443$/m);
        });

        it("refuses a kubeconfig from another server, or input that is not k3s's", () => {
            assert.throws(() => kubeconfigForMesh(k3sYaml, "10.0.0.5", "hybrid"), /no `server: https:\/\/10\.0\.0\.5:6443` line/);
            assert.throws(
                () => kubeconfigForMesh(kubeconfigForMesh(k3sYaml, "10.0.0.4", "hybrid"), "10.0.0.4", "hybrid"),
                /names no cluster, context or user "default"/,
            );
            assert.throws(() => kubeconfigForMesh(k3sYaml, "0.0.0.0", "hybrid"), /wildcard/);
            assert.throws(() => kubeconfigForMesh(k3sYaml, "10.0.0.4", "Hybrid Cluster"), /RFC 1123/);
        });
    });
});
