// The one way files reach a host: a POSIX sh script, sent on stdin (so secret content never sits in
// a command line), that writes each file atomically with its mode, records which ones changed, and
// then runs the apply step. The offline plan parses the same script back into files, so what the
// plan shows is byte for byte what would be shipped.
//
// A run that fails after replacing files keeps the list of what it changed, so the retry still
// restarts what depends on them; runs on one host take a lock; a file with a check is replaced only
// when the check accepts the new content (a broken ruleset never replaces a working one).
import { configDir, haproxyConfigPath, libDir, nginxConfigPath, stateDir } from "../paths";

export interface BundleFile {
    /** Absolute path on the host. */
    path: string;
    /** Octal mode, e.g. "0600". */
    mode: string;
    content: string;
    /** Shell that must accept the new file (its path is "$1") before it replaces the old one. */
    check?: string;
}

export interface BundleSteps {
    /** Runs before any file is written (installing the packages whose tools the checks use). */
    prepare?: string;
    /** Runs after every file is in place; `hk3s_changed PATH` tells whether PATH changed. */
    apply: string;
}

const delimiter = "HK3S_FILE_END";
const putLine = /^hk3s_put '([^']+)' ([0-7]{4})(?: (hk3s_check_\d+))? <<'HK3S_FILE_END'$/;

export function validateBundleFile(file: Pick<BundleFile, "path" | "mode">): void {
    if (!/^\/[A-Za-z0-9._@/+-]+$/.test(file.path) || file.path.includes("/../")) {
        throw new Error(`file path "${file.path}" must be absolute and use only letters, digits and ._@/+-`);
    }
    if (!/^[0-7]{4}$/.test(file.mode)) throw new Error(`file mode "${file.mode}" for ${file.path} must be four octal digits, e.g. 0600`);
}

/** The bundle's name as a file name, for its pending list. */
function stateName(id: string): string {
    if (!/^[a-z0-9][a-z0-9.-]*$/.test(id)) throw new Error(`bundle id "${id}" must be lowercase letters, digits, . and -`);
    return id;
}

/**
 * Renders the script. `id` names the bundle on the host (its pending list). Set ROOT to write under
 * another directory (tests do; hosts leave it empty).
 */
export function renderBundle(id: string, title: string, files: BundleFile[], steps: BundleSteps): string {
    const pending = `$ROOT${stateDir}/pending/${stateName(id)}`;
    const written = `$ROOT${stateDir}/written`;
    const lines = [
        "#!/bin/sh",
        `# hybrid-k3s: ${title.replace(/\n/g, " ")}`,
        "set -eu",
        "umask 077",
        'ROOT="${ROOT:-}"',
        `mkdir -p "$ROOT${stateDir}/pending"`,
        "# One bundle at a time on a host: two runs must not interleave their writes and restarts.",
        "if command -v flock >/dev/null 2>&1; then",
        `  exec 9>"$ROOT${stateDir}/bundle.lock"`,
        '  flock -w 600 9 || { echo "hybrid-k3s: another run holds the lock for 10 minutes; giving up" >&2; exit 1; }',
        "fi",
        "# What an earlier, failed run changed counts as changed now, so its restarts still happen.",
        `HK3S_CHANGED=" $( (tr '\\n' ' ' < "${pending}") 2>/dev/null || true) "`,
        "# hk3s_put PATH MODE [CHECK]: base64 content on stdin; replaces the file only when it differs and CHECK accepts it.",
        "hk3s_put() {",
        '  target="$ROOT$1"',
        '  (umask 022 && mkdir -p "$(dirname "$target")")',
        '  tmp="$target.hk3s-new.$$"',
        '  base64 -d > "$tmp"',
        '  chmod "$2" "$tmp"',
        '  if [ -f "$target" ] && cmp -s "$tmp" "$target"; then',
        '    rm -f "$tmp"',
        '    chmod "$2" "$target"',
        "    return 0",
        "  fi",
        '  if [ -n "${3:-}" ] && ! "$3" "$tmp"; then',
        '    rm -f "$tmp"',
        '    echo "hybrid-k3s: the new $1 was refused by its check; the old one stays" >&2',
        "    exit 1",
        "  fi",
        "  # A file we did not write (not in our list) is the owner's: keep it beside ours.",
        `  if [ -f "$target" ] && ! grep -qxF "$1" "${written}" 2>/dev/null && [ ! -f "$target.hk3s-orig" ]; then`,
        '    cp -p "$target" "$target.hk3s-orig"',
        '    echo "hybrid-k3s: kept the original $1 as $1.hk3s-orig"',
        "  fi",
        '  mv -f "$tmp" "$target"',
        `  grep -qxF "$1" "${written}" 2>/dev/null || printf '%s\\n' "$1" >> "${written}"`,
        '  HK3S_CHANGED="$HK3S_CHANGED $1 "',
        "  # shellcheck disable=SC2086 # one path per word",
        `  printf '%s\\n' $HK3S_CHANGED > "${pending}"`,
        "}",
        "# hk3s_changed PATH: true when this run (or the failed one before it) replaced PATH.",
        "hk3s_changed() {",
        '  case "$HK3S_CHANGED" in *" $1 "*) return 0 ;; *) return 1 ;; esac',
        "}",
    ];
    files.forEach((file, i) => {
        if (file.check) lines.push(`hk3s_check_${i}() {`, `  ${file.check.trim()}`, "}");
    });
    if (steps.prepare) lines.push("# prepare", steps.prepare.trim());
    files.forEach((file, i) => {
        validateBundleFile(file);
        lines.push(`hk3s_put '${file.path}' ${file.mode}${file.check ? ` hk3s_check_${i}` : ""} <<'${delimiter}'`);
        lines.push(...wrap(Buffer.from(file.content, "utf8").toString("base64"), 76));
        lines.push(delimiter);
    });
    lines.push(
        "# shellcheck disable=SC2086 # one path per word",
        "changed=$(printf '%s\\n' $HK3S_CHANGED | tr '\\n' ' ')",
        'echo "hybrid-k3s: changed: ${changed:-nothing}"',
        "# apply",
        steps.apply.trim(),
        "# Applied: nothing is pending any more.",
        `rm -f "${pending}"`,
        "",
    );
    return lines.join("\n");
}

function wrap(text: string, width: number): string[] {
    const out: string[] = [];
    for (let i = 0; i < text.length; i += width) out.push(text.slice(i, i + width));
    return out;
}

/**
 * The same bundle with each file's content passed through `edit`, re-encoded in place (the offline
 * plan redacts what a file means, not how it is encoded). Text that is no bundle comes back as is.
 */
export function mapBundleContents(script: string, edit: (content: string) => string): string {
    const lines = script.split("\n");
    const out: string[] = [];
    for (let i = 0; i < lines.length; i++) {
        out.push(lines[i]);
        if (!putLine.test(lines[i])) continue;
        const end = lines.indexOf(delimiter, i + 1);
        if (end < 0) throw new Error(`bundle: no ${delimiter} after ${lines[i]}`);
        const content = Buffer.from(lines.slice(i + 1, end).join(""), "base64").toString("utf8");
        out.push(...wrap(Buffer.from(edit(content), "utf8").toString("base64"), 76), delimiter);
        i = end;
    }
    return out.join("\n");
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

/**
 * The last thing a leaving host runs (after its firewall, mesh and k3s are gone): every file our
 * bundles wrote goes, the owner's original comes back where we kept one (`.hk3s-orig`), an edge
 * proxy reloads the owner's config or stops when there is none, and our own directories go.
 * ROOT prefixes every path, as in the bundle.
 */
export function renderHostCleanup(): string {
    return `ROOT="\${ROOT:-}"
written="$ROOT${stateDir}/written"
if [ -f "$written" ]; then
  while read -r path; do
    case "$path" in /*) ;; *) continue ;; esac
    if [ -f "$ROOT$path.hk3s-orig" ]; then
      mv -f "$ROOT$path.hk3s-orig" "$ROOT$path"
      echo "hybrid-k3s: restored the original $path"
    else
      rm -f "$ROOT$path"
    fi
  done < "$written"
fi
for edge in haproxy:${haproxyConfigPath} nginx:${nginxConfigPath}; do
  service=\${edge%%:*}
  if grep -qxF "\${edge#*:}" "$written" 2>/dev/null; then
    if [ -f "$ROOT\${edge#*:}" ]; then systemctl try-reload-or-restart "$service" || true; else systemctl disable --now "$service" 2>/dev/null || true; fi
  fi
done
rm -rf "$ROOT${configDir}" "$ROOT${libDir}" "$ROOT${stateDir}"
systemctl daemon-reload`;
}
