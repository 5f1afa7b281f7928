// The offline plan: runs the program under Pulumi's mock runtime and shows, before anything touches
// a cloud, every file each host would receive, every resource, and the policy verdict.
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { parse as parseYaml } from "yaml";
import { ClusterSpec, parseClusterConfig, projectName, rawConfigFromPulumi, settings } from "../components/config";
import { parseBundle } from "../components/render/bundle";
import { evaluate, PolicyViolation } from "../policy/policies";
import { isSecretValue, PlanMocks, RecordedResource } from "./mocks";

export const projectDir = path.resolve(__dirname, "..");

/** The SDK's own "wait until the RPC queue drains" (what a real run does before exiting); internal, so not in its typings. */
const waitForRegistrations: () => Promise<void> = require("@pulumi/pulumi/runtime/settings").waitForRPCs;
/** The resource monitor the SDK talks to (the mock one once setMocks ran); internal, so not in its typings. */
const currentMonitor: () => ResourceMonitor = require("@pulumi/pulumi/runtime/settings").getMonitor;

/** Generated values come from this seed unless told otherwise: two plans of one config are byte-identical. */
export const defaultSeed = "hybrid-k3s";

/** The fields of the SDK's RegisterResourceRequest (proto/resource_pb) that the engine's step generator reads. */
interface RegisterResourceRequest {
    getType(): string;
    getName(): string;
    getParent(): string;
    getCustom(): boolean;
    getProvider(): string;
    getDependenciesList(): string[];
    getPropertydependenciesMap(): { entries(): Iterable<[string, { getUrnsList(): string[] }]> };
    getDeletebeforereplace(): boolean;
    getDeletebeforereplacedefined(): boolean;
    getReplaceonchangesList(): string[];
    getIgnorechangesList(): string[];
    getProtect(): boolean;
    getRetainondelete(): boolean;
    getDeletedwith(): string;
}

interface ResourceMonitor {
    registerResource(req: RegisterResourceRequest, callback: (err: unknown, resp: { getUrn(): string } | undefined) => void): void;
}

/** Resource options the engine's step generator acts on (pkg/resource/deploy/step_generator.go). */
export interface EngineOptions {
    /** Set only when the program set it (else the provider decides, as the engine's DeleteBeforeReplace *bool does). */
    deleteBeforeReplace?: boolean;
    replaceOnChanges: string[];
    protect: boolean;
    retainOnDelete: boolean;
    deletedWith?: string;
}

export interface PlannedResource {
    type: string;
    name: string;
    /** `type::name` of the parent, and of explicit dependencies (dependsOn and the provider). */
    parent?: string;
    dependsOn: string[];
    /** Inputs whose changes the engine ignores (resource option ignoreChanges). */
    ignoreChanges: string[];
    inputs: unknown;
    /** The URN the engine gives it: stack, project, the parent chain's types and the name. */
    urn: string;
    /** A provider-managed resource (false: a component, which runs nothing). */
    custom: boolean;
    parentUrn?: string;
    /** The explicit provider's URN, if any (the engine orders a resource after its provider). */
    providerUrn?: string;
    /**
     * URNs the engine orders it after, as the SDK sends them (RegisterResourceRequest.dependencies):
     * dependsOn and every input's source, a component expanded to the custom resources under it.
     */
    dependencies: string[];
    /** Input name → the URNs its value came from (RegisterResourceRequest.propertyDependencies). */
    propertyDependencies: Record<string, string[]>;
    options: EngineOptions;
}

export interface PlanResult {
    stack: string;
    spec: ClusterSpec;
    /** node → absolute host path → content (what the host receives). */
    nodeFiles: Record<string, Record<string, { mode: string; content: string }>>;
    resources: PlannedResource[];
    /** Stack outputs, secrets resolved (redact before showing). */
    outputs: Record<string, unknown>;
    /** Names of the outputs Pulumi would store and show as secrets. */
    secretOutputs: string[];
    violations: PolicyViolation[];
    /** Generated or configured secret value → what it is, for redaction. */
    secrets: Map<string, string>;
    /** The seed generated values came from. */
    seed: string;
}

/** Reads Pulumi.<stack>.yaml into the flat `namespace:key` → string map the Pulumi runtime keeps. */
export function readStackConfig(stack: string, dir = projectDir): { config: Record<string, string>; secretKeys: string[] } {
    const file = path.join(dir, `Pulumi.${stack}.yaml`);
    if (!fs.existsSync(file)) throw new Error(`no stack config ${file}; create it (see Pulumi.prod.yaml) or pick another --stack`);
    const doc = parseYaml(fs.readFileSync(file, "utf8")) as { config?: Record<string, unknown> } | null;
    const config: Record<string, string> = {};
    const secretKeys: string[] = [];
    for (const [key, value] of Object.entries(doc?.config ?? {})) {
        if (value !== null && typeof value === "object" && "secure" in (value as object)) {
            // An encrypted value only the real CLI can decrypt: plan with a placeholder, flagged secret.
            config[key] = `<secret ${key}>`;
            secretKeys.push(key);
        } else {
            config[key] = typeof value === "string" ? value : JSON.stringify(value);
        }
    }
    for (const setting of settings.filter((s) => s.secret)) {
        const key = `${projectName}:${setting.key}`;
        if (key in config && !secretKeys.includes(key)) secretKeys.push(key);
    }
    return { config, secretKeys };
}

/** Validates the stack's config (throws ConfigError) without the Pulumi runtime. */
export function specForStack(config: Record<string, string>): ClusterSpec {
    return parseClusterConfig(rawConfigFromPulumi(config));
}

/**
 * Runs the program under mocks and collects what it would do. `seed` makes generated values repeatable.
 * `preview`: as the first `pulumi preview` of a new stack sees it, every provider-computed output
 * unknown (the mocks return inputs only); outputs and host files are then not resolved.
 * `observedStdout`: commands' stdout from real runs, by resource name (see PlanMocks).
 */
export async function runPlan(
    stack: string,
    config: Record<string, string>,
    secretKeys: string[],
    seed = defaultSeed,
    preview = false,
    observedStdout: Record<string, string> = {},
): Promise<PlanResult> {
    const spec = specForStack(config);
    const mocks = new PlanMocks(seed, preview, observedStdout);
    pulumi.runtime.setMocks(mocks, projectName, stack, preview);
    const registrations = recordRegistrations(currentMonitor(), stack);
    pulumi.runtime.setAllConfig(config, secretKeys);
    const parents = new Map<pulumi.Resource, string>();
    const parentOf = new Map<string, string | undefined>();
    const dependsOnOf = new Map<string, string[]>();
    const ignoreChangesOf = new Map<string, string[]>();
    // Fresh module state for each run, so several stacks can be planned in one process (tests do).
    const programPath = require.resolve("../components/program");
    delete require.cache[programPath];
    let programOutputs: Record<string, pulumi.Output<unknown>> = {};
    await pulumi.runtime.runInPulumiStack(async () => {
        pulumi.runtime.registerStackTransformation((args) => {
            const id = `${args.type}::${args.name}`;
            parents.set(args.resource, id);
            parentOf.set(id, args.opts.parent ? parents.get(args.opts.parent) : undefined);
            const dependsOn = args.opts.dependsOn;
            // A resource also waits for its explicit provider (a kubernetes provider waits for the cluster).
            const provider = (args.opts as pulumi.CustomResourceOptions).provider;
            const list = [...(Array.isArray(dependsOn) ? dependsOn : dependsOn ? [dependsOn] : []), ...(provider ? [provider] : [])] as pulumi.Resource[];
            dependsOnOf.set(
                id,
                list.map((r) => parents.get(r) ?? "?"),
            );
            ignoreChangesOf.set(id, args.opts.ignoreChanges ?? []);
            const secretOutputs = (args.opts as pulumi.CustomResourceOptions).additionalSecretOutputs;
            if (secretOutputs) mocks.additionalSecretOutputs.set(id, secretOutputs);
            return undefined;
        });
        const { defineStack } = await import("../components/program");
        programOutputs = defineStack({ checkOperatorOnMesh: false });
        return programOutputs;
    });
    // Outputs can resolve before every resource is registered; wait for the RPC queue to drain.
    await waitForRegistrations();
    const resolvedOutputs = preview ? {} : await resolveOutputs(programOutputs);
    const secretOutputs = preview ? [] : await secretOutputNames(programOutputs);
    for (const key of secretKeys) mocks.generatedSecrets.set(config[key], `config ${key}`);

    // Registrations arrive in an order that varies with promise timing; construction order does not, and is a
    // valid engine order too (a resource can only depend on resources constructed before it).
    const constructedAt = new Map([...parents.values()].map((id, index) => [id, index]));
    const recorded = [...mocks.resources].sort((a, b) => (constructedAt.get(`${a.type}::${a.name}`) ?? -1) - (constructedAt.get(`${b.type}::${b.name}`) ?? -1));
    const resources = recorded.map((r): PlannedResource => {
        const id = `${r.type}::${r.name}`;
        const registered = registrations.get(id);
        if (!registered) throw new Error(`${id} reached the mocks without a registration`);
        return {
            type: r.type,
            name: r.name,
            parent: parentOf.get(id),
            dependsOn: dependsOnOf.get(id) ?? [],
            ignoreChanges: ignoreChangesOf.get(id) ?? [],
            inputs: r.inputs,
            ...registered,
        };
    });
    const violations = planVerdict(resources);
    return {
        stack,
        spec,
        nodeFiles: preview ? {} : filesByNode(recorded, parentOf),
        resources,
        outputs: resolvedOutputs,
        secretOutputs,
        violations,
        secrets: mocks.generatedSecrets,
        seed,
    };
}

type Registration = Pick<PlannedResource, "urn" | "custom" | "parentUrn" | "providerUrn" | "dependencies" | "propertyDependencies" | "options">;

/**
 * Records every registration as the engine receives it, keyed by `type::name`. The mock monitor's URNs
 * name only the immediate parent's type; the engine's carry the whole chain, the stack left out
 * (step_generator.go generateURN), so they are rebuilt here and every URN the SDK sent is translated.
 */
function recordRegistrations(monitor: ResourceMonitor, stack: string): Map<string, Registration> {
    const byId = new Map<string, Registration>();
    const engineUrnOf = new Map<string, string>();
    const chainOf = new Map<string, string>();
    const translate = (mockUrn: string) => engineUrnOf.get(mockUrn) ?? mockUrn;
    const register = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req, callback) =>
        register(req, (err, resp) => {
            if (resp) {
                const parent = req.getParent();
                const parentChain = parent ? chainOf.get(parent) : undefined;
                const chain = parentChain && parentChain !== "pulumi:pulumi:Stack" ? `${parentChain}$${req.getType()}` : req.getType();
                const urn = `urn:pulumi:${stack}::${projectName}::${chain}::${req.getName()}`;
                chainOf.set(resp.getUrn(), chain);
                engineUrnOf.set(resp.getUrn(), urn);
                // A provider reference is "<urn>::<id>".
                const provider = req.getProvider();
                byId.set(`${req.getType()}::${req.getName()}`, {
                    urn,
                    custom: req.getCustom(),
                    parentUrn: parent ? translate(parent) : undefined,
                    providerUrn: provider ? translate(provider.slice(0, provider.lastIndexOf("::"))) : undefined,
                    dependencies: req.getDependenciesList().map(translate),
                    propertyDependencies: Object.fromEntries(
                        [...req.getPropertydependenciesMap().entries()].map(([key, deps]) => [key, deps.getUrnsList().map(translate)]),
                    ),
                    options: {
                        deleteBeforeReplace: req.getDeletebeforereplacedefined() ? req.getDeletebeforereplace() : undefined,
                        replaceOnChanges: req.getReplaceonchangesList(),
                        protect: req.getProtect(),
                        retainOnDelete: req.getRetainondelete(),
                        deletedWith: req.getDeletedwith() ? translate(req.getDeletedwith()) : undefined,
                    },
                });
            }
            callback(err, resp);
        });
    return byId;
}

/** The policy pack's verdict on planned resources, seen as the engine would show them to it. */
export function planVerdict(resources: PlannedResource[]): PolicyViolation[] {
    return evaluate(resources.map((r) => ({ type: r.type, name: r.name, props: unwrapSecrets(r.inputs) as Record<string, unknown> })));
}

async function resolveOutputs(outputs: Record<string, pulumi.Output<unknown>>): Promise<Record<string, unknown>> {
    const resolved: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(outputs)) resolved[key] = await new Promise((resolve) => value.apply(resolve));
    return resolved;
}

async function secretOutputNames(outputs: Record<string, pulumi.Output<unknown>>): Promise<string[]> {
    const names: string[] = [];
    for (const [key, value] of Object.entries(outputs)) if (await pulumi.isSecret(value)) names.push(key);
    return names;
}

/** Every HostFiles command's bundle, read back into the files it writes, grouped by host. */
function filesByNode(recorded: RecordedResource[], parentOf: Map<string, string | undefined>): PlanResult["nodeFiles"] {
    const hostOfComponent = new Map<string, string>();
    for (const r of recorded) {
        if (r.type === "hybrid-k3s:host:HostFiles") hostOfComponent.set(`${r.type}::${r.name}`, String(r.inputs.host));
    }
    const nodeFiles: PlanResult["nodeFiles"] = {};
    for (const r of recorded) {
        if (r.type !== "command:remote:Command") continue;
        const host = hostOfComponent.get(parentOf.get(`${r.type}::${r.name}`) ?? "");
        if (!host) continue;
        const stdin = unwrapSecrets(r.inputs.stdin);
        for (const file of parseBundle(String(stdin))) {
            const files = (nodeFiles[host] ??= {});
            if (files[file.path] && files[file.path].content !== file.content) {
                throw new Error(`two components ship different ${file.path} to ${host}`);
            }
            files[file.path] = { mode: file.mode, content: file.content };
        }
    }
    return nodeFiles;
}

/**
 * Secret wrappers → plain values, and values unknown in a preview → the engine's unknown sentinel
 * (for policies and file extraction, which see what the engine sends them).
 */
export function unwrapSecrets(value: unknown): unknown {
    if (isSecretValue(value)) return unwrapSecrets(value.value);
    if (value !== null && typeof value === "object" && (value as { __pulumiUnknown?: boolean }).__pulumiUnknown === true) return unknownValue;
    if (Array.isArray(value)) return value.map(unwrapSecrets);
    if (value !== null && typeof value === "object") {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrapSecrets(v)]));
    }
    return value;
}

/** Secret wrappers → "[secret]" (for resources.json). */
export function redactSecretInputs(value: unknown): unknown {
    if (isSecretValue(value)) return "[secret]";
    if (Array.isArray(value)) return value.map(redactSecretInputs);
    if (value !== null && typeof value === "object") {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactSecretInputs(v)]));
    }
    return value;
}

/** Replaces every known secret value in a text with a label naming what it was. */
export function redactText(text: string, secrets: Map<string, string>): string {
    let out = text;
    for (const [value, label] of secrets) {
        if (value.length >= 8) out = out.split(value).join(`<secret: ${label}>`);
    }
    return out;
}
