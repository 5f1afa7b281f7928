// The air-gapped k3s release mirror: for each version the scenarios need, the assets `k3s` and
// `k3s-arm64` and their sha256sum-<arch>.txt, laid out as <tag>/<file> (what the install script
// fetches from <release base>/<tag with + as %2B>/<file>). It holds the stand-in k3s, compiled
// here per version, unless the user gives a real binary.
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "./shell";

/** Compiles the stand-in (or copies the given binary) for each version into root. */
export async function buildMirror(root: string, versions: string[], realBinary?: string): Promise<void> {
    for (const version of versions) {
        const dir = join(root, version);
        mkdirSync(dir, { recursive: true });
        const binary = join(dir, "k3s");
        if (realBinary) copyFileSync(realBinary, binary);
        else {
            await run("cc", ["-static", "-O2", "-w", `-DK3S_VERSION="${version}"`, "-o", binary, join(__dirname, "standin", "k3s.c")]);
        }
        copyFileSync(binary, join(dir, "k3s-arm64"));
        const digest = createHash("sha256").update(readFileSync(binary)).digest("hex");
        writeFileSync(join(dir, "sha256sum-amd64.txt"), `${digest}  k3s\n`);
        writeFileSync(join(dir, "sha256sum-arm64.txt"), `${digest}  k3s-arm64\n`);
    }
}
