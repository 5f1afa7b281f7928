// The real ZeroTier Central authorization step (centralAuthorizeScript, run with sh and the real
// curl) against a stand-in Central: a local HTTP server that follows Central's documented API
// (docs.zerotier.com/openapi/central/v1.json): `Authorization: token <t>`; GET /api/v1/network/{id}
// answers the network with config.routes; POST /api/v1/network/{id} updates its config; POST
// /api/v1/network/{id}/member/{memberId} sets the member's name and config (authorized, ipAssignments).
import assert from "node:assert/strict";
import { spawn, spawnSync } from "child_process";
import * as http from "http";
import { AddressInfo } from "net";
import { centralAuthorizeScript, CentralAuthorizeFacts, ZerotierRoute } from "../../components/render/zerotier";

const token = "zt-token-7c1f9e0b4d2a";
const networkId = "8056c2e21c000001";

interface Member {
    name?: string;
    config: { authorized: boolean; ipAssignments: string[] };
}

interface StandIn {
    url: string;
    routes: ZerotierRoute[] | undefined;
    members: Map<string, Member>;
    /** Every request as `METHOD path`, with the Authorization header it carried. */
    requests: Array<{ line: string; authorization?: string; body: string }>;
    /** Answer every request with this status instead (401, 404, 503...). */
    failWith?: number;
    close(): Promise<void>;
}

/** A stand-in for ZeroTier Central: one network, its managed routes, its members. */
async function startCentral(routes: ZerotierRoute[]): Promise<StandIn> {
    const state: Omit<StandIn, "url" | "close"> = { routes: routes.map((r) => ({ ...r })), members: new Map(), requests: [] };
    const server = http.createServer((req, res) => {
        let body = "";
        req.on("data", (chunk: Buffer) => (body += chunk.toString()));
        req.on("end", () => {
            state.requests.push({ line: `${req.method} ${req.url}`, authorization: req.headers.authorization, body });
            const send = (status: number, value: unknown) => {
                res.writeHead(status, { "Content-Type": "application/json" });
                res.end(JSON.stringify(value, null, 2));
            };
            if (state.failWith) return send(state.failWith, { message: "stand-in failure" });
            if (req.headers.authorization !== `token ${token}`) return send(401, { message: "Unauthorized" });
            const network = new RegExp(`^/api/v1/network/${networkId}$`).test(req.url ?? "");
            const member = new RegExp(`^/api/v1/network/${networkId}/member/([0-9a-f]{10})$`).exec(req.url ?? "");
            const networkJson = () => ({ id: networkId, config: { name: "office", private: true, routes: state.routes, ipAssignmentPools: [] } });
            if (req.method === "GET" && network) return send(200, networkJson());
            if (req.method === "POST" && network) {
                const update = JSON.parse(body) as { config?: { routes?: ZerotierRoute[] } };
                if (update.config?.routes) state.routes = update.config.routes;
                return send(200, networkJson());
            }
            if (req.method === "POST" && member) {
                const update = JSON.parse(body) as Member;
                const previous = state.members.get(member[1]) ?? { config: { authorized: false, ipAssignments: [] } };
                const next = { name: update.name ?? previous.name, config: { ...previous.config, ...update.config } };
                state.members.set(member[1], next);
                return send(200, { id: `${networkId}-${member[1]}`, networkId, nodeId: member[1], ...next });
            }
            send(404, { message: "not found" });
        });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const standIn = state as StandIn;
    standIn.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    standIn.close = () => new Promise((resolve) => server.close(() => resolve()));
    return standIn;
}

/** Runs the step as the machine running Pulumi does: `sh -c <script>`, the header line on stdin. */
function runStep(script: string, stdin: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
        const child = spawn("sh", ["-c", script], { stdio: ["pipe", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
        child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
        child.on("close", (code) => resolve({ code, stdout, stderr }));
        child.stdin.end(stdin);
    });
}

describe("ZeroTier Central authorization (stand-in Central, the real script and curl)", function () {
    this.timeout(30000);
    let central: StandIn | undefined;
    afterEach(async () => central?.close());

    const facts = (overrides: Partial<CentralAuthorizeFacts> = {}): CentralAuthorizeFacts => ({
        centralUrl: central!.url,
        networkId,
        memberId: "3a4f0c21b7",
        meshAddress: "10.147.17.11",
        name: "rack-1",
        routes: [{ target: "10.147.17.0/24" }],
        createRoutes: false,
        ...overrides,
    });
    const header = `Authorization: token ${token}`;

    it("stand-in: authorizes the member, pins its address and names it; the token goes only into the header", async () => {
        central = await startCentral([{ target: "10.147.17.0/24" }]);
        const run = await runStep(centralAuthorizeScript(facts()), header);
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(central.members.get("3a4f0c21b7"), { name: "rack-1", config: { authorized: true, ipAssignments: ["10.147.17.11"] } });
        assert.deepEqual(
            central.requests.map((r) => [r.line, r.authorization]),
            [
                [`GET /api/v1/network/${networkId}`, `token ${token}`],
                [`POST /api/v1/network/${networkId}/member/3a4f0c21b7`, `token ${token}`],
            ],
        );
        assert.equal(run.stdout, `hybrid-k3s: authorized rack-1 (member 3a4f0c21b7) at 10.147.17.11 on ZeroTier network ${networkId}\n`);
        assert.ok(!centralAuthorizeScript(facts()).includes(token), "the token is never in the command");
    });

    it("stand-in: a network without the mesh's managed route fails naming the fix, and authorizes nobody", async () => {
        central = await startCentral([{ target: "192.168.1.0/24", via: "10.147.17.11" }]);
        const run = await runStep(centralAuthorizeScript(facts()), header);
        assert.equal(run.code, 1);
        assert.match(
            run.stderr,
            new RegExp(`ZeroTier network ${networkId} lacks the managed routes 10.147.17.0/24, .*pulumi config set zerotierCreateRoutes true`),
        );
        assert.equal(central.members.size, 0);
        assert.deepEqual(central.routes, [{ target: "192.168.1.0/24", via: "10.147.17.11" }], "nothing changed");
    });

    it("stand-in: with zerotierCreateRoutes it adds exactly the missing routes, keeping the network's own", async () => {
        central = await startCentral([{ target: "172.16.5.0/24", via: "10.147.17.40" }]);
        const routes = [{ target: "10.147.17.0/24" }, { target: "192.168.1.0/24", via: "10.147.17.11" }];
        const run = await runStep(centralAuthorizeScript(facts({ routes, createRoutes: true })), header);
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(central.routes, [
            { target: "172.16.5.0/24", via: "10.147.17.40" },
            { target: "10.147.17.0/24", via: null },
            { target: "192.168.1.0/24", via: "10.147.17.11" },
        ]);
        assert.match(run.stdout, /added managed routes to ZeroTier network 8056c2e21c000001: 10.147.17.0\/24 192.168.1.0\/24 via 10.147.17.11\n/);
        assert.equal(central.members.get("3a4f0c21b7")?.config.authorized, true);
        // A second run finds every route and changes only the member.
        const again = await runStep(centralAuthorizeScript(facts({ routes, createRoutes: true })), header);
        assert.equal(again.code, 0, again.stderr);
        assert.deepEqual(
            central.requests.slice(-2).map((r) => r.line),
            [`GET /api/v1/network/${networkId}`, `POST /api/v1/network/${networkId}/member/3a4f0c21b7`],
        );
    });

    it("stand-in: a LAN route via another member does not count as the one the cluster needs", async () => {
        central = await startCentral([{ target: "10.147.17.0/24" }, { target: "192.168.1.0/24", via: "10.147.17.99" }]);
        const run = await runStep(
            centralAuthorizeScript(facts({ routes: [{ target: "10.147.17.0/24" }, { target: "192.168.1.0/24", via: "10.147.17.11" }] })),
            header,
        );
        assert.equal(run.code, 1);
        assert.match(run.stderr, /lacks the managed routes 192.168.1.0\/24 via 10.147.17.11,/);
    });

    for (const [status, expected] of [
        [401, /ZeroTier Central refused the API token \(HTTP 401\) to read network 8056c2e21c000001; .*pulumi config set --secret zerotierApiToken/],
        [403, /ZeroTier Central refused the API token \(HTTP 403\)/],
        [404, /ZeroTier Central has no network 8056c2e21c000001 for this token \(HTTP 404\) .*check zerotierNetworkId/],
        [503, /ZeroTier Central failed \(HTTP 503\) to read network 8056c2e21c000001; nothing was changed by this step, run pulumi up again later/],
    ] as const) {
        it(`stand-in: HTTP ${status} fails the step with a clear message, and the token appears in no output`, async () => {
            central = await startCentral([{ target: "10.147.17.0/24" }]);
            central.failWith = status;
            const run = await runStep(centralAuthorizeScript(facts()), header);
            assert.equal(run.code, 1);
            assert.match(run.stderr, expected);
            assert.equal(run.stdout, "");
            assert.ok(!`${run.stdout}${run.stderr}`.includes(token), "token leaked");
        });
    }

    it("stand-in: a wrong token is refused by Central (401) and never echoed", async () => {
        central = await startCentral([{ target: "10.147.17.0/24" }]);
        const run = await runStep(centralAuthorizeScript(facts()), "Authorization: token wrong-token-1234");
        assert.equal(run.code, 1);
        assert.match(run.stderr, /refused the API token \(HTTP 401\)/);
        assert.ok(!`${run.stdout}${run.stderr}`.includes("wrong-token-1234"));
    });

    it("fails clearly when Central cannot be reached at all", async () => {
        central = await startCentral([]);
        const url = central.url;
        const script = centralAuthorizeScript(facts());
        await central.close();
        central = undefined;
        const run = await runStep(script, header);
        assert.equal(run.code, 1);
        assert.match(run.stderr, new RegExp(`could not reach ZeroTier Central at ${url} to read network`));
        assert.ok(!run.stderr.includes(token));
    });

    it("passes shellcheck", () => {
        const script = centralAuthorizeScript({
            centralUrl: "https://api.zerotier.com",
            networkId,
            memberId: "3a4f0c21b7",
            meshAddress: "10.147.17.11",
            name: "rack-1",
            routes: [{ target: "10.147.17.0/24" }, { target: "192.168.1.0/24", via: "10.147.17.11" }],
            createRoutes: true,
        });
        const result = spawnSync("shellcheck", ["-s", "sh", "-"], { input: `#!/bin/sh\n${script}\n`, encoding: "utf8" });
        assert.equal(result.status, 0, result.stdout);
    });
});
