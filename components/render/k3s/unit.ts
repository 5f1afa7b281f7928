// The k3s systemd unit: what k3s's own installer writes, bound to the mesh and started behind the
// host firewall. The settings live in config.yaml, so ExecStart stays short.
import { firewallRulesetPath, firewallUnitName, k3sBinaryPath, k3sUnitName } from "../../paths";
import { K3sNodeFacts, validateFacts } from "./facts";

export function renderK3sUnit(f: K3sNodeFacts): { path: string; content: string } {
    validateFacts(f);
    const content = `# Rendered by hybrid-k3s for ${f.nodeName}; shipped as a file, never written by k3s's installer.
[Unit]
Description=Lightweight Kubernetes (k3s ${f.role} on the ${f.meshInterface} mesh)
Documentation=https://k3s.io
Wants=network-online.target
# k3s binds to the mesh address, so the mesh and our firewall come first, and k3s goes down with the mesh.
After=network-online.target ${firewallUnitName} ${f.meshUnit}
Requires=${f.meshUnit}

[Install]
WantedBy=multi-user.target

[Service]
Type=notify
# For proxy settings only; the official installer's .service.env, which holds the token, is not read.
EnvironmentFile=-/etc/default/%N
EnvironmentFile=-/etc/sysconfig/%N
KillMode=process
Delegate=yes
# Having non-zero Limit*s causes performance problems due to accounting overhead
# in the kernel. We recommend using cgroups to do container-local accounting.
LimitNOFILE=1048576
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
TimeoutStartSec=0
Restart=always
RestartSec=5s
ExecStartPre=-/sbin/modprobe br_netfilter
ExecStartPre=-/sbin/modprobe overlay
# Load the host firewall before k3s opens any port; without it k3s does not start (fail closed).
ExecStartPre=/usr/sbin/nft -f ${firewallRulesetPath}
ExecStart=${k3sBinaryPath} ${f.role}
`;
    return { path: `/etc/systemd/system/${k3sUnitName(f.role)}`, content };
}
