// The ports the pack keeps off the internet, and its configuration. The program's own list lives
// in components/ports.ts (meshOnlyPorts); this package is published alone, so it keeps a copy, and
// test/policy/ports.test.ts keeps the two equal.

export type Transport = "tcp" | "udp";
export const transports: readonly Transport[] = ["tcp", "udp"];

/** A port or port range to keep off the internet; `to` defaults to `from`. */
export interface WatchedPorts {
    protocol: Transport;
    from: number;
    to?: number;
}

/** The pack's configuration (every exposure policy reads `apiPorts`). */
export interface HybridK3sPolicyConfig {
    apiPorts?: readonly WatchedPorts[];
}

/** The k3s API server, the kubelet, embedded etcd, flannel VXLAN (unauthenticated) and flannel's WireGuard. */
export const defaultPolicyConfig: Required<HybridK3sPolicyConfig> = {
    apiPorts: [
        { protocol: "tcp", from: 6443 },
        { protocol: "tcp", from: 10250 },
        { protocol: "tcp", from: 2379, to: 2380 },
        { protocol: "udp", from: 8472 },
        { protocol: "udp", from: 51820, to: 51821 },
    ],
};

export function watchedPortsOf(config: HybridK3sPolicyConfig): readonly WatchedPorts[] {
    return config.apiPorts ?? defaultPolicyConfig.apiPorts;
}

/** The config schema of every policy that reads `apiPorts`. */
export const apiPortsConfigSchema = {
    properties: {
        apiPorts: {
            description: "Ports that must never be open to the whole internet.",
            type: "array" as const,
            items: {
                type: "object" as const,
                properties: {
                    protocol: { type: "string" as const, enum: ["tcp", "udp"] },
                    from: { type: "integer" as const, minimum: 0, maximum: 65535 },
                    to: { type: "integer" as const, minimum: 0, maximum: 65535 },
                },
                required: ["protocol", "from"],
                additionalProperties: false,
            },
            default: defaultPolicyConfig.apiPorts,
        },
    },
};

export interface PortSpan {
    from: number;
    to: number;
}
export const EVERY_PORT: PortSpan = { from: 0, to: 65535 };

export function formatPorts(transport: Transport, span: PortSpan): string {
    return `${span.from === span.to ? span.from : `${span.from}-${span.to}`}/${transport}`;
}
