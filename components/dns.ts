// AppDns: one A record per app host listing every edge host's public address: round-robin DNS
// across the edges, as seed 002 serves its site from AWS and Azure at once.
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import * as azureDns from "@pulumi/azure-native/dns";
import { ClusterSpec } from "./config";
import { Host } from "./host";

export interface AppDnsArgs {
    spec: ClusterSpec;
    edgeHosts: Host[];
}

/** Short enough that a dead edge leaves the rotation quickly once it is removed from the config. */
const recordTtlSeconds = 300;

export class AppDns extends pulumi.ComponentResource {
    constructor(name: string, args: AppDnsArgs, opts?: pulumi.ComponentResourceOptions) {
        const { spec } = args;
        const zone = spec.dns.zone;
        if (spec.dns.provider === "none" || !zone) throw new Error("AppDns: dnsProvider and dnsZone are not set");
        super("hybrid-k3s:dns:AppDns", name, { provider: spec.dns.provider, zone, hosts: spec.ingress.apps.map((a) => a.host) }, opts);
        const addresses = pulumi
            .all(args.edgeHosts.map((h) => h.publicAddress))
            .apply((list) => [...new Set(list.filter((a): a is string => a !== undefined && /^\d+\.\d+\.\d+\.\d+$/.test(a)))].sort());
        const zoneId = spec.dns.provider === "route53" ? aws.route53.getZoneOutput({ name: zone }, { parent: this }).zoneId : undefined;
        for (const app of spec.ingress.apps) {
            const id = `${name}-${app.host.replace(/\./g, "-")}`;
            if (zoneId) {
                new aws.route53.Record(id, { zoneId, name: app.host, type: "A", ttl: recordTtlSeconds, records: addresses }, { parent: this });
            } else {
                const relative = app.host === zone ? "@" : app.host.slice(0, -(zone.length + 1));
                new azureDns.RecordSet(
                    id,
                    {
                        resourceGroupName: `${spec.clusterName}-dns`,
                        zoneName: zone,
                        relativeRecordSetName: relative,
                        recordType: "A",
                        ttl: recordTtlSeconds,
                        aRecords: addresses.apply((list) => list.map((ipv4Address) => ({ ipv4Address }))),
                    },
                    { parent: this },
                );
            }
        }
        this.registerOutputs({});
    }
}
