// Every resource type that can open a port, by type token.
import { ResourceRef } from "../inbound";
import { Known } from "../inputs";
import { awsReaders } from "./aws";
import { azureReaders } from "./azure";
import { ReadResource } from "./shared";

export { GroupKind, GroupReference, ReadResource } from "./shared";

const readers: Record<string, (props: Known, resource: ResourceRef) => ReadResource> = { ...awsReaders, ...azureReaders };

/** azure-native also publishes each API version under its own token ("azure-native:network/v20240301:SecurityRule"). */
function canonicalType(type: string): string {
    return type.replace(/^(azure-native:[^:/]+)\/v[^:]+:/, "$1:");
}

export function isReadable(type: string): boolean {
    return canonicalType(type) in readers;
}

/** The rules a resource declares, or undefined for a type that opens nothing. */
export function readResource(props: Known, resource: ResourceRef): ReadResource | undefined {
    return readers[canonicalType(resource.type)]?.(props, resource);
}
