// The rehearsal's world: an "internet" bridge on TEST-NET / benchmark addresses, one booted machine
// per host at its planned public address (hosts behind NAT each behind a NAT router of their own,
// on a 198.19.x LAN), the pulumi runner and a stranger on the bridge. Built on test/net's NetLab
// (namespaces, veths, teardown on exit and signals, reaping of crashed runs); machines are removed
// with it.
import { cidrContains, parseCidr, parseIpv4 } from "../components/net";
import { Namespace, NetLab } from "../test/net/netns";
import { internetSubnets } from "../test/net/topology";
import { Machine, reapDeadMachines } from "./machine";
import { MachineDisk, provisionDisk } from "./provision";

export const runnerAddress = "192.0.2.50";
export const strangerAddress = "192.0.2.66";
const natRouterAddress = (index: number) => `192.0.2.${100 + index}`;
const natLan = (index: number) => ({ router: `198.19.${index + 1}.1`, host: `198.19.${index + 1}.10`, prefix: 24 });

export interface PlacedHost {
    name: string;
    machine: Machine;
    namespace: Namespace;
}

export class RehearsalLab {
    readonly net: NetLab;
    readonly hosts = new Map<string, PlacedHost>();
    private internet!: Namespace;
    runner!: Namespace;
    stranger!: Namespace;
    private port = 0;
    private natRouters = 0;
    private tornDown = false;

    private constructor(private readonly baseImage: string) {
        reapDeadMachines();
        this.net = new NetLab("rehearse");
        process.on("exit", () => this.teardown());
    }

    static async create(baseImage: string): Promise<RehearsalLab> {
        const lab = new RehearsalLab(baseImage);
        lab.internet = await lab.net.addNamespace("internet");
        await lab.net.addBridge(
            lab.internet,
            "br0",
            internetSubnets.map((s) => `${s.gateway}/${s.cidr.split("/")[1]}`),
        );
        await lab.net.sysctl(lab.internet, "net.ipv4.ip_forward", "1");
        lab.runner = await lab.net.addNamespace("pulumi-runner");
        await lab.attach(lab.runner, runnerAddress);
        lab.stranger = await lab.net.addNamespace("stranger");
        await lab.attach(lab.stranger, strangerAddress);
        return lab;
    }

    /** A machine for a host: on the internet at its public address, or behind a NAT router of its own. */
    async addHost(name: string, publicAddress: string | undefined, meshAddress: string, disk: MachineDisk): Promise<PlacedHost> {
        const namespace = await this.net.addNamespace(name);
        if (publicAddress) {
            await this.attach(namespace, publicAddress);
            // So a stranger next to the host can aim packets at its mesh address (the firewall must drop them).
            await this.net.addRoute(this.internet, `${meshAddress}/32`, publicAddress);
        } else {
            const index = this.natRouters++;
            const router = await this.net.addNamespace(`nat-${name}`.slice(0, 30));
            await this.attach(router, natRouterAddress(index));
            const lan = natLan(index);
            await this.net.connect(
                { namespace, ifname: "eth0", addresses: [`${lan.host}/${lan.prefix}`] },
                { namespace: router, ifname: "lan0", addresses: [`${lan.router}/${lan.prefix}`] },
            );
            await this.net.addRoute(namespace, "default", lan.router);
            await this.net.masquerade(router, "eth0");
        }
        const machine = new Machine(name, this.net.prefix, namespace.netns, this.baseImage);
        await machine.createRoot();
        await provisionDisk(machine.root, disk);
        const placed = { name, machine, namespace };
        this.hosts.set(name, placed);
        return placed;
    }

    host(name: string): PlacedHost {
        const host = this.hosts.get(name);
        if (!host) throw new Error(`no machine for ${name}`);
        return host;
    }

    /** Synchronous (exit handlers): machines first, then namespaces, bridges and veths. */
    teardown(): void {
        if (this.tornDown) return;
        this.tornDown = true;
        for (const host of this.hosts.values()) host.machine.destroy();
        this.net.teardown();
    }

    private async attach(namespace: Namespace, address: string): Promise<void> {
        const subnet = internetSubnets.find((s) => cidrContains(parseCidr(s.cidr)!, parseIpv4(address)!));
        if (!subnet) throw new Error(`${namespace.name}: ${address} is outside the rehearsal's internet (${internetSubnets.map((s) => s.cidr).join(", ")})`);
        await this.net.connect(
            { namespace, ifname: "eth0", addresses: [`${address}/${subnet.cidr.split("/")[1]}`] },
            { namespace: this.internet, ifname: `port${this.port++}`, bridge: "br0" },
        );
        await this.net.addRoute(namespace, "default", subnet.gateway);
    }
}
