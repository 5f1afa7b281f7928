// The stack config's refusals: each bad config rejected with exactly one problem, naming the field.
import { assertOneProblem, at, index, node, prodRaw, unpinnedRaw, withNodes } from "./config-helpers";

describe("stack config", () => {
    const cases: Array<[string, () => Record<string, unknown>, string, RegExp]> = [
        [
            "duplicate node names",
            () =>
                withNodes((n) => {
                    node("aws-arm", n).name = "k3s-soh-re";
                }),
            at("aws-arm", "name"),
            new RegExp(`already the name of nodes\\[${index("k3s-soh-re")}\\]`),
        ],
        [
            "a name that is not a hostname",
            () =>
                withNodes((n) => {
                    node("black-intel", n).name = "Black_Intel";
                }),
            at("black-intel", "name"),
            /not a valid hostname/,
        ],
        ["an invalid mesh CIDR", () => ({ ...prodRaw(), meshCidr: "10.0.0.1/24" }), "meshCidr", /network address/],
        [
            "an invalid mesh address",
            () =>
                withNodes((n) => {
                    node("white-amd", n).meshAddress = "10.0.0.300";
                }),
            at("white-amd", "meshAddress"),
            /not an IPv4 address/,
        ],
        ["an invalid SSH source CIDR", () => ({ ...prodRaw(), sshSourceCidrs: ["0.0.0.0/33"] }), "sshSourceCidrs[0]", /not an IPv4 CIDR/],
        [
            "a mesh address outside the mesh CIDR",
            () =>
                withNodes((n) => {
                    node("white-amd", n).meshAddress = "10.1.0.2";
                }),
            at("white-amd", "meshAddress"),
            /not a host address of meshCidr 10.0.0.0\/24/,
        ],
        [
            "a mesh address used twice",
            () =>
                withNodes((n) => {
                    node("lenovo-laptop", n).meshAddress = "10.0.0.2";
                }),
            at("lenovo-laptop", "meshAddress"),
            /already used by node white-amd; pin a free address/,
        ],
        ["a mesh CIDR overlapping the cluster CIDR", () => unpinnedRaw("10.42.0.0/24"), "meshCidr", /overlaps clusterCidr 10.42.0.0\/16/],
        ["a mesh CIDR overlapping the service CIDR", () => unpinnedRaw("10.43.128.0/24"), "meshCidr", /overlaps serviceCidr/],
        [
            "no server",
            () =>
                withNodes((n) => {
                    node("k3s-soh-re", n).roles = ["agent", "ingress"];
                }),
            "nodes",
            /no node has role server/,
        ],
        [
            "two embedded-etcd servers",
            () =>
                withNodes((n) => {
                    node("aws-arm", n).roles = ["server", "edge", "ingress"];
                }),
            "nodes",
            /2 servers with embedded etcd .* odd number/,
        ],
        [
            "embedded-etcd servers in different sites",
            () =>
                withNodes((n) => {
                    node("aws-arm", n).roles = ["server", "edge", "ingress"];
                    node("azure-amd", n).roles = ["server"];
                }),
            "nodes",
            /span sites aws:us-east-1, azure:eastus/,
        ],
        [
            "a wireguard mesh without a hub",
            () =>
                withNodes((n) => {
                    node("phy01", n).roles = ["edge"];
                }),
            "nodes",
            /exactly one node with role hub \(found 0\)/,
        ],
        [
            "a wireguard mesh with two hubs",
            () =>
                withNodes((n) => {
                    node("aws-arm", n).roles = ["agent", "edge", "ingress", "hub"];
                }),
            "nodes",
            /exactly one .* \(found 2: phy01, aws-arm\)/,
        ],
        [
            "a hub without a public address",
            () =>
                withNodes((n) => {
                    delete node("phy01", n).address;
                }),
            at("phy01", "address"),
            /required for a reachable existing host/,
        ],
        [
            "a host behind NAT with a public address",
            () =>
                withNodes((n) => {
                    node("white-amd", n).address = "203.0.113.20";
                }),
            at("white-amd", "address"),
            /behind NAT has no public address/,
        ],
        [
            "a host behind NAT as hub or edge",
            () =>
                withNodes((n) => {
                    node("white-amd", n).roles = ["agent", "edge"];
                }),
            at("white-amd", "roles"),
            /behind NAT and cannot take role edge/,
        ],
        [
            "an arm64 node on an x86 instance type",
            () =>
                withNodes((n) => {
                    node("aws-arm", n).instanceType = "t3.small";
                }),
            at("aws-arm", "arch"),
            /arm64 contradicts instanceType t3.small, which is amd64/,
        ],
        [
            "an amd64 node on a Graviton type",
            () =>
                withNodes((n) => {
                    node("k3s-soh-re", n).arch = "amd64";
                }),
            at("k3s-soh-re", "arch"),
            /amd64 contradicts instanceType t4g.medium, which is arm64/,
        ],
        [
            "an arm64 node on an x86 Azure size",
            () =>
                withNodes((n) => {
                    node("azure-amd", n).arch = "arm64";
                }),
            at("azure-amd", "arch"),
            /arm64 contradicts size Standard_B2s.*Standard_D2ps_v5/,
        ],
        ["an unknown top-level key", () => ({ ...prodRaw(), meshCdir: "10.0.0.0/24" }), "hybrid-k3s:meshCdir", /unknown setting; did you mean "meshCidr"\?/],
        [
            "an unknown node key",
            () =>
                withNodes((n) => {
                    node("aws-arm", n).instanceTyp = "t4g.small";
                }),
            at("aws-arm", "instanceTyp"),
            /unknown key; did you mean "instanceType"\?/,
        ],
        [
            "an API port opened to the internet on an edge host",
            () =>
                withNodes((n) => {
                    node("aws-arm", n).publicTcpPorts = [8080, 6443];
                }),
            at("aws-arm", "publicTcpPorts"),
            /6443 is the Kubernetes API, reachable only over the mesh/,
        ],
        [
            "a flannel port opened to the internet as a UDP service",
            () =>
                withNodes((n) => {
                    node("phy01", n).publicUdpPorts = [53, 8472];
                }),
            at("phy01", "publicUdpPorts"),
            /8472 is flannel VXLAN, reachable only over the mesh/,
        ],
        [
            "adopt on a cloud VM (always ours)",
            () =>
                withNodes((n) => {
                    node("aws-arm", n).adopt = true;
                }),
            at("aws-arm", "adopt"),
            /belongs to provider existing, not aws/,
        ],
        [
            "an edgeFallback by DNS name",
            () =>
                withNodes((n) => {
                    node("phy01", n).edgeFallback = { http: "web.lan:8080", https: "127.0.0.1:8443" };
                }),
            at("phy01", "edgeFallback.http"),
            /"web\.lan:8080" is not an IP address and port; write it like 127\.0\.0\.1:8443/,
        ],
        [
            "an edgeFallback on the edge's own port",
            () =>
                withNodes((n) => {
                    node("phy01", n).edgeFallback = { http: "127.0.0.1:8080", https: "127.0.0.1:443" };
                }),
            at("phy01", "edgeFallback.https"),
            /the edge's own port 443 on this host; move the web server to another port/,
        ],
        [
            "an edgeFallback on a node that is no edge",
            () =>
                withNodes((n) => {
                    node("white-amd", n).edgeFallback = { http: "127.0.0.1:8080", https: "127.0.0.1:8443" };
                }),
            at("white-amd", "edgeFallback"),
            /only an edge forwards to a fallback; add the edge role or remove edgeFallback/,
        ],
        [
            "the etcd range opened to the internet",
            () =>
                withNodes((n) => {
                    node("phy01", n).publicTcpPorts = [2380];
                }),
            at("phy01", "publicTcpPorts"),
            /2380 is etcd/,
        ],
        [
            "an SSH port a cloud image does not use",
            () =>
                withNodes((n) => {
                    node("aws-arm", n).sshPort = 2222;
                }),
            at("aws-arm", "sshPort"),
            /cloud images run sshd on 22/,
        ],
        [
            "an admin user Azure refuses",
            () =>
                withNodes((n) => {
                    node("azure-amd", n).sshUser = "admin";
                }),
            at("azure-amd", "sshUser"),
            /a name Azure refuses/,
        ],
        ["a mesh CIDR inside the AWS VPC", () => unpinnedRaw("10.250.8.0/24"), "meshCidr", /overlaps the AWS VPC 10.250.0.0\/16/],
        [
            "a key of another provider",
            () =>
                withNodes((n) => {
                    node("azure-amd", n).region = "us-east-1";
                }),
            at("azure-amd", "region"),
            /belongs to provider aws/,
        ],
        [
            "an existing host without its host key",
            () =>
                withNodes((n) => {
                    delete node("black-intel", n).hostKey;
                }),
            at("black-intel", "hostKey"),
            /is required: the host's public SSH host key/,
        ],
        [
            "a host key that is not one",
            () =>
                withNodes((n) => {
                    node("black-intel", n).hostKey = "ssh-ed25519 not base64!";
                }),
            at("black-intel", "hostKey"),
            /not an SSH public key line/,
        ],
        [
            "an operator named like a node",
            () => ({ ...prodRaw(), operators: [{ name: "phy01" }] }),
            "operators[0].name",
            /also a node's name; names are unique across nodes and operators/,
        ],
        ["the hub's WireGuard port on flannel's", () => ({ ...prodRaw(), meshListenPort: "51820" }), "meshListenPort", /51820 is flannel WireGuard's port/],
        ["a k3s release that is no tag", () => ({ ...prodRaw(), k3sVersion: "latest" }), "hybrid-k3s:k3sVersion", /write it like v1.36.1\+k3s1/],
        ["an Istio version that is no version", () => ({ ...prodRaw(), istioVersion: "1.30; curl x | sh" }), "hybrid-k3s:istioVersion", /write it like 1.30.5/],
        ["an MTU out of bounds", () => ({ ...prodRaw(), meshMtu: "90000" }), "hybrid-k3s:meshMtu", /90000 is outside 1280..9000/],
        ["an upgrade batch of zero", () => ({ ...prodRaw(), upgradeBatchSize: "0" }), "hybrid-k3s:upgradeBatchSize", /0 is outside 1..1000/],
        [
            "a NodePort outside the range",
            () => ({ ...prodRaw(), gatewayHttpNodePort: "8080" }),
            "hybrid-k3s:gatewayHttpNodePort",
            /8080 is outside 30000..32767/,
        ],
        [
            "an extra k3s flag that rebinds the API",
            () => ({ ...prodRaw(), k3sServerFlags: ["--bind-address=0.0.0.0"] }),
            "hybrid-k3s:k3sServerFlags[0]",
            /would override bind-address/,
        ],
        [
            "an extra k3s flag carrying a secret",
            () => ({ ...prodRaw(), k3sAgentFlags: ["--token=abc"] }),
            "hybrid-k3s:k3sAgentFlags[0]",
            /would override token/,
        ],
        ["a TLS SAN that is no name", () => ({ ...prodRaw(), k3sTlsSans: ["k3s soh re"] }), "hybrid-k3s:k3sTlsSans[0]", /neither an IP address nor a DNS name/],
        [
            "two servers decommissioned in one up",
            () =>
                withNodes((n) => {
                    for (const name of ["aws-arm", "azure-amd"]) node(name, n).roles = ["server"];
                    node("aws-arm", n).site = node("azure-amd", n).site = "aws:us-east-1";
                    node("aws-arm", n).decommission = node("azure-amd", n).decommission = true;
                }),
            at("azure-amd", "decommission"),
            /aws-arm and azure-amd would leave etcd at once/,
        ],
        [
            "the hub decommissioned",
            () =>
                withNodes((n) => {
                    node("phy01", n).decommission = true;
                }),
            at("phy01", "decommission"),
            /is the hub; move the hub role/,
        ],
    ];
    for (const [label, raw, field, text] of cases) {
        it(`rejects ${label}, naming ${field}`, () => assertOneProblem(raw(), field, text));
    }
});
