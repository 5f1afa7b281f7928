// Operators (laptops, CI runners) on the mesh, and the apps Istio routes.
import { derivedAddress, formatIpv4, isDnsLabel, isDnsName, parseIpv4, Cidr } from "../net";
import { asObjectList, checkKeys, FieldReader } from "./readers";
import { AppSpec, OperatorSpec } from "./types";

export function readOperators(value: unknown, meshCidr: Cidr | undefined, problems: string[]): OperatorSpec[] {
    return asObjectList(value, "operators", problems).flatMap((item, index) => {
        const r = new FieldReader(item, `operators[${index}]`, problems);
        checkKeys(item, ["name", "meshAddress", "runsPulumi", "enrolled"], r.path, problems);
        const name = r.string("name", true);
        if (name === undefined) return [];
        if (!isDnsLabel(name)) r.problem("name", `"${name}" is not a valid name (lowercase letters, digits and -)`);
        const meshAddress = r.string("meshAddress");
        if (meshAddress !== undefined && parseIpv4(meshAddress) === undefined) r.problem("meshAddress", `"${meshAddress}" is not an IPv4 address`);
        return [
            {
                name,
                meshAddress: meshAddress ?? (meshCidr ? formatIpv4(derivedAddress(meshCidr, `operator:${name}`)) : ""),
                runsPulumi: r.boolean("runsPulumi", false),
                enrolled: r.boolean("enrolled", false),
            },
        ];
    });
}

export function readApps(value: unknown, problems: string[]): AppSpec[] {
    const hosts = new Set<string>();
    return asObjectList(value, "apps", problems).flatMap((item, index) => {
        const r = new FieldReader(item, `apps[${index}]`, problems);
        checkKeys(item, ["host", "namespace", "service", "port"], r.path, problems);
        const host = r.string("host", true);
        const namespace = r.string("namespace", true);
        const service = r.string("service", true);
        const port = r.integer("port", 80, 1, 65535);
        if (host !== undefined && !isDnsName(host)) r.problem("host", `"${host}" is not a DNS name (e.g. zot.example.com)`);
        if (host !== undefined && hosts.has(host)) r.problem("host", `"${host}" is routed twice; one app per host name`);
        for (const [field, v] of [
            ["namespace", namespace],
            ["service", service],
        ] as const) {
            if (v !== undefined && !isDnsLabel(v)) r.problem(field, `"${v}" is not a Kubernetes name (lowercase letters, digits and -)`);
        }
        if (host === undefined || namespace === undefined || service === undefined) return [];
        hosts.add(host);
        return [{ host, namespace, service, port }];
    });
}
