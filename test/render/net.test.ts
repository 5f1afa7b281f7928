import { strict as assert } from "assert";
import {
    cidrContains,
    derivedAddress,
    formatIpv4,
    isDnsLabel,
    isDnsName,
    isDnsSubdomain,
    isPort,
    isReservedInCidr,
    networkOf,
    parseCidr,
    parseIpv4,
} from "../../components/net";

describe("net: addresses and names", () => {
    it("parses IPv4 and CIDRs strictly (a host address with a prefix is a typo, leading zeros are refused)", () => {
        assert.equal(formatIpv4(parseIpv4("10.0.0.7")!), "10.0.0.7");
        for (const bad of ["10.0.0.256", "10.0.0", "010.0.0.1", "a.b.c.d"]) assert.equal(parseIpv4(bad), undefined, bad);
        assert.equal(parseCidr("10.0.0.0/24")!.text, "10.0.0.0/24");
        for (const bad of ["10.0.0.1/24", "10.0.0.0/33", "10.0.0.0", "10.0.0.0/24/1"]) assert.equal(parseCidr(bad), undefined, bad);
        assert.equal(networkOf(parseIpv4("10.0.0.7")!, 24).text, "10.0.0.0/24");
    });

    it("derives mesh addresses inside the CIDR, never the network or broadcast address", () => {
        const cidr = parseCidr("10.0.0.0/29")!;
        for (let i = 0; i < 200; i++) {
            const address = derivedAddress(cidr, `node-${i}`);
            assert.ok(cidrContains(cidr, address) && !isReservedInCidr(cidr, address), formatIpv4(address));
        }
    });

    it("tells DNS labels, subdomains and public names apart", () => {
        assert.ok(isDnsLabel("white-amd") && !isDnsLabel("White_AMD") && !isDnsLabel("-x") && !isDnsLabel("a".repeat(64)));
        assert.ok(isDnsSubdomain("node.lab") && !isDnsSubdomain("node..lab"));
        assert.ok(isDnsName("zot.soh.re") && !isDnsName("localhost") && !isDnsName("203.0.113.10") && !isDnsName("*.soh.re"));
        assert.ok(isPort(443) && !isPort(0) && !isPort(65536) && !isPort(22.5) && !isPort("22"));
    });
});
