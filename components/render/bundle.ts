// The one way files reach a host: a POSIX sh script, sent on stdin (so secret content never sits in
// a command line), that writes each file atomically with its mode, records which ones changed, and
// then runs the apply step. The offline plan parses the same script back into files, so what the
// plan shows is byte for byte what would be shipped.

export interface BundleFile {
    /** Absolute path on the host. */
    path: string;
    /** Octal mode, e.g. "0600". */
    mode: string;
    content: string;
}

const delimiter = "HK3S_FILE_END";
const putLine = /^hk3s_put '([^']+)' ([0-7]{4}) <<'HK3S_FILE_END'$/;

export function validateBundleFile(file: Pick<BundleFile, "path" | "mode">): void {
    if (!/^\/[A-Za-z0-9._@/+-]+$/.test(file.path) || file.path.includes("/../")) {
        throw new Error(`file path "${file.path}" must be absolute and use only letters, digits and ._@/+-`);
    }
    if (!/^[0-7]{4}$/.test(file.mode)) throw new Error(`file mode "${file.mode}" for ${file.path} must be four octal digits, e.g. 0600`);
}

/**
 * Renders the script. `apply` runs after every file is in place, with `hk3s_changed PATH` telling
 * whether that file changed in this run (so services restart only when their input did).
 * Set ROOT to write under another directory (tests do; hosts leave it empty).
 */
export function renderBundle(title: string, files: BundleFile[], apply: string): string {
    const lines = [
        "#!/bin/sh",
        `# hybrid-k3s: ${title.replace(/\n/g, " ")}`,
        "set -eu",
        "umask 077",
        'ROOT="${ROOT:-}"',
        "HK3S_CHANGED=''",
        "# hk3s_put PATH MODE: base64 content on stdin; replaces the file only when it differs.",
        "hk3s_put() {",
        '  target="$ROOT$1"',
        '  (umask 022 && mkdir -p "$(dirname "$target")")',
        '  tmp="$target.hk3s-new"',
        '  base64 -d > "$tmp"',
        '  chmod "$2" "$tmp"',
        '  if [ -f "$target" ] && cmp -s "$tmp" "$target"; then',
        '    rm -f "$tmp"',
        '    chmod "$2" "$target"',
        "  else",
        '    mv -f "$tmp" "$target"',
        '    HK3S_CHANGED="$HK3S_CHANGED $1 "',
        "  fi",
        "}",
        "# hk3s_changed PATH: true when this run replaced PATH.",
        "hk3s_changed() {",
        '  case "$HK3S_CHANGED" in *" $1 "*) return 0 ;; *) return 1 ;; esac',
        "}",
    ];
    for (const file of files) {
        validateBundleFile(file);
        lines.push(`hk3s_put '${file.path}' ${file.mode} <<'${delimiter}'`);
        lines.push(...wrap(Buffer.from(file.content, "utf8").toString("base64"), 76));
        lines.push(delimiter);
    }
    lines.push('echo "hybrid-k3s: changed:${HK3S_CHANGED:- nothing}"', "# apply", apply.trim(), "");
    return lines.join("\n");
}

function wrap(text: string, width: number): string[] {
    const out: string[] = [];
    for (let i = 0; i < text.length; i += width) out.push(text.slice(i, i + width));
    return out;
}

/** Reads the files back out of a rendered bundle (the offline plan's view of what a host receives). */
export function parseBundle(script: string): BundleFile[] {
    const files: BundleFile[] = [];
    const lines = script.split("\n");
    for (let i = 0; i < lines.length; i++) {
        const match = putLine.exec(lines[i]);
        if (!match) continue;
        const end = lines.indexOf(delimiter, i + 1);
        if (end < 0) throw new Error(`bundle: no ${delimiter} after ${match[1]}`);
        files.push({ path: match[1], mode: match[2], content: Buffer.from(lines.slice(i + 1, end).join(""), "base64").toString("utf8") });
        i = end;
    }
    return files;
}
