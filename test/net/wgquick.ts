// The wg-quick file keys the harness applies itself (wireguard-go + ip), and nothing else.
export interface WgQuickInterface {
    addresses: string[];
    mtu: number;
    preUp: string[];
    postUp: string[];
    allowedIps: string[];
}

/** The wg-quick keys this harness applies itself; anything else wg-quick would act on is refused. */
export function parseWgQuickInterface(text: string, file: string): WgQuickInterface {
    // Without MTU, wg-quick takes the route's MTU minus 80: 1420 on these 1500-byte veths.
    const settings: WgQuickInterface = { addresses: [], mtu: 1420, preUp: [], postUp: [], allowedIps: [] };
    let section = "";
    for (const rawLine of text.split("\n")) {
        const line = rawLine.replace(/#.*$/, "").trim();
        if (line === "") continue;
        const header = /^\[(\w+)\]$/.exec(line);
        if (header) {
            section = header[1].toLowerCase();
            continue;
        }
        const match = /^([A-Za-z]+)\s*=\s*(.*)$/.exec(line);
        if (!match) throw new Error(`${file}: cannot parse line "${rawLine}"`);
        const key = match[1].toLowerCase();
        const value = match[2].trim();
        const list = () =>
            value
                .split(",")
                .map((v) => v.trim())
                .filter(Boolean);
        if (section === "peer") {
            if (key === "allowedips") settings.allowedIps.push(...list());
            continue;
        }
        switch (key) {
            case "address":
                settings.addresses.push(...list());
                break;
            case "mtu":
                settings.mtu = Number(value);
                break;
            case "preup":
                settings.preUp.push(value);
                break;
            case "postup":
                settings.postUp.push(value);
                break;
            case "privatekey":
            case "listenport":
            case "fwmark":
                break; // wg setconf's own keys
            default:
                throw new Error(`${file}: the test harness does not apply wg-quick key "${match[1]}"; teach test/net/netns.ts`);
        }
    }
    if (settings.allowedIps.some((cidr) => cidr.endsWith("/0"))) {
        throw new Error(`${file}: default routes through the tunnel need wg-quick's policy routing, which the harness does not emulate`);
    }
    return settings;
}
