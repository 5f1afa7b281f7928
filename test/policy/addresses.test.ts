// The pack's address arithmetic and its port list, against the program's.
import { strict as assert } from "node:assert";
import { meshOnlyPorts } from "../../components/ports";
import { coversPublicSpace, IPV4, IPV6, parseCidr, publicSpace } from "../../policy/addresses";
import { defaultPolicyConfig } from "../../policy/policies";

const ranges = (...cidrs: string[]) => cidrs.map((cidr) => parseCidr(cidr) ?? assert.fail(cidr));

describe("policy address arithmetic", () => {
    it("keeps the same watched ports as the program's meshOnlyPorts", () => {
        assert.deepEqual(
            defaultPolicyConfig.apiPorts.map((port) => ({ protocol: port.protocol, from: port.from, to: port.to ?? port.from })),
            meshOnlyPorts.map(({ protocol, from, to }) => ({ protocol, from, to })),
        );
    });

    it("takes the public IPv4 space as everything but the special-purpose blocks", () => {
        const first = publicSpace[IPV4].slice(0, 3).map((range) => [range.first, range.last]);
        assert.deepEqual(first, [
            [0x01000000n, 0x09ffffffn], // 1.0.0.0 - 9.255.255.255
            [0x0b000000n, 0x643fffffn], // 11.0.0.0 - 100.63.255.255
            [0x64800000n, 0x7effffffn], // 100.128.0.0 - 126.255.255.255
        ]);
        assert.equal(publicSpace[IPV4].length, 13);
    });

    it("takes the public IPv6 space as global unicast without documentation and protocol blocks", () => {
        assert.ok(coversPublicSpace(ranges("2000::/3"), IPV6));
        assert.ok(
            coversPublicSpace(
                ranges(
                    "2000::/4",
                    "3000::/5",
                    "3800::/6",
                    "3c00::/7",
                    "3e00::/8",
                    "3f00::/9",
                    "3f80::/10",
                    "3fc0::/11",
                    "3fe0::/12",
                    "3ff0::/13",
                    "3ff8::/14",
                    "3ffc::/15",
                    "3ffe::/16",
                    "3fff:8000::/17",
                    "3fff:4000::/18",
                    "3fff:2000::/19",
                    "3fff:1000::/20",
                ),
                IPV6,
            ),
        );
        assert.ok(!coversPublicSpace(ranges("2000::/4", "3000::/5"), IPV6));
        assert.ok(!coversPublicSpace(ranges("::/0"), IPV4));
    });

    it("needs every public address: one missing /32 is a gap, a missing private or reserved block is not", () => {
        assert.ok(coversPublicSpace(ranges("0.0.0.0/1", "128.0.0.0/2", "192.0.0.0/3"), IPV4));
        assert.ok(
            !coversPublicSpace(
                ranges(
                    "0.0.0.0/5",
                    "8.0.0.0/13",
                    "8.8.0.0/21",
                    "8.8.8.0/29",
                    "8.8.8.9/32",
                    "8.8.8.10/31",
                    "8.8.8.12/30",
                    "8.8.8.16/28",
                    "8.8.8.32/27",
                    "8.8.8.64/26",
                    "8.8.8.128/25",
                    "8.8.9.0/24",
                    "8.8.10.0/23",
                    "8.8.12.0/22",
                    "8.8.16.0/20",
                    "8.8.32.0/19",
                    "8.8.64.0/18",
                    "8.8.128.0/17",
                    "8.9.0.0/16",
                    "8.10.0.0/15",
                    "8.12.0.0/14",
                    "8.16.0.0/12",
                    "8.32.0.0/11",
                    "8.64.0.0/10",
                    "8.128.0.0/9",
                    "9.0.0.0/8",
                    "10.0.0.0/7",
                    "12.0.0.0/6",
                    "16.0.0.0/4",
                    "32.0.0.0/3",
                    "64.0.0.0/2",
                    "128.0.0.0/1",
                ),
                IPV4,
            ),
        );
    });
});
