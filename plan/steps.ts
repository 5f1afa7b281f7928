// The step model: from two plans (the state before, the program after), the steps a real `pulumi up`
// runs and the order the engine runs them in. Pure: resources in, steps out, no values printed.
// Engine rules are from pulumi/pulumi v3.248.0 pkg/resource/deploy (step_generator.go,
// deployment_executor.go, step_executor.go, step.go); command rules from pulumi/pulumi-command v1.2.1
// provider/pkg/provider/remote/commandController.go. Each rule names its source where it is applied.
import { isDeepStrictEqual } from "util";
import { PlannedResource, unwrapSecrets } from "./plan";

/** What the model reads of a planned resource (a plan's resources.json carries all of it). */
export type ModelResource = Pick<
    PlannedResource,
    "urn" | "type" | "name" | "custom" | "parentUrn" | "providerUrn" | "dependencies" | "propertyDependencies" | "options" | "ignoreChanges" | "inputs"
>;

export type StepOp = "same" | "create" | "update" | "replace" | "delete";

/** What a step makes happen: a command's script, a provider call, or nothing at all. */
export type StepRuns = "create" | "update" | "delete" | "provider" | "nothing";

export interface Step {
    op: StepOp;
    urn: string;
    type: string;
    name: string;
    /** The node the step is about (from the components above it), if any. */
    host?: string;
    runs: StepRuns;
    /** Inputs whose change caused an update or replace (names only, never values). */
    changed?: string[];
    /** The inputs that force the replacement. */
    replaceKeys?: string[];
    /** Replaced resources this step's inputs come from (their outputs are new). */
    becauseOf?: string[];
    /** A replace whose old half is deleted first, and that delete (it runs before the replacement's create). */
    deleteBeforeReplace?: boolean;
    /** A delete of the old half of a replacement. */
    replaced?: boolean;
    /** URNs of the steps this one waits for (registration order: parent, provider, dependencies). */
    after: string[];
    /** Why the engine would stop here instead (e.g. a protected resource). */
    refused?: string;
}

const commandType = "command:remote:Command";

/**
 * Inputs whose change the provider answers with a replacement (its Diff's replaceKeys), for the types
 * this program uses. Commands need no row: their `triggers` arrive as replaceOnChanges from the SDK.
 * Bridged AWS/random/tls resources replace on their Terraform schema's ForceNew/RequiresReplace
 * attributes (pulumi-terraform-bridge maps them to replaceKeys). "read" rows were checked in the
 * source named; the others are the providers' documented behaviour, not re-read here.
 */
const replacementInputs: Record<string, { inputs: string[]; source: string }> = {
    "aws:ec2/instance:Instance": {
        inputs: [
            "ami",
            "subnetId",
            "keyName",
            "availabilityZone",
            "privateIp",
            "rootBlockDevice.encrypted",
            "rootBlockDevice.kmsKeyId",
            "placementGroup",
            "ebsOptimized",
            "hibernation",
        ],
        // instanceType, userData (without userDataReplaceOnChange), tags, metadataOptions update in place.
        source: "read: hashicorp/terraform-provider-aws internal/service/ec2/ec2_instance.go ResourceInstance",
    },
    "aws:ec2/keyPair:KeyPair": {
        inputs: ["publicKey", "keyName", "keyNamePrefix"],
        source: "read: terraform-provider-aws internal/service/ec2/ec2_key_pair.go resourceKeyPair",
    },
    "aws:ec2/securityGroup:SecurityGroup": {
        inputs: ["vpcId", "description", "name", "namePrefix"],
        source: "read: terraform-provider-aws internal/service/ec2/vpc_security_group.go resourceSecurityGroup",
    },
    "aws:ec2/eip:Eip": {
        inputs: ["domain", "address", "publicIpv4Pool"],
        source: "read: terraform-provider-aws internal/service/ec2/ec2_eip.go resourceEIP (instance re-associates in place)",
    },
    "aws:ec2/subnet:Subnet": {
        inputs: ["vpcId", "cidrBlock", "availabilityZone"],
        source: "read: terraform-provider-aws internal/service/ec2/vpc_subnet.go resourceSubnet",
    },
    "aws:ec2/vpc:Vpc": { inputs: ["cidrBlock"], source: "terraform-provider-aws internal/service/ec2/vpc_.go resourceVPC" },
    "azure-native:compute:VirtualMachine": {
        inputs: ["location", "resourceGroupName", "vmName"],
        source: "pulumi-azure-native: URL path parameters and location force a new resource",
    },
    "random:index/randomPassword:RandomPassword": {
        inputs: ["length", "special", "keepers"],
        source: "terraform-provider-random resource_password.go (RequiresReplace)",
    },
    "random:index/randomBytes:RandomBytes": { inputs: ["length", "keepers"], source: "terraform-provider-random resource_bytes.go (RequiresReplace)" },
    "tls:index/privateKey:PrivateKey": {
        inputs: ["algorithm", "ecdsaCurve", "rsaBits"],
        source: "terraform-provider-tls resource_private_key.go (RequiresReplace)",
    },
};

/** Components that name the node their children act on, and the input that names it. */
const hostInputOf: Record<string, string> = {
    "hybrid-k3s:host:HostFiles": "host",
    "hybrid-k3s:k3s:K3sNode": "nodeName",
    "hybrid-k3s:host:AwsHost": "node",
    "hybrid-k3s:host:AzureHost": "node",
    "hybrid-k3s:host:ExistingHost": "node",
};

/** The steps `pulumi up` runs to take the stack from `before` to `after`, in an order the engine runs them. */
export function stepsBetween(before: ModelResource[], after: ModelResource[]): Step[] {
    const olds = new Map(before.map((r) => [r.urn, r]));
    const news = new Map(after.map((r) => [r.urn, r]));
    const hostOf = hostsOf(after, before);
    const registered: Step[] = [];
    const replaced = new Set<string>();
    const deletedFirst = new Set<string>();
    // Registrations arrive in program order, each after its dependencies (the SDK awaits their outputs),
    // and the step generator decides each one then (step_generator.go GenerateSteps → generateSteps).
    for (const resource of after) {
        const old = olds.get(resource.urn);
        const base = { ...identity(resource, hostOf), after: waitsFor(resource) };
        if (!old) {
            registered.push({ ...base, op: "create", runs: runsOnCreate(resource) });
            continue;
        }
        const diff = diffInputs(old, resource, replaced);
        const replaceKeys = resource.custom ? replacementKeys(old, resource, diff.changed, diff.fed) : [];
        // A resource whose provider was replaced is replaced with it (step_generator.go
        // calculateDependentReplacements: "If the resource's provider is in the replace set").
        if (resource.providerUrn && replaced.has(resource.providerUrn)) replaceKeys.push("provider");
        if (diff.changed.length === 0 && replaceKeys.length === 0) {
            registered.push({ ...base, op: "same", runs: "nothing" });
        } else if (replaceKeys.length === 0) {
            // Components have no provider: any input change is an update that runs nothing (step_generator.go diff, prov == nil).
            registered.push({
                ...base,
                op: "update",
                runs: resource.custom ? runsOnUpdate(old, resource) : "nothing",
                changed: diff.changed,
                ...because(diff),
            });
        } else {
            replaced.add(resource.urn);
            // The replacement is created from the program's inputs, ignoreChanges not applied: the engine
            // re-runs Check on goal.Properties before it (continueStepsFromDiff, "recompute the default values").
            // The program's choice wins over the provider's (continueStepsFromDiff: goal.DeleteBeforeReplace); every
            // provider this program uses answers create-before-delete.
            const deleteBeforeReplace = resource.options.deleteBeforeReplace ?? false;
            // Replacing a protected resource is refused (continueStepsFromDiff: "unable to replace resource").
            const refused = old.options.protect && resource.options.protect ? "protected: the engine refuses to replace it" : undefined;
            const replace: Step = {
                ...base,
                op: "replace",
                runs: runsOnCreate(resource),
                changed: diff.changed,
                replaceKeys,
                deleteBeforeReplace,
                ...because(diff),
                ...(refused ? { refused } : {}),
            };
            if (deleteBeforeReplace) {
                // The old one and its dependents that would be replaced too are deleted now, dependents
                // first, before the replacement is created (continueStepsFromDiff, deleteBeforeReplace branch).
                const dependents = dependentReplacements(old, before, replaced);
                for (const urn of [old.urn, ...dependents]) {
                    replaced.add(urn);
                    deletedFirst.add(urn);
                }
                const firstDeleted = [...dependents].reverse().map((urn) => deleteStep(olds.get(urn)!, hostOf, true, deletedFirst));
                const rootDelete = deleteStep(old, hostOf, true, deletedFirst);
                rootDelete.after.push(...dependents);
                for (const step of [...firstDeleted, rootDelete]) registered.push({ ...step, deleteBeforeReplace: true });
            }
            registered.push(replace);
        }
    }
    // Deletes run after every create and update, in reverse dependency order over the old graph: removed
    // resources and the old halves of create-before-delete replacements (deployment_executor.go
    // performPostSteps → step_generator.go GenerateDeletes, ScheduleDeletes).
    const condemned = before.filter((r) => !deletedFirst.has(r.urn) && (!news.has(r.urn) || replaced.has(r.urn)));
    const deleted = new Set([...deletedFirst, ...condemned.map((r) => r.urn)]);
    const deletes = deleteAntichains(condemned)
        .flat()
        .map((r) => deleteStep(r, hostOf, replaced.has(r.urn), deleted));
    return [...orderByWaves(registered), ...deletes];
}

/** The steps that do something (everything but `same`). */
export function changes(steps: Step[]): Step[] {
    return steps.filter((s) => s.op !== "same");
}

/**
 * Which steps can run at once: a step starts when the steps it waits for are done (step_executor.go runs
 * each chain as soon as its registration arrives); deletes come after, antichain by antichain
 * (deployment_executor.go performPostSteps). Steps that run nothing take no time and are left out.
 */
export function waves(steps: Step[]): Step[][] {
    const registered = steps.filter((s) => !(s.op === "delete" && !s.deleteBeforeReplace));
    const levels = levelsOf(registered);
    const byLevel: Step[][] = [];
    for (const step of registered) {
        if (step.op === "same" || step.runs === "nothing") continue;
        (byLevel[levels.get(step)!] ??= []).push(step);
    }
    const deleteWaves = deleteAntichainsOfSteps(steps.filter((s) => s.op === "delete" && !s.deleteBeforeReplace));
    return [...byLevel, ...deleteWaves].filter((wave) => wave && wave.length > 0);
}

/** The engine waits for the parent, the provider and every dependency before registering (sdk resource.ts prepareResource). */
function waitsFor(resource: ModelResource): string[] {
    return [...new Set([resource.parentUrn, resource.providerUrn, ...resource.dependencies].filter((u): u is string => Boolean(u)))];
}

/** Wave of each registered step: steps that run nothing pass their predecessors' wave through. */
function levelsOf(steps: Step[]): Map<Step, number> {
    const byUrn = new Map<string, Step[]>();
    for (const step of steps) byUrn.set(step.urn, [...(byUrn.get(step.urn) ?? []), step]);
    const levels = new Map<Step, number>();
    const busy = (s: Step) => s.op !== "same" && s.runs !== "nothing";
    for (const step of steps) {
        // Within one resource's chain (delete-before-replace), each step follows the one before it.
        const chain = byUrn.get(step.urn)!;
        const previous = chain.slice(0, chain.indexOf(step));
        const waitedFor = [...step.after.flatMap((urn) => byUrn.get(urn) ?? []), ...previous].filter((s) => levels.has(s));
        levels.set(step, Math.max(0, ...waitedFor.map((s) => levels.get(s)! + (busy(s) ? 1 : 0))));
    }
    return levels;
}

/** Steps in wave order, program order within a wave: one order the engine can run them in. */
function orderByWaves(steps: Step[]): Step[] {
    const levels = levelsOf(steps);
    return steps
        .map((step, index) => ({ step, index }))
        .sort((a, b) => levels.get(a.step)! - levels.get(b.step)! || a.index - b.index)
        .map((x) => x.step);
}

/** What the engine's dependency graph links a resource to: parent, provider, dependencies, property dependencies, deletedWith (resource/graph). */
function edgesOf(resource: ModelResource): string[] {
    return [
        ...waitsFor(resource),
        ...Object.values(resource.propertyDependencies).flat(),
        ...(resource.options.deletedWith ? [resource.options.deletedWith] : []),
    ];
}

/**
 * ScheduleDeletes: repeatedly take the condemned resources none of whose dependencies is still
 * condemned, then reverse the list, so dependents are deleted before what they depend on.
 */
function deleteAntichains(condemned: ModelResource[]): ModelResource[][] {
    const left = new Map(condemned.map((r) => [r.urn, r]));
    const position = new Map(condemned.map((r, i) => [r, i]));
    const antichains: ModelResource[][] = [];
    while (left.size > 0) {
        const free = [...left.values()].filter((r) => !edgesOf(r).some((urn) => urn !== r.urn && left.has(urn)));
        if (free.length === 0) throw new Error(`dependency cycle among ${[...left.keys()].join(", ")}`);
        for (const r of free) left.delete(r.urn);
        // Program order within an antichain keeps the output stable (the engine's is a set's order).
        antichains.push(free.sort((a, b) => position.get(b)! - position.get(a)!));
    }
    return antichains.reverse();
}

/** The same schedule over delete steps, through the `after` links they carry (dropping steps that run nothing). */
function deleteAntichainsOfSteps(deletes: Step[]): Step[][] {
    const left = new Map(deletes.map((s) => [s.urn, s]));
    const antichains: Step[][] = [];
    while (left.size > 0) {
        const free = [...left.values()].filter((s) => !s.after.some((urn) => urn !== s.urn && left.has(urn)));
        if (free.length === 0) throw new Error("dependency cycle among deletes");
        for (const s of free) left.delete(s.urn);
        antichains.push(free);
    }
    return antichains.reverse().map((wave) => wave.filter((s) => s.runs !== "nothing"));
}

/**
 * step.go DeleteStep.Apply: a protected resource is refused (unless it is the old half of a replacement),
 * retainOnDelete skips the provider, and so does deletedWith a resource deleted in the same run.
 */
function deleteStep(old: ModelResource, hostOf: (r: ModelResource) => string | undefined, replaced: boolean, deleted: Set<string>): Step {
    const skipped = old.options.retainOnDelete || (old.options.deletedWith !== undefined && deleted.has(old.options.deletedWith));
    const step: Step = { op: "delete", ...identity(old, hostOf), runs: skipped ? "nothing" : runsOnDelete(old), after: edgesOf(old) };
    if (replaced) step.replaced = true;
    else if (old.options.protect) step.refused = "protected: the engine refuses to delete it";
    return step;
}

/** Who a step is about; `host` only when there is one, so steps stay the same through JSON. */
function identity(resource: ModelResource, hostOf: (r: ModelResource) => string | undefined): Pick<Step, "urn" | "type" | "name" | "host"> {
    const host = hostOf(resource);
    return { urn: resource.urn, type: resource.type, name: resource.name, ...(host ? { host } : {}) };
}

/** A command runs its create script if it has one (commandController.go Create: `if input.Create == nil` return). */
function runsOnCreate(resource: ModelResource): StepRuns {
    if (!resource.custom) return "nothing";
    if (resource.type !== commandType) return "provider";
    return input(resource, "create") !== undefined ? "create" : "nothing";
}

/**
 * An update runs `update` if set, else `create` (commandController.go Update), with ignored inputs
 * kept at their old values (step_generator.go processIgnoreChanges).
 */
function runsOnUpdate(old: ModelResource, resource: ModelResource): StepRuns {
    if (resource.type !== commandType) return "provider";
    const effective = (key: string) => (ignored(resource, key) ? input(old, key) : input(resource, key));
    if (effective("update") !== undefined) return "update";
    return effective("create") !== undefined ? "create" : "nothing";
}

/** Delete runs the stored (old) delete script (commandController.go Delete). */
function runsOnDelete(old: ModelResource): StepRuns {
    if (!old.custom) return "nothing";
    if (old.type !== commandType) return "provider";
    return input(old, "delete") !== undefined ? "delete" : "nothing";
}

interface InputDiff {
    changed: string[];
    /** Changed inputs whose value comes from a replaced resource. */
    fed: string[];
    becauseOf: string[];
}

function because(diff: InputDiff): Pick<Step, "becauseOf"> {
    return diff.becauseOf.length > 0 ? { becauseOf: diff.becauseOf } : {};
}

/**
 * Top-level inputs that differ. Ignored inputs take their old value (processIgnoreChanges, before the
 * provider's Diff); an input fed by a replaced resource changes with it (its id, at least, is new).
 */
function diffInputs(old: ModelResource, resource: ModelResource, replaced: Set<string>): InputDiff {
    const keys = [...new Set([...Object.keys(inputsOf(old)), ...Object.keys(inputsOf(resource))])].sort();
    const changed: string[] = [];
    const fed: string[] = [];
    const becauseOf = new Set<string>();
    for (const key of keys) {
        if (ignored(resource, key)) continue;
        const sources = (resource.propertyDependencies[key] ?? []).filter((urn) => replaced.has(urn));
        sources.forEach((urn) => becauseOf.add(urn));
        if (sources.length > 0) fed.push(key);
        // Secrets compare by value (a rotated secret is a change); values never leave this function.
        if (sources.length > 0 || !isDeepStrictEqual(unwrapSecrets(input(old, key)), unwrapSecrets(input(resource, key)))) changed.push(key);
    }
    return { changed, fed, becauseOf: [...becauseOf] };
}

/**
 * The changed inputs that replace the resource: replaceOnChanges paths (step_generator.go
 * applyReplaceOnChanges) and the provider's own rule, a nested path only when the value there changed.
 */
function replacementKeys(old: ModelResource, resource: ModelResource, changed: string[], fed: string[]): string[] {
    return changed.filter((key) => {
        if (resource.options.replaceOnChanges.some((path) => path === "*" || topLevel(path) === key)) return true;
        // An input fed by a replaced resource is unknown until it exists: every path under it may change.
        return (replacementInputs[resource.type]?.inputs ?? []).some(
            (path) => topLevel(path) === key && (path === key || fed.includes(key) || !isDeepStrictEqual(valueAt(old, path), valueAt(resource, path))),
        );
    });
}

function topLevel(path: string): string {
    return path.split(/[.[]/)[0];
}

function valueAt(resource: ModelResource, path: string): unknown {
    return path
        .split(".")
        .reduce<unknown>(
            (value, key) => (value !== null && typeof value === "object" ? (value as Record<string, unknown>)[key] : undefined),
            unwrapSecrets(inputsOf(resource)),
        );
}

/**
 * Old dependents that a delete-before-replace takes down first: those whose inputs depend on the
 * replaced set through an input that forces their replacement, or whose provider is replaced,
 * transitively, in dependency order (step_generator.go calculateDependentReplacements).
 */
function dependentReplacements(root: ModelResource, before: ModelResource[], replaced: Set<string>): string[] {
    const set = new Set([root.urn]);
    const order: string[] = [];
    for (const r of before.slice(before.indexOf(root) + 1)) {
        if (!r.custom || replaced.has(r.urn)) continue;
        const byProvider = r.providerUrn !== undefined && set.has(r.providerUrn);
        const fedKeys = Object.entries(r.propertyDependencies)
            .filter(([, urns]) => urns.some((u) => set.has(u)))
            .map(([key]) => key);
        const byInput = replacementKeys(r, r, fedKeys, fedKeys).length > 0;
        if (byProvider || byInput) {
            set.add(r.urn);
            order.push(r.urn);
        }
    }
    return order;
}

/** The node each resource acts on: the nearest ancestor component that names one. */
function hostsOf(...plans: ModelResource[][]): (r: ModelResource) => string | undefined {
    const byUrn = new Map(plans.flat().map((r) => [r.urn, r]));
    return (r) => {
        for (let at: ModelResource | undefined = r; at; at = at.parentUrn ? byUrn.get(at.parentUrn) : undefined) {
            const key = hostInputOf[at.type];
            const named = key ? input(at, key) : undefined;
            if (typeof named === "string") return named;
        }
        return undefined;
    };
}

function ignored(resource: ModelResource, key: string): boolean {
    return resource.ignoreChanges.some((path) => topLevel(path) === key);
}

function inputsOf(resource: ModelResource): Record<string, unknown> {
    return (resource.inputs ?? {}) as Record<string, unknown>;
}

function input(resource: ModelResource, key: string): unknown {
    return inputsOf(resource)[key];
}
