// The public edge, as pure renderers: the shared plan, HAProxy, NGINX stream, and the install script.
export * from "./haproxy";
export * from "./install";
export * from "./nginx";
export * from "./plan";
