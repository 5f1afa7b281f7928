// Where a node runs: clouds, regions, sizes and architectures. Config validation and the host
// components report the same problems from here.
import { isDnsName, parseIpv4 } from "../net";
import { isSshPublicKey } from "../patterns";
import { defaultSshPort } from "../ports";
import { FieldReader } from "./readers";
import { Arch, AwsPlacement, AzurePlacement, ExistingPlacement, osImages, NodeSpec } from "./types";

/** The VPC this program creates in each AWS region, and the VNet in each Azure location. */
export const awsVpcCidr = "10.250.0.0/16";
export const azureVnetCidr = "10.251.0.0/16";

/** A problem with one field of a node. */
export interface FieldProblem {
    field: string;
    message: string;
}

/** AWS Graviton families carry a "g" after the generation digit (t4g, c7gn, m7gd, x2gd, a1). */
export function awsInstanceArch(instanceType: string): Arch | undefined {
    const family = instanceType.split(".")[0];
    if (!/^[a-z][a-z0-9-]*\.[a-z0-9]+$/.test(instanceType)) return undefined;
    return family === "a1" || /^[a-z]+\d+g[a-z]*$/.test(family) ? "arm64" : "amd64";
}

/** Azure Ampere sizes carry "p" among the feature letters after the vCPU count (D2ps_v5, D4pds_v5, E2ps_v5, B2pts_v2). */
export function azureSizeArch(size: string): Arch | undefined {
    const match = /^Standard_([A-Z]+)(\d+)(?:-\d+)?([a-z]*)(?:_v\d+)?$/.exec(size);
    if (!match) return undefined;
    return match[3].includes("p") ? "arm64" : "amd64";
}

/** Names Azure refuses for a VM's admin user. */
const azureReservedAdminUsers = new Set([
    "1",
    "123",
    "a",
    "actuser",
    "adm",
    "admin",
    "admin1",
    "admin2",
    "administrator",
    "aspnet",
    "backup",
    "console",
    "david",
    "guest",
    "john",
    "owner",
    "root",
    "server",
    "sql",
    "support",
    "support_388945a0",
    "sys",
    "test",
    "test1",
    "test2",
    "test3",
    "user",
    "user1",
    "user2",
    "user3",
    "user4",
    "user5",
]);

function cloudSshProblems(node: Pick<NodeSpec, "sshPort">): FieldProblem[] {
    return node.sshPort === defaultSshPort
        ? []
        : [{ field: "sshPort", message: `${node.sshPort}: cloud images run sshd on ${defaultSshPort} and nothing here moves it; remove sshPort` }];
}

/** What AWS needs of a node: a region, an instance type of the node's arch, a whole existing network or none. */
export function awsPlacementProblems(placement: AwsPlacement, node: Pick<NodeSpec, "arch" | "sshPort">): FieldProblem[] {
    const problems = cloudSshProblems(node);
    const { region, instanceType, ami, vpcId, subnetId } = placement;
    if (!/^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$/.test(region))
        problems.push({ field: "region", message: `"${region}" is not an AWS region (e.g. us-east-1)` });
    const typeArch = awsInstanceArch(instanceType);
    if (!typeArch) problems.push({ field: "instanceType", message: `"${instanceType}" is not an EC2 instance type (e.g. t4g.small)` });
    if (typeArch && typeArch !== node.arch) {
        problems.push({
            field: "arch",
            message:
                `${node.arch} contradicts instanceType ${instanceType}, which is ${typeArch}; ` +
                (node.arch === "arm64" ? "pick a Graviton type (t4g, c7g, m7g...)" : "pick an x86 type (t3, c6i, m7i...) or set arch: arm64"),
        });
    }
    if (ami !== undefined && !/^ami-[0-9a-f]{8,17}$/.test(ami)) problems.push({ field: "ami", message: `"${ami}" is not an AMI id (ami-0123456789abcdef0)` });
    if (subnetId !== undefined && !/^subnet-[0-9a-f]{8,17}$/.test(subnetId))
        problems.push({ field: "subnetId", message: `"${subnetId}" is not a subnet id (subnet-0123456789abcdef0)` });
    if (vpcId !== undefined && !/^vpc-[0-9a-f]{8,17}$/.test(vpcId))
        problems.push({ field: "vpcId", message: `"${vpcId}" is not a VPC id (vpc-0123456789abcdef0)` });
    if ((subnetId === undefined) !== (vpcId === undefined))
        problems.push({ field: subnetId ? "vpcId" : "subnetId", message: "vpcId and subnetId go together; set both or neither" });
    return problems;
}

/** What Azure needs of a node: a location, a VM size of the node's arch, an admin name Azure accepts. */
export function azurePlacementProblems(placement: AzurePlacement, node: Pick<NodeSpec, "arch" | "sshPort" | "sshUser">): FieldProblem[] {
    const problems = cloudSshProblems(node);
    const { location, size } = placement;
    if (!/^[a-z]+[a-z0-9]*$/.test(location))
        problems.push({ field: "location", message: `"${location}" is not an Azure location name (e.g. eastus, westeurope)` });
    const sizeArch = azureSizeArch(size);
    if (!sizeArch) problems.push({ field: "size", message: `"${size}" is not an Azure VM size (e.g. Standard_D2ps_v5)` });
    if (sizeArch && sizeArch !== node.arch) {
        problems.push({
            field: "arch",
            message:
                `${node.arch} contradicts size ${size}, which is ${sizeArch}; ` +
                (node.arch === "arm64"
                    ? "pick an Ampere size (Standard_D2ps_v5, Standard_D2pls_v5, Standard_E2ps_v5)"
                    : "pick an x86 size (Standard_B2s, Standard_D2s_v5) or set arch: arm64"),
        });
    }
    if (azureReservedAdminUsers.has(node.sshUser.toLowerCase())) {
        problems.push({ field: "sshUser", message: `"${node.sshUser}" is a name Azure refuses for the admin user; use e.g. azureuser` });
    }
    return problems;
}

export function readAws(r: FieldReader): AwsPlacement {
    return {
        region: r.string("region", true) ?? "",
        instanceType: r.string("instanceType", true) ?? "",
        ami: r.string("ami"),
        subnetId: r.string("subnetId"),
        vpcId: r.string("vpcId"),
        os: r.oneOf("os", osImages, "debian-12") ?? "debian-12",
        rootVolumeGb: r.integer("rootVolumeGb", 20, 8, 16384),
    };
}

export function readAzure(r: FieldReader): AzurePlacement {
    return {
        location: r.string("location", true) ?? "",
        size: r.string("size", true) ?? "",
        os: r.oneOf("os", osImages, "ubuntu-24.04") ?? "ubuntu-24.04",
        osDiskGb: r.integer("osDiskGb", 30, 30, 4095),
    };
}

export function readExisting(r: FieldReader): ExistingPlacement {
    const behindNat = r.boolean("behindNat", false);
    const address = r.string("address");
    if (!behindNat && address === undefined)
        r.problem("address", "is required for a reachable existing host; set it, or behindNat: true for a machine at home");
    if (behindNat && address !== undefined) r.problem("address", "a host behind NAT has no public address; remove address, or set behindNat: false");
    if (address !== undefined && parseIpv4(address) === undefined && !isDnsName(address))
        r.problem("address", `"${address}" is neither an IPv4 address nor a DNS name`);
    const hostKeyText = r.string("hostKey");
    // The comment after the key is the owner's; only type and key are pinned.
    const hostKey = hostKeyText?.trim().split(/\s+/).slice(0, 2).join(" ");
    if (hostKeyText === undefined) {
        r.problem(
            "hostKey",
            "is required: the host's public SSH host key, read over a trusted path (see the README: `cat /etc/ssh/ssh_host_ed25519_key.pub` on the machine)",
        );
    } else if (!isSshPublicKey(hostKey ?? "")) {
        r.problem("hostKey", `"${hostKeyText.slice(0, 40)}..." is not an SSH public key line like "ssh-ed25519 AAAA..."`);
    }
    const zerotierMemberId = r.matching("zerotierMemberId", /^[0-9a-f]{10}$/, "a1b2c3d4e5 (the 10 hex digits its bootstrap printed)");
    return { address, behindNat, hostKey: hostKey ?? "", enrolled: r.boolean("enrolled", false), ...(zerotierMemberId ? { zerotierMemberId } : {}) };
}
