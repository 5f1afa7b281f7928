// hybrid-k3s: one `pulumi up` per stack turns Pulumi.<stack>.yaml into a running k3s cluster on a
// private mesh. The architecture reads top-down in components/cluster.ts.
import { defineStack } from "./components/program";

const outputs = defineStack();

export const nodes = outputs.nodes;
export const kubeconfig = outputs.kubeconfig;
export const sshAuthorizedKey = outputs.sshAuthorizedKey;
export const operatorConfigs = outputs.operatorConfigs;
export const bootstrapScripts = outputs.bootstrapScripts;
export const appUrls = outputs.appUrls;
export const heldBack = outputs.heldBack;
