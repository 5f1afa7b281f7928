// The edge proxy configs are checked by the real haproxy and nginx binaries (Debian: haproxy, nginx,
// libnginx-mod-stream), exactly as rendered for the host: no path is rewritten for the test, because
// neither check writes a pid or log file nor binds a port (proven below), so runs can overlap freely.
import { strict as assert } from "node:assert";
import { spawnSync, SpawnSyncReturns } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { AddressInfo, createServer, Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
    EdgeFacts,
    EdgeKind,
    edgeConfigPath,
    edgeInstallScript,
    edgeSendsProxyProtocol,
    renderHaproxyConfig,
    renderNginxStreamConfig,
} from "../../components/render/edge";

/** Seed 000's ingress nodes, deliberately not in name order. */
const seedFacts: EdgeFacts = {
    edgeName: "phy01",
    backends: [
        { name: "white-amd", meshAddress: "10.0.0.2" },
        { name: "k3s-soh-re", meshAddress: "10.0.0.4" },
        { name: "lenovo-laptop", meshAddress: "10.0.0.6" },
    ],
    httpNodePort: 30080,
    httpsNodePort: 30443,
    listenHttp: 80,
    listenHttps: 443,
};

const factVariants: [string, EdgeFacts][] = [
    ["the seed's three ingress nodes", seedFacts],
    ["one ingress node", { ...seedFacts, backends: [seedFacts.backends[0]] }],
    [
        "an IPv6 node, stats and a custom check interval",
        {
            ...seedFacts,
            backends: [...seedFacts.backends, { name: "v6-node", meshAddress: "fd7a:115c::7" }],
            healthCheckInterval: "2s",
            statsPort: 8404,
        },
    ],
];

/** A shared VPS: the owner's web server moved to loopback ports, two cluster apps. */
const sharedFacts: EdgeFacts = {
    ...seedFacts,
    fallback: { http: "127.0.0.1:8080", https: "127.0.0.1:8443" },
    appHosts: ["shop.example.com", "App.Example.com", "shop.example.com"],
};

const fallbackVariants: [string, EdgeFacts][] = [
    ["a fallback and two app hosts", sharedFacts],
    [
        "a fallback on another machine and on IPv6, no app hosts yet",
        { ...sharedFacts, fallback: { http: "192.168.1.20:80", https: "[::1]:8443" }, appHosts: [] },
    ],
];

let workDir: string;
let fileCount = 0;

before(() => {
    workDir = mkdtempSync(join(tmpdir(), "edge-render-"));
});
after(() => rmSync(workDir, { recursive: true, force: true }));

function writeTemp(name: string, content: string): string {
    const path = join(workDir, `${fileCount++}-${name}`);
    writeFileSync(path, content);
    return path;
}

/** -dW turns every warning into an error: a config that only warns is not accepted either. */
function haproxyCheck(config: string): SpawnSyncReturns<string> {
    return spawnSync("haproxy", ["-c", "-dW", "-f", writeTemp("haproxy.cfg", config)], { encoding: "utf8" });
}

/**
 * No -p: Debian's module loader (modules-enabled/50-mod-stream.conf) names the module relative to the
 * compiled-in prefix, as on the host. -e stderr keeps the startup log off /var/log.
 */
function nginxCheck(config: string): SpawnSyncReturns<string> {
    return spawnSync("nginx", ["-t", "-e", "stderr", "-c", writeTemp("nginx.conf", config)], { encoding: "utf8" });
}

function assertAccepted(result: SpawnSyncReturns<string>): void {
    assert.equal(result.status, 0, `rejected:\n${result.stdout}${result.stderr}`);
}

function assertRejected(result: SpawnSyncReturns<string>, why: RegExp): void {
    assert.notEqual(result.status, 0, "a broken config was accepted");
    assert.match(result.stdout + result.stderr, why);
}

/** Config lines without comments, blank lines or indentation. */
function directives(config: string): string[] {
    return config
        .split("\n")
        .map((line) => line.replace(/#.*$/, "").trim())
        .filter((line) => line !== "");
}

/** HAProxy sections ("frontend http", "backend ingress_http", ...) with their directives. */
function haproxySections(config: string): Map<string, string[]> {
    const sections = new Map<string, string[]>();
    let current: string[] = [];
    for (const line of config.split("\n")) {
        if (/^[a-z]/.test(line)) sections.set(line.trim(), (current = []));
        else if (line.replace(/#.*$/, "").trim() !== "") current.push(line.replace(/#.*$/, "").trim());
    }
    return sections;
}

function sortedBackends(f: EdgeFacts) {
    return [...f.backends].sort((a, b) => (a.name < b.name ? -1 : 1));
}

function addressOf(meshAddress: string, port: number): string {
    return meshAddress.includes(":") ? `[${meshAddress}]:${port}` : `${meshAddress}:${port}`;
}

const routesOf = (f: EdgeFacts) => [
    { name: "http", listen: f.listenHttp, nodePort: f.httpNodePort },
    { name: "https", listen: f.listenHttps, nodePort: f.httpsNodePort },
];

/** Words that would mean TLS is terminated at the edge (or a PROXY protocol header sent). */
const terminationWords = /\b(ssl|crt|ca-file|ssl_certificate|proxy_ssl)\b/;
const proxyProtocolWords = /\b(send-proxy(-v2)?|proxy_protocol)\b/;

describe("edge: HAProxy config", () => {
    for (const [label, facts] of [...factVariants, ...fallbackVariants]) {
        it(`passes haproxy -c without warnings: ${label}`, () => {
            assertAccepted(haproxyCheck(renderHaproxyConfig(facts)));
        });
    }

    it("the check catches a broken config", () => {
        const broken = renderHaproxyConfig(seedFacts).replace("balance roundrobin", "balance round-robin");
        assertRejected(haproxyCheck(broken), /balance only supports/);
    });

    it("forwards 80 and 443 as TCP, round robin, with a health check on every ingress node's NodePort", () => {
        const facts = factVariants[2][1];
        const sections = haproxySections(renderHaproxyConfig(facts));
        assert.ok(sections.get("defaults")?.includes("mode tcp"));
        for (const route of routesOf(facts)) {
            assert.deepEqual(sections.get(`frontend ${route.name}`), [`bind :${route.listen}`, "option tcplog", `default_backend ingress_${route.name}`]);
            assert.deepEqual(sections.get(`backend ingress_${route.name}`), [
                "balance roundrobin",
                ...sortedBackends(facts).map((b) => `server ${b.name} ${addressOf(b.meshAddress, route.nodePort)} check`),
            ]);
        }
        assert.ok(sections.get("defaults")?.includes("default-server inter 2s fall 3 rise 2"));
    });

    it("does not terminate TLS, and sends PROXY protocol v2 to the ingress nodes only when asked, never to the fallback", () => {
        for (const [, facts] of [...factVariants, ...fallbackVariants]) {
            for (const line of directives(renderHaproxyConfig(facts))) assert.doesNotMatch(line, /\b(ssl|crt|ca-file|send-proxy(-v2)?)\b/);
            for (const line of directives(renderHaproxyConfig({ ...facts, proxyProtocol: true }))) {
                if (line.startsWith("server fallback ")) assert.doesNotMatch(line, proxyProtocolWords);
                else if (line.startsWith("server ")) assert.match(line, / check send-proxy-v2$/);
            }
            assertAccepted(haproxyCheck(renderHaproxyConfig({ ...facts, proxyProtocol: true })));
        }
    });

    it("with a fallback, routes the app hosts by SNI (443) and Host (80) to the ingress nodes and every other name to the fallback", () => {
        const sections = haproxySections(renderHaproxyConfig(sharedFacts));
        assert.deepEqual(sections.get("frontend https"), [
            "bind :443",
            "option tcplog",
            "tcp-request inspect-delay 5s",
            "tcp-request content accept if { req.ssl_hello_type 1 }",
            "use_backend ingress_https if { req.ssl_sni -i app.example.com shop.example.com }",
            "default_backend fallback_https",
        ]);
        assert.deepEqual(sections.get("frontend http"), [
            "bind :80",
            "option tcplog",
            "tcp-request inspect-delay 5s",
            "tcp-request content accept if HTTP",
            "use_backend ingress_http if { req.hdr(host),field(1,:) -i app.example.com shop.example.com }",
            "default_backend fallback_http",
        ]);
        assert.deepEqual(sections.get("backend fallback_https"), ["server fallback 127.0.0.1:8443"]);
        assert.deepEqual(sections.get("backend fallback_http"), ["server fallback 127.0.0.1:8080"]);
        // No app host yet: everything goes to the fallback, and the ingress backends stay ready.
        const empty = haproxySections(renderHaproxyConfig({ ...sharedFacts, appHosts: [] }));
        assert.deepEqual(empty.get("frontend https")!.slice(-2), ["tcp-request content accept if { req.ssl_hello_type 1 }", "default_backend fallback_https"]);
    });

    it("binds stats to loopback only, and only when asked", () => {
        const binds = (f: EdgeFacts) => directives(renderHaproxyConfig(f)).filter((line) => line.startsWith("bind "));
        assert.deepEqual(binds(seedFacts), ["bind :80", "bind :443"]);
        assert.deepEqual(binds({ ...seedFacts, statsPort: 8404 }), ["bind :80", "bind :443", "bind 127.0.0.1:8404"]);
    });
});

describe("edge: NGINX stream config", () => {
    for (const [label, facts] of [...factVariants, ...fallbackVariants]) {
        it(`passes nginx -t: ${label}`, () => {
            assertAccepted(nginxCheck(renderNginxStreamConfig(facts)));
        });
    }

    it("the check catches a broken config", () => {
        const typo = renderNginxStreamConfig(seedFacts).replace("proxy_pass ingress_http;", "proxy_pas ingress_http;");
        assertRejected(nginxCheck(typo), /unknown directive "proxy_pas"/);
    });

    it("needs the stream module its includes load (libnginx-mod-stream on Debian)", () => {
        const withoutModules = renderNginxStreamConfig(seedFacts).replace(/^include .*$/gm, "");
        assertRejected(nginxCheck(withoutModules), /unknown directive "stream"/);
    });

    it("forwards 80 and 443 round robin to every ingress node's NodePort, with passive health checks", () => {
        const facts = factVariants[2][1];
        const config = renderNginxStreamConfig(facts);
        for (const route of routesOf(facts)) {
            const upstream = config.match(new RegExp(`upstream ingress_${route.name} \\{([^}]*)\\}`));
            assert.ok(upstream, `no upstream ingress_${route.name}`);
            assert.deepEqual(directives(upstream[1]), [
                // One shared state for all workers, or each worker keeps its own round robin and failure count.
                `zone ingress_${route.name} 64k;`,
                ...sortedBackends(facts).map((b) => `server ${addressOf(b.meshAddress, route.nodePort)} max_fails=3 fail_timeout=2s;`),
            ]);
            assert.match(config, new RegExp(`server \\{\\s*listen ${route.listen};\\s*proxy_pass ingress_${route.name};\\s*\\}`));
        }
        // Round robin is the default: no other balancing method may be set.
        assert.doesNotMatch(config, /^\s*(least_conn|hash|ip_hash|random)\b/m);
    });

    it("with a fallback, routes 443 by SNI in the stream block and 80 by Host in an http block, the rest to the fallback", () => {
        const config = renderNginxStreamConfig(sharedFacts);
        const stream = config.slice(config.indexOf("stream {"), config.indexOf("\nhttp {"));
        const http = config.slice(config.indexOf("\nhttp {"));
        assert.deepEqual(directives(stream.slice(stream.indexOf("map $ssl_preread_server_name"))).slice(0, 6), [
            "map $ssl_preread_server_name $edge_https {",
            "hostnames;",
            "default fallback_https;",
            "app.example.com ingress_https;",
            "shop.example.com ingress_https;",
            "}",
        ]);
        assert.match(stream, /server \{\s*listen 443;\s*ssl_preread on;\s*proxy_pass \$edge_https;\s*\}/);
        assert.match(stream, /upstream fallback_https \{\s*server 127\.0\.0\.1:8443;\s*\}/);
        assert.doesNotMatch(stream, /listen 80;/);
        assert.match(
            http,
            /map \$host \$edge_http \{\s*hostnames;\s*default fallback_http;\s*app\.example\.com ingress_http;\s*shop\.example\.com ingress_http;\s*\}/,
        );
        assert.match(http, /upstream fallback_http \{\s*server 127\.0\.0\.1:8080;\s*\}/);
        assert.match(http, /listen 80;[\s\S]*proxy_pass http:\/\/\$edge_http;/);
        assert.ok(directives(http).includes("proxy_set_header Host $http_host;"), "the request reaches its server with its own Host");
    });

    it("has only a stream block and does not terminate TLS", () => {
        for (const [, facts] of factVariants) {
            const config = renderNginxStreamConfig(facts);
            assert.doesNotMatch(config, /^\s*http\s*\{/m);
            for (const line of directives(config)) assert.doesNotMatch(line, terminationWords);
            // NGINX writes only PROXY v1, per server block: it sends none (edgeSendsProxyProtocol).
            for (const line of directives(renderNginxStreamConfig({ ...facts, proxyProtocol: true }))) assert.doesNotMatch(line, proxyProtocolWords);
        }
    });

    it("PROXY protocol: HAProxy edges send it and the gateway reads it; NGINX edges neither", () => {
        assert.equal(edgeSendsProxyProtocol("haproxy"), true);
        assert.equal(edgeSendsProxyProtocol("nginx"), false);
    });
});

describe("edge: rendering", () => {
    it("is deterministic: backend order does not matter", () => {
        const reversed = { ...seedFacts, backends: [...seedFacts.backends].reverse() };
        assert.equal(renderHaproxyConfig(reversed), renderHaproxyConfig(seedFacts));
        assert.equal(renderNginxStreamConfig(reversed), renderNginxStreamConfig(seedFacts));
    });

    const invalid: [string, Partial<EdgeFacts>, RegExp][] = [
        ["no ingress nodes", { backends: [] }, /no ingress nodes/],
        ["a node listed twice", { backends: [seedFacts.backends[0], seedFacts.backends[0]] }, /listed twice/],
        ["a hostname for an address", { backends: [{ name: "a", meshAddress: "node.example" }] }, /not an IP address/],
        ["config injection in an address", { backends: [{ name: "a", meshAddress: "10.0.0.2;\ninclude /x" }] }, /not an IP address/],
        ["a name with a space", { backends: [{ name: "a b", meshAddress: "10.0.0.2" }] }, /letters, digits/],
        ["the same public port twice", { listenHttps: 80 }, /both 80/],
        ["a port out of range", { httpNodePort: 70000 }, /httpNodePort must be an integer/],
        ["an interval in words", { healthCheckInterval: "5 seconds" }, /healthCheckInterval/],
        ["stats on a public port", { statsPort: 443 }, /collides/],
        ["a fallback that injects config", { fallback: { http: "127.0.0.1:8080;\ninclude /x", https: "127.0.0.1:8443" } }, /not host:port/],
        [
            "a fallback by DNS name (the proxy would not start without DNS)",
            { fallback: { http: "web.lan:80", https: "127.0.0.1:8443" } },
            /not host:port with an IP address/,
        ],
        ["an app host that is no DNS name", { fallback: sharedFacts.fallback, appHosts: ["app example.com"] }, /not a DNS name/],
    ];
    for (const [label, change, why] of invalid) {
        it(`rejects ${label}`, () => {
            assert.throws(() => renderHaproxyConfig({ ...seedFacts, ...change }), why);
            assert.throws(() => renderNginxStreamConfig({ ...seedFacts, ...change }), why);
        });
    }

    it("neither check binds the listen ports, so validating on a live edge is safe", async () => {
        // Two ports held by this test (ephemeral, so parallel runs do not collide); a check that
        // tried to bind them would fail with "address in use".
        const listen = () =>
            new Promise<Server>((resolve) => {
                const server = createServer();
                server.listen(0, "0.0.0.0", () => resolve(server));
            });
        const held = [await listen(), await listen()];
        try {
            const [listenHttp, listenHttps] = held.map((s) => (s.address() as AddressInfo).port);
            const facts = { ...seedFacts, listenHttp, listenHttps };
            assertAccepted(haproxyCheck(renderHaproxyConfig(facts)));
            assertAccepted(nginxCheck(renderNginxStreamConfig(facts)));
        } finally {
            await Promise.all(held.map((s) => new Promise((resolve) => s.close(resolve))));
        }
    });
});

describe("edge: install script", () => {
    const kinds: EdgeKind[] = ["haproxy", "nginx"];
    const validator: Record<EdgeKind, string> = {
        haproxy: `haproxy -c -q -f ${edgeConfigPath.haproxy}`,
        nginx: `nginx -t -q -c ${edgeConfigPath.nginx}`,
    };

    for (const kind of kinds) {
        it(`passes shellcheck -s sh: ${kind}`, () => {
            const result = spawnSync("shellcheck", ["-s", "sh", writeTemp(`${kind}.sh`, edgeInstallScript(kind))], { encoding: "utf8" });
            assert.equal(result.status, 0, result.stdout + result.stderr);
        });
    }

    /**
     * Runs the script against stub commands that record their calls: nothing is installed or
     * restarted on this machine. `withApt` false leaves only the stubs on PATH, as on a dnf host.
     * The script reads the real config path, which the haproxy and nginx packages provide here.
     */
    function runWithStubs(kind: EdgeKind, o: { withApt: boolean; validateExit: number }): { status: number | null; calls: string[] } {
        const stubs = join(workDir, `stubs-${fileCount++}`);
        mkdirSync(stubs);
        const callLog = join(stubs, "calls.log");
        const stub = (name: string, body = "") => {
            writeFileSync(join(stubs, name), `#!/bin/sh\necho "${name} $*" >>"$CALL_LOG"\n${body}\n`);
            chmodSync(join(stubs, name), 0o755);
        };
        stub("id", "echo 0");
        stub("systemctl");
        stub(kind, `exit ${o.validateExit}`);
        if (o.withApt) {
            stub("apt-get");
            stub("dpkg-query", "echo 'install ok installed'");
        } else {
            stub("rpm", "exit 1");
            stub("dnf");
            stub("selinuxenabled");
            stub("setsebool");
        }
        writeFileSync(callLog, "");
        const result = spawnSync("/bin/sh", [writeTemp(`${kind}.sh`, edgeInstallScript(kind))], {
            encoding: "utf8",
            env: { PATH: o.withApt ? `${stubs}:/usr/bin:/bin` : stubs, CALL_LOG: callLog },
        });
        const calls = readFileSync(callLog, "utf8")
            .split("\n")
            .filter((line) => line !== "" && !line.startsWith("id ") && !line.startsWith("dpkg-query "));
        return { status: result.status, calls };
    }

    for (const kind of kinds) {
        it(`validates before it reloads, and skips apt when installed (idempotent): ${kind}`, () => {
            assert.deepEqual(runWithStubs(kind, { withApt: true, validateExit: 0 }), {
                status: 0,
                calls: [validator[kind], `systemctl enable --quiet ${kind}`, `systemctl reload-or-restart ${kind}`],
            });
        });

        it(`leaves the running proxy alone when the config is invalid: ${kind}`, () => {
            assert.deepEqual(runWithStubs(kind, { withApt: true, validateExit: 1 }), { status: 1, calls: [validator[kind]] });
        });

        it(`installs with dnf and opens SELinux for the NodePorts: ${kind}`, () => {
            const { status, calls } = runWithStubs(kind, { withApt: false, validateExit: 0 });
            assert.equal(status, 0);
            assert.match(calls[0], new RegExp(`^rpm -q ${kind}`));
            assert.match(calls[1], new RegExp(`^dnf install -y -q ${kind}`));
            assert.equal(calls[2], "selinuxenabled ");
            assert.match(calls[3], /^setsebool -P \w+ on$/);
            assert.deepEqual(calls.slice(4), [validator[kind], `systemctl enable --quiet ${kind}`, `systemctl reload-or-restart ${kind}`]);
        });
    }
});
