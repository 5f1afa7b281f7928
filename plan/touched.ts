// Which stacks a change touches: a stack whose Pulumi.<stack>.yaml changed, or every stack when the
// program changed. `tsx plan/touched.ts --base <sha>` prints them as a JSON array (the PR workflow's
// matrix). File names come from the PR, so stack names are checked before they go anywhere.
import { spawnSync } from "child_process";
import * as fs from "fs";
import { projectDir } from "./plan";

/** What a stack name may look like (Pulumi's own rule, and safe in a path and a shell word). */
const stackName = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** Changes that cannot alter any stack's plan: docs, tests, CI, the chat bot. */
const outsideThePlan = [/\.md$/, /^docs\//, /^test\//, /^\.github\//, /^bot\//];

/** Stacks whose config the repository holds (Pulumi.<stack>.yaml next to Pulumi.yaml). */
export function stacksIn(files: string[]): string[] {
    return files
        .flatMap((file) => /^Pulumi\.(.+)\.yaml$/.exec(file)?.[1] ?? [])
        .filter((name) => stackName.test(name))
        .sort();
}

/** The stacks a change to these files touches, among the existing ones. */
export function touchedStacks(changedFiles: string[], stacks: string[]): string[] {
    const configs = new Set(stacksIn(changedFiles));
    const programChanged = changedFiles.some((file) => !/^Pulumi\.(.+)\.yaml$/.test(file) && !outsideThePlan.some((pattern) => pattern.test(file)));
    return stacks.filter((stack) => programChanged || configs.has(stack));
}

function main(argv: string[]): void {
    const base = argv[argv.indexOf("--base") + 1];
    if (!argv.includes("--base") || !base) throw new Error("usage: tsx plan/touched.ts --base <git ref>");
    const diff = spawnSync("git", ["diff", "--name-only", "-z", "--end-of-options", `${base}...HEAD`], { cwd: projectDir, encoding: "utf8" });
    if (diff.status !== 0) throw new Error(`git diff against ${base}: ${diff.stderr.trim()}`);
    const changed = diff.stdout.split("\0").filter(Boolean);
    console.log(JSON.stringify(touchedStacks(changed, stacksIn(fs.readdirSync(projectDir)))));
}

if (require.main === module) main(process.argv.slice(2));
