// k3s on the private mesh, as pure renderers: config.yaml, unit, install and uninstall scripts,
// lifecycle commands and the operators' kubeconfig.
export * from "./facts";
export * from "./flags";
export * from "./install";
export * from "./kubeconfig";
export * from "./lifecycle";
export * from "./preflight";
export * from "./uninstall";
export * from "./unit";
