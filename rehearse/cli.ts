// `npm run rehearse -- --stack <name> [--scenario <name>|all] [--k3s-binary PATH]` (root): boots a
// Debian machine per host and rehearses the stack's `pulumi up`s on them. Exit 1 on any failed check;
// the last line is `rehearsal: N/N checks passed (<scenarios>)`.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { formatTable } from "../test/net/topology";
import { requireRoot } from "../test/net/netns";
import { CheckLog } from "./checks";
import { ensureBaseImage } from "./image";
import { RehearsalLab } from "./lab";
import { Rehearsal } from "./rehearsal";
import { Scenario, scenarios } from "./scenarios";
import { laterScenarios } from "./lifecycle";
import { run } from "./shell";

interface Options {
    stack: string;
    /** Scenario names, or ["all"]. */
    scenarios: string[];
    k3sBinary?: string;
}

const allScenarios: Scenario[] = [...scenarios, ...laterScenarios];
const usage = `usage: npm run rehearse -- [--stack prod] [--scenario all|<name>[,<name>...]: ${allScenarios.map((s) => s.name).join(", ")}] [--k3s-binary PATH]`;

function parseArgs(argv: string[]): Options {
    const options: Options = { stack: "prod", scenarios: ["all"] };
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i];
        if (arg === "--stack" || arg === "-s") options.stack = argv[++i];
        else if (arg === "--scenario") options.scenarios = (argv[++i] ?? "").split(",");
        else if (arg === "--k3s-binary") options.k3sBinary = argv[++i];
        else throw new Error(`unknown argument ${arg}; ${usage}`);
    }
    const unknown = options.scenarios.filter((name) => name !== "all" && !allScenarios.some((s) => s.name === name));
    if (unknown.length > 0) throw new Error(`unknown scenario ${unknown.join(", ")}; ${usage}`);
    if (options.k3sBinary && !existsSync(options.k3sBinary)) throw new Error(`--k3s-binary ${options.k3sBinary} does not exist`);
    return options;
}

/** Host tools the rehearsal runs, by Debian package; missing ones are installed (and said so). */
const hostPackages: Record<string, string> = {
    "systemd-nspawn": "systemd-container",
    debootstrap: "debootstrap",
    ssh: "openssh-client",
    "ssh-keygen": "openssh-client",
    ip: "iproute2",
    nft: "nftables",
    "wireguard-go": "wireguard-go",
    wg: "wireguard-tools",
    socat: "socat",
    cc: "gcc",
    openssl: "openssl",
    nsenter: "util-linux",
};

async function ensureHostTools(log: (line: string) => void): Promise<void> {
    const missing = new Set<string>();
    for (const [tool, pkg] of Object.entries(hostPackages)) {
        if ((await run("sh", ["-c", `command -v ${tool}`], { allowFailure: true })).code !== 0) missing.add(pkg);
    }
    if (!existsSync("/usr/lib/x86_64-linux-gnu/libc.a") && !existsSync("/usr/lib/aarch64-linux-gnu/libc.a")) missing.add("libc6-dev");
    if (missing.size === 0) return;
    log(`installing missing host packages: ${[...missing].join(" ")} (apt-get)`);
    await run("apt-get", ["update", "-qq"]);
    await run("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...missing]);
}

/** Memory in use on the host (MemTotal - MemAvailable), in MiB. */
function memoryInUse(): number {
    const info = readFileSync("/proc/meminfo", "utf8");
    const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(info)?.[1] ?? 0);
    return Math.round((kib("MemTotal") - kib("MemAvailable")) / 1024);
}

async function main(): Promise<number> {
    const options = parseArgs(process.argv.slice(2));
    requireRoot("the rehearsal");
    const log = (line: string) => console.log(line);
    await ensureHostTools(log);
    const imageStarted = Date.now();
    const image = await ensureBaseImage(log);
    log(`base image: ${image} (${((Date.now() - imageStarted) / 1000).toFixed(0)} s)`);

    const requested = options.scenarios.includes("all")
        ? allScenarios
        : [scenarios[0], ...allScenarios.filter((s) => options.scenarios.includes(s.name) && s !== scenarios[0])];
    const baseline = memoryInUse();
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, memoryInUse())), 1000);
    const lab = await RehearsalLab.create(image);
    const checks = new CheckLog(log);
    const figures: string[][] = [];
    const ran: string[] = [];
    try {
        const rehearsal = await Rehearsal.start(options.stack, lab, checks, log, options.k3sBinary);
        rehearsal.beforeFirstUp = requested.flatMap((s) => (s.beforeFirstUp ? [s.beforeFirstUp] : []));
        for (const scenario of requested) {
            log(`\n== ${scenario.name}`);
            checks.scenario = scenario.name;
            ran.push(scenario.name);
            const started = Date.now();
            await checks.check(`${scenario.name} ran to the end`, () => scenario.run(rehearsal));
            const seconds = ((Date.now() - started) / 1000).toFixed(0);
            figures.push([scenario.name, seconds, `${checks.passed(scenario.name)}/${checks.count(scenario.name)}`]);
            if (scenario === scenarios[0] && checks.passed(scenario.name) < checks.count(scenario.name) && !rehearsal.applied) break;
        }
    } finally {
        clearInterval(sampler);
        lab.teardown();
    }
    log(
        formatTable(
            `rehearsal of stack ${options.stack} (booted machines, ${options.k3sBinary ? "real k3s binary" : "stand-in k3s"})`,
            ["scenario", "seconds", "checks"],
            figures,
        ),
    );
    log(`  peak memory in use: ${peak - baseline} MiB above the ${baseline} MiB in use at start`);
    const failed = checks.results.filter((r) => !r.ok);
    for (const f of failed) log(`  FAILED [${f.scenario}] ${f.name}: ${f.detail.split("\n")[0]}`);
    log(`rehearsal: ${checks.passed()}/${checks.count()} checks passed (${ran.join(", ")})`);
    return failed.length === 0 ? 0 : 1;
}

if (require.main === module) {
    main().then(
        (code) => process.exit(code),
        (error: unknown) => {
            console.error(error instanceof Error ? (error.stack ?? error.message) : error);
            process.exit(1);
        },
    );
}

export const cliPath = join(__dirname, "cli.ts");
