// The air-gapped k3s release mirror: for each version the scenarios need, the assets `k3s` and
// `k3s-arm64` and their sha256sum-<arch>.txt, laid out as <tag>/<file> (what the install script
// fetches from <release base>/<tag with + as %2B>/<file>). It holds the stand-in k3s, compiled
// here per version, unless the user gives a real binary.
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "./shell";

/** The names the mirror answers for over HTTPS when the stack has no release base setting (k3s's default). */
export const interceptedHosts = ["github.com", "objects.githubusercontent.com"];

export interface MirrorFiles {
    root: string;
    /** Set when the mirror also serves HTTPS for interceptedHosts. */
    tls?: { caPem: string; certFile: string; keyFile: string };
}

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

/** A throwaway CA and a certificate for interceptedHosts, so curl on the machines verifies the mirror. */
export async function mirrorCertificate(dir: string): Promise<NonNullable<MirrorFiles["tls"]>> {
    mkdirSync(dir, { recursive: true });
    const file = (name: string) => join(dir, name);
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    await run("openssl", [
        "req",
        "-x509",
        ...ec,
        "-keyout",
        file("ca.key"),
        "-out",
        file("ca.pem"),
        "-days",
        "2",
        "-subj",
        "/CN=hybrid-k3s rehearsal mirror CA (stand-in)",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]);
    await run("openssl", ["req", ...ec, "-keyout", file("mirror.key"), "-out", file("mirror.csr"), "-subj", `/CN=${interceptedHosts[0]}`]);
    writeFileSync(file("ext.cnf"), `subjectAltName=${interceptedHosts.map((h) => `DNS:${h}`).join(",")}\nextendedKeyUsage=serverAuth\n`);
    await run("openssl", [
        "x509",
        "-req",
        "-in",
        file("mirror.csr"),
        "-CA",
        file("ca.pem"),
        "-CAkey",
        file("ca.key"),
        "-CAcreateserial",
        "-out",
        file("mirror.pem"),
        "-days",
        "2",
        "-extfile",
        file("ext.cnf"),
    ]);
    return { caPem: readFileSync(file("ca.pem"), "utf8"), certFile: file("mirror.pem"), keyFile: file("mirror.key") };
}
