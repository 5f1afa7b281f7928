// Cloud hosts under Pulumi's mock runtime: which cloud resources each host makes, what their
// firewalls open, which image each arch boots, and how Pulumi reaches and waits for the VM.
import { isSecretValue } from "../../plan/mocks";
import { strict as assert } from "assert";
import * as pulumi from "@pulumi/pulumi";
import { AwsHost } from "../../components/aws";
import { AzureHost } from "../../components/azure";
import { NodeSpec } from "../../components/config";
import { cloudInitWaitCommand } from "../../components/host";
import { placeholderPublicIp } from "../../plan/mocks";
import { awsNode, azureNode, clusterPorts, cloudHostsUnderMocks, hostKey, settled, sshSources, wireguard } from "./hosts-fixture";

describe("cloud hosts (AWS and Azure) under mocks", function () {
    const { mocks, options, hosts, specs, azureNetworks, recorded, typesNamed, awsHost, openPorts, opens, wireguardSpecs, zerotierSpecs } =
        cloudHostsUnderMocks();

    describe("resources", () => {
        it("makes exactly a security group, an instance, an Elastic IP and a cloud-init wait per AWS host", () => {
            for (const name of ["aws-hub", "aws-edge", "aws-byo", "zt-aws"]) {
                assert.deepEqual(
                    typesNamed(name),
                    ["aws:ec2/eip:Eip", "aws:ec2/instance:Instance", "aws:ec2/securityGroup:SecurityGroup", "hybrid-k3s:host:AwsHost"],
                    name,
                );
                assert.deepEqual(typesNamed(`${name}-cloud-init`), ["command:remote:Command"]);
            }
        });

        it("makes one provider, key pair and network per AWS region, and no VPC where the node brings its own subnet", () => {
            assert.deepEqual(typesNamed("aws-eu-west-1"), [
                "aws:ec2/internetGateway:InternetGateway",
                "aws:ec2/keyPair:KeyPair",
                "aws:ec2/routeTable:RouteTable",
                "aws:ec2/routeTableAssociation:RouteTableAssociation",
                "aws:ec2/subnet:Subnet",
                "aws:ec2/vpc:Vpc",
                "hybrid-k3s:host:AwsRegionNetwork",
                "pulumi:providers:aws",
            ]);
            assert.deepEqual(typesNamed("aws-us-east-1"), ["aws:ec2/keyPair:KeyPair", "pulumi:providers:aws"]);
            assert.equal(recorded("pulumi:providers:aws", "aws-us-east-1").region, "us-east-1");
            assert.equal(recorded("aws:ec2/vpc:Vpc", "aws-eu-west-1").enableDnsHostnames, true);
            const routes = recorded("aws:ec2/routeTable:RouteTable", "aws-eu-west-1").routes as any[];
            assert.deepEqual(
                routes.map((r) => r.cidrBlock),
                ["0.0.0.0/0"],
            );
            assert.ok(routes[0].gatewayId, "default route goes to the internet gateway");
            assert.equal(
                recorded("aws:ec2/keyPair:KeyPair", "aws-eu-west-1").publicKey,
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test",
            );

            const byo = recorded("aws:ec2/instance:Instance", "aws-byo");
            assert.equal(byo.subnetId, "subnet-0a1b2c3d");
            assert.equal(recorded("aws:ec2/securityGroup:SecurityGroup", "aws-byo").vpcId, "vpc-0a1b2c3d");
        });

        it("gives every AWS resource of a host its region's explicit provider", async () => {
            const awsChildren = options.filter((o) => o.type.startsWith("aws:") && ["aws-hub", "aws-edge", "aws-byo", "zt-aws"].includes(o.name));
            assert.equal(awsChildren.length, 4 * 3);
            for (const child of awsChildren) {
                assert.ok(child.opts.provider, `${child.type} ${child.name} has no explicit provider`);
                const providerUrn = await settled(child.opts.provider.urn);
                assert.ok(providerUrn.endsWith(`-${specs.get(child.name)!.aws!.region}`), `${child.type} ${child.name}: ${providerUrn}`);
            }
        });

        it("makes exactly an NSG, a public IP, a NIC, a VM and a cloud-init wait per Azure host, and one network per location", async () => {
            for (const name of ["az-edge", "az-agent", "zt-az"]) {
                assert.deepEqual(
                    typesNamed(name),
                    [
                        "azure-native:compute:VirtualMachine",
                        "azure-native:network:NetworkInterface",
                        "azure-native:network:NetworkSecurityGroup",
                        "azure-native:network:PublicIPAddress",
                        "hybrid-k3s:host:AzureHost",
                    ],
                    name,
                );
                assert.deepEqual(typesNamed(`${name}-cloud-init`), ["command:remote:Command"]);
            }
            assert.deepEqual(typesNamed("azure-westeurope"), [
                "azure-native:network:Subnet",
                "azure-native:network:VirtualNetwork",
                "azure-native:resources:ResourceGroup",
                "hybrid-k3s:host:AzureLocationNetwork",
            ]);
            assert.ok(recorded("azure-native:network:Subnet", "azure-westeurope").virtualNetworkName, "the subnet names its virtual network");
            const groupName = await settled(pulumi.output(azureNetworks.get("az-edge")!.resourceGroupName));
            assert.ok(groupName, "the location's resource group has a name");
            for (const type of ["network:NetworkSecurityGroup", "network:PublicIPAddress", "network:NetworkInterface", "compute:VirtualMachine"]) {
                const inputs = recorded(`azure-native:${type}`, "az-edge");
                assert.deepEqual([inputs.resourceGroupName, inputs.location], [groupName, "westeurope"], type);
            }
            const publicIp = recorded("azure-native:network:PublicIPAddress", "az-edge");
            assert.deepEqual([publicIp.sku?.name, publicIp.publicIPAllocationMethod], ["Standard", "Static"]);
            const nic = recorded("azure-native:network:NetworkInterface", "az-edge");
            assert.ok(nic.networkSecurityGroup?.id, "the NIC carries the NSG");
            assert.ok(nic.ipConfigurations?.[0]?.publicIPAddress?.id, "the NIC carries the public IP");
        });
    });

    describe("firewalls", () => {
        const all = [...wireguardSpecs, ...zerotierSpecs].map((s) => s.name);

        it("never opens an API, kubelet, etcd or flannel port, on any host", () => {
            for (const name of all) {
                for (const rule of openPorts(name)) {
                    const hit = clusterPorts.find((p) => rule.from <= p && p <= rule.to);
                    assert.equal(hit, undefined, `${name} opens ${rule.protocol} ${rule.from}-${rule.to}`);
                }
            }
        });

        it("allows SSH only from sshSourceCidrs", () => {
            for (const name of all)
                assert.deepEqual(
                    opens(name, "tcp", 22).map((r) => r.sources),
                    [sshSources],
                    name,
                );
        });

        it("opens 80 and 443 to the whole internet on edge hosts only", () => {
            for (const name of all) {
                const isEdge = specs.get(name)!.roles.includes("edge");
                for (const port of [80, 443]) {
                    const sources = opens(name, "tcp", port)
                        .flatMap((r) => r.sources)
                        .sort();
                    assert.deepEqual(sources, isEdge ? ["0.0.0.0/0", "::/0"] : [], `${name} tcp ${port}`);
                }
            }
        });

        it("opens udp 51830 on the WireGuard hub and no udp at all on the spokes", () => {
            assert.deepEqual(
                opens("aws-hub", "udp", 51830)
                    .flatMap((r) => r.sources)
                    .sort(),
                ["0.0.0.0/0", "::/0"],
            );
            for (const name of ["aws-edge", "aws-byo", "az-edge", "az-agent"]) {
                assert.deepEqual(
                    openPorts(name).filter((r) => r.protocol === "udp"),
                    [],
                    name,
                );
            }
        });

        it("opens udp 9993 and nothing else over udp on every ZeroTier host", () => {
            for (const name of ["zt-aws", "zt-az"]) {
                const udp = openPorts(name).filter((r) => r.protocol === "udp");
                assert.ok(udp.length > 0 && udp.every((r) => r.from === 9993 && r.to === 9993), `${name}: ${JSON.stringify(udp)}`);
            }
        });

        it("never mixes address families in one Azure rule, and lets AWS out everywhere", () => {
            for (const name of ["az-edge", "az-agent", "zt-az"]) {
                for (const rule of recorded("azure-native:network:NetworkSecurityGroup", name).securityRules as any[]) {
                    const families = new Set((rule.sourceAddressPrefixes as string[]).map((s) => s.includes(":")));
                    assert.equal(families.size, 1, `${name} ${rule.name}`);
                }
            }
            const egress = recorded("aws:ec2/securityGroup:SecurityGroup", "aws-hub").egress as any[];
            assert.deepEqual(
                egress.map((e) => [e.protocol, e.cidrBlocks]),
                [["-1", ["0.0.0.0/0"]]],
            );
        });
    });

    describe("machines", () => {
        const amiLookups = () => mocks.calls.filter((c) => c.token === "aws:ec2/getAmi:getAmi");
        const filterValues = (call: { inputs: Record<string, any> }, name: string) =>
            (call.inputs.filters as Array<{ name: string; values: string[] }>).find((f) => f.name === name)?.values;

        it("boots the newest official image for each arch on AWS, and a pinned ami as given", () => {
            const expected: Record<string, { owner: string; name: string; architecture: string }> = {
                "aws-hub": { owner: "136693071363", name: "debian-12-arm64-*", architecture: "arm64" },
                "aws-edge": { owner: "099720109477", name: "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*", architecture: "x86_64" },
            };
            for (const [name, want] of Object.entries(expected)) {
                const ami = recorded("aws:ec2/instance:Instance", name).ami;
                assert.ok(ami, `${name} has an ami`);
                const lookup = amiLookups().find((c) => c.result.id === ami);
                assert.ok(lookup, `${name}: its ami came from a getAmi lookup`);
                assert.deepEqual(lookup.inputs.owners, [want.owner]);
                assert.equal(lookup.inputs.mostRecent, true);
                assert.deepEqual(filterValues(lookup, "name"), [want.name]);
                assert.deepEqual(filterValues(lookup, "architecture"), [want.architecture]);
                assert.equal(lookup.result.architecture, want.architecture);
            }
            assert.equal(recorded("aws:ec2/instance:Instance", "aws-byo").ami, "ami-0123456789abcdef0");
        });

        it("keeps a looked-up image from replacing running instances, but not a pinned one", () => {
            const ignored = (name: string) => options.find((o) => o.type === "aws:ec2/instance:Instance" && o.name === name)!.opts.ignoreChanges;
            assert.deepEqual(ignored("aws-hub"), ["ami"]);
            assert.equal(ignored("aws-byo"), undefined);
        });

        it("requires IMDSv2, encrypts a gp3 root disk of the configured size, and sets the hostname through cloud-init", () => {
            for (const spec of [...wireguardSpecs, ...zerotierSpecs].filter((s) => s.provider === "aws")) {
                const instance = recorded("aws:ec2/instance:Instance", spec.name);
                assert.equal(instance.metadataOptions?.httpTokens, "required", spec.name);
                assert.equal(instance.metadataOptions?.httpEndpoint, "enabled");
                assert.deepEqual(
                    [instance.rootBlockDevice?.volumeSize, instance.rootBlockDevice?.volumeType, instance.rootBlockDevice?.encrypted],
                    [spec.aws!.rootVolumeGb, "gp3", true],
                    spec.name,
                );
                assert.equal(instance.instanceType, spec.aws!.instanceType);
                assert.ok(instance.keyName, `${spec.name} has a key pair`);
                assert.match(instance.userData, new RegExp(`^#cloud-config\\n(.*\\n)*hostname: ${spec.name}\\n`));
                assert.match(instance.userData, /^preserve_hostname: false$/m);
                // The host key Pulumi pins is installed before sshd's first start; its private half keeps the user data secret.
                assert.match(
                    instance.userData,
                    /^ssh_deletekeys: true\nssh_genkeytypes: \[\]\nssh_keys:\n {2}ed25519_private: \|\n {4}host private key placeholder\n {2}ed25519_public: ssh-ed25519 AAAA/m,
                );
                const raw = mocks.resources.find((r) => r.type === "aws:ec2/instance:Instance" && r.name === spec.name)!.inputs;
                assert.ok(isSecretValue(raw.userData), `${spec.name}: user data holding a host key is secret`);
                assert.deepEqual(instance.tags, { Name: spec.name, cluster: spec.name.startsWith("zt-") ? "test-zt" : "test" });
            }
            assert.equal(recorded("aws:ec2/eip:Eip", "aws-hub").domain, "vpc");
        });

        it("boots the arch's image on Azure, key-only, on an OS disk of the configured size", () => {
            const expected: Record<string, { publisher: string; offer: string; sku: string; trustedLaunch: boolean }> = {
                "az-edge": { publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server-arm64", trustedLaunch: false },
                "az-agent": { publisher: "Debian", offer: "debian-12", sku: "12-gen2", trustedLaunch: true },
                "zt-az": { publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server", trustedLaunch: true },
            };
            for (const [name, want] of Object.entries(expected)) {
                const spec = specs.get(name)!;
                const vm = recorded("azure-native:compute:VirtualMachine", name);
                const { publisher, offer, sku } = vm.storageProfile?.imageReference ?? {};
                assert.deepEqual({ publisher, offer, sku }, { publisher: want.publisher, offer: want.offer, sku: want.sku }, name);
                assert.equal(vm.hardwareProfile?.vmSize, spec.azure!.size);
                assert.equal(vm.storageProfile?.osDisk?.diskSizeGB, spec.azure!.osDiskGb);
                assert.equal(vm.storageProfile?.osDisk?.createOption, "FromImage");
                assert.equal(vm.storageProfile?.osDisk?.managedDisk?.storageAccountType, "Premium_LRS");
                assert.equal(vm.securityProfile?.securityType, want.trustedLaunch ? "TrustedLaunch" : undefined);
                const linux = vm.osProfile?.linuxConfiguration;
                assert.equal(linux?.disablePasswordAuthentication, true, name);
                assert.equal(vm.osProfile?.adminPassword, undefined);
                assert.equal(vm.osProfile?.computerName, name);
                assert.equal(vm.osProfile?.adminUsername, "azureuser");
                assert.deepEqual(
                    linux?.ssh?.publicKeys?.map((k: any) => k.path),
                    ["/home/azureuser/.ssh/authorized_keys"],
                );
                assert.match(linux?.ssh?.publicKeys?.[0]?.keyData, /^ssh-ed25519 \S+ test$/);
                const cloudConfig = Buffer.from(vm.osProfile?.customData, "base64").toString();
                assert.match(cloudConfig, new RegExp(`^#cloud-config\\n(.*\\n)*hostname: ${name}\\n`));
            }
        });
    });

    describe("reaching the host", () => {
        it("connects to the Elastic IP / static public IP, not an ephemeral address", async () => {
            for (const [name, host] of hosts) {
                const connection = await settled(host.connection);
                assert.ok(connection.host, `${name} has a connection host`);
                assert.equal(connection.host, placeholderPublicIp(name), name);
                assert.equal(await settled(host.publicAddress), placeholderPublicIp(name));
                assert.deepEqual([connection.user, connection.port], [specs.get(name)!.sshUser, 22]);
                assert.ok(connection.privateKey, `${name} has a private key`);
            }
            assert.notEqual(placeholderPublicIp("aws-hub"), placeholderPublicIp("aws-hub-ephemeral"));
        });

        it("waits for cloud-init after the VM (and its Elastic IP), again whenever the VM is replaced", async () => {
            for (const [name, host] of hosts) {
                assert.equal(host.ready.length, 1);
                const wait = recorded("command:remote:Command", `${name}-cloud-init`);
                assert.equal(wait.create, cloudInitWaitCommand);
                const machine = host instanceof AwsHost ? host.instance : host.vm;
                const dependsOn = options.find((o) => o.type === "command:remote:Command" && o.name === `${name}-cloud-init`)!.opts
                    .dependsOn as pulumi.Resource[];
                assert.ok(dependsOn.includes(machine), `${name}: the wait depends on the VM`);
                assert.deepEqual(wait.triggers, [await settled(machine.id)]);
                assert.ok(wait.triggers[0], `${name}: the trigger is the VM's id`);
            }
            const eip = options.find((o) => o.type === "aws:ec2/eip:Eip" && o.name === "aws-hub")!.resource;
            const hubWait = options.find((o) => o.type === "command:remote:Command" && o.name === "aws-hub-cloud-init")!;
            assert.ok((hubWait.opts.dependsOn as pulumi.Resource[]).includes(eip), "the hub's wait depends on its Elastic IP");
            assert.equal(recorded("aws:ec2/eip:Eip", "aws-hub").instance, await settled(awsHost("aws-hub").instance.id));
        });
    });

    describe("refusals, before any resource exists", () => {
        const refuse = (build: () => unknown, name: string, message: RegExp) => {
            const before = mocks.resources.length;
            assert.throws(build, message);
            assert.equal(mocks.resources.filter((r) => r.name === name).length, 0);
            assert.equal(mocks.resources.length, before);
        };
        const awsArgs = (spec: NodeSpec) => ({ spec, cluster: wireguard, keyPair: "k", sshPrivateKey: "k", hostKey, provider: undefined as never });

        it("an arch that contradicts the instance type or VM size", () => {
            refuse(
                () => new AwsHost("bad-aws", awsArgs(awsNode("bad-aws", "arm64", ["agent"], { instanceType: "t3.small" }))),
                "bad-aws",
                /^Error: nodes\[bad-aws\]\.arch: arm64 contradicts instanceType t3\.small, which is amd64; pick a Graviton type/,
            );
            refuse(
                () =>
                    new AzureHost("bad-az", {
                        spec: azureNode("bad-az", "arm64", ["agent"], { size: "Standard_D2s_v5" }),
                        cluster: wireguard,
                        network: { location: "westeurope", resourceGroupName: "rg", subnetId: "s" },
                        sshPublicKey: "k",
                        sshPrivateKey: "k",
                        hostKey,
                    }),
                "bad-az",
                /^Error: nodes\[bad-az\]\.arch: arm64 contradicts size Standard_D2s_v5, which is amd64; pick an Ampere size/,
            );
        });

        it("a region, image, SSH port or admin user the clouds cannot take", () => {
            refuse(
                () => new AwsHost("bad-region", awsArgs(awsNode("bad-region", "arm64", ["agent"], { region: "Europe" }))),
                "bad-region",
                /nodes\[bad-region\]\.region: "Europe" is not an AWS region/,
            );
            refuse(
                () => new AwsHost("bad-os", awsArgs(awsNode("bad-os", "arm64", ["agent"], { os: "centos-7" as never }))),
                "bad-os",
                /nodes\[bad-os\]\.os: no arm64 image known for "centos-7"; use one of debian-12, ubuntu-24.04/,
            );
            refuse(
                () => new AwsHost("bad-port", awsArgs({ ...awsNode("bad-port", "arm64", ["agent"]), sshPort: 2222 })),
                "bad-port",
                /nodes\[bad-port\]\.sshPort: 2222: cloud images run sshd on 22/,
            );
            refuse(
                () =>
                    new AzureHost("bad-user", {
                        spec: { ...azureNode("bad-user", "amd64", ["agent"]), sshUser: "admin" },
                        cluster: wireguard,
                        network: { location: "westeurope", resourceGroupName: "rg", subnetId: "s" },
                        sshPublicKey: "k",
                        sshPrivateKey: "k",
                        hostKey,
                    }),
                "bad-user",
                /nodes\[bad-user\]\.sshUser: "admin" is a name Azure refuses/,
            );
        });
    });
});
