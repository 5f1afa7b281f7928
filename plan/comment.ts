// The PR comment for one stack: diff.md with a marker that makes the comment sticky (the workflow
// edits the comment carrying it instead of adding another), cut below GitHub's limit at host
// boundaries so the summary, its counts and the policy verdict always survive, with a link to the
// full diff uploaded as an artifact.
//   npm run plan -- --stack prod --base <sha> && tsx plan/comment.ts --stack prod [--out out] [--artifact-url URL]
// writes out/<stack>/comment.md.
import * as fs from "fs";
import * as path from "path";
import { sectionMarker, StepRecord } from "./diff";
import { projectDir } from "./plan";

/** GitHub refuses issue comments longer than this many characters. */
export const githubCommentLimit = 65536;

/** The hidden line the workflow finds its own comment by, one per stack. */
export function commentMarker(stack: string): string {
    return `<!-- hybrid-k3s plan-diff stack=${stack} -->`;
}

export interface CommentInput {
    stack: string;
    /** diff.md as plan/diff.ts writes it. */
    diff: string;
    /** steps.json: counted again here, so a cut comment still says how much it left out. */
    steps: StepRecord[];
    /** Where the full diff.md can be downloaded (the workflow run's artifact). */
    artifactUrl?: string;
    /** Characters the comment may use (tests lower it; GitHub's own limit is the default). */
    limit?: number;
}

/** Room kept for the footer that says what was cut. */
const footerRoom = 1000;

export function buildComment(input: CommentInput): string {
    const limit = input.limit ?? githubCommentLimit;
    const [summary, ...sections] = input.diff.split(`${sectionMarker}\n`);
    const head = `${commentMarker(input.stack)}\n${summary.trimEnd()}\n`;
    const full = [head, ...sections].join("\n");
    if (full.length + footerRoom / 2 <= limit) return `${full.trimEnd()}\n${artifactLine(input)}`;

    // Whole sections while they fit; a section too big keeps its step table and drops its file diffs.
    const kept: string[] = [head];
    let used = head.length;
    let shownHosts = 0;
    for (const section of sections) {
        const candidates = [section, withoutFileDiffs(section)];
        const fitting = candidates.find((text) => used + text.length + 1 + footerRoom <= limit);
        if (!fitting) break;
        kept.push(fitting);
        used += fitting.length + 1;
        shownHosts++;
    }
    const left = sections.slice(shownHosts);
    const leftSteps = left.reduce((n, section) => n + stepRows(section), 0);
    const footer = [
        "",
        `**Cut to fit GitHub's comment limit**: ${left.length} more section(s) with ${leftSteps} more step row(s) not shown here;` +
            ` the counts above cover all ${input.steps.length} steps in steps.json.`,
        artifactLine(input),
    ].join("\n");
    return `${kept.join("\n").trimEnd()}\n${footer}`;
}

function artifactLine(input: CommentInput): string {
    return input.artifactUrl
        ? `\n[Full diff.md and steps.json](${input.artifactUrl}) (this run's \`plan-diff\` artifact, \`${input.stack}/\`).\n`
        : `\nFull diff.md and steps.json: this run's \`plan-diff\` artifact, \`${input.stack}/\`.\n`;
}

/** A host's section without its collapsed file diffs (its file list and step table stay). */
function withoutFileDiffs(section: string): string {
    return section.replace(/<details><summary>file diffs<\/summary>[\s\S]*?<\/details>/, "_file diffs in the artifact_");
}

/** Step rows of a section's table (rows start with "| <wave> |"). */
function stepRows(section: string): number {
    return section.split("\n").filter((line) => /^\| (\d+|–) \|/.test(line)).length;
}

function main(argv: string[]): void {
    const option = (name: string, fallback?: string) => {
        const i = argv.indexOf(`--${name}`);
        return i >= 0 ? argv[i + 1] : fallback;
    };
    const stack = option("stack", "prod")!;
    const dir = path.join(path.resolve(option("out", path.join(projectDir, "out"))!), stack);
    const comment = buildComment({
        stack,
        diff: fs.readFileSync(path.join(dir, "diff.md"), "utf8"),
        steps: JSON.parse(fs.readFileSync(path.join(dir, "steps.json"), "utf8")) as StepRecord[],
        artifactUrl: option("artifact-url"),
    });
    fs.writeFileSync(path.join(dir, "comment.md"), comment);
    console.log(`${path.join(dir, "comment.md")}: ${comment.length} characters`);
}

if (require.main === module) main(process.argv.slice(2));
