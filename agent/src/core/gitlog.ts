/**
 * Output of the two git commands the diagnosis runs on an /etc/nixos repository (see app/diagnosis):
 * `git log --format=%H%x1f%cI%x1f%an%x1f%s%x1e` and `git diff --unified=0 --no-color`.
 */
export interface GitCommit {
  hash: string;
  date: string;
  author: string;
  subject: string;
}

export const GIT_LOG_FORMAT = "%H%x1f%cI%x1f%an%x1f%s%x1e";

export function parseGitLog(text: string): GitCommit[] {
  const out: GitCommit[] = [];
  for (const rec of text.split("\x1e")) {
    const parts = rec.replace(/^\n+/, "").split("\x1f");
    if (parts.length < 4 || !/^[0-9a-f]{40,64}$/.test(parts[0] as string)) continue;
    out.push({
      hash: parts[0] as string,
      date: parts[1] as string,
      author: (parts[2] as string).slice(0, 200),
      subject: parts.slice(3).join(" ").trim().slice(0, 500),
    });
  }
  return out;
}

export interface ChangedLine {
  /** Path in the repository (the new name). */
  file: string;
  /** First line of the hunk in the new file (1-based). */
  line: number;
  /** The added lines of the hunk (at most 5). */
  added: string[];
}

/** Hunks of a `git diff --unified=0`: where each file changed, in the newer version. */
export function parseUnifiedDiff(text: string): ChangedLine[] {
  const out: ChangedLine[] = [];
  let file: string | null = null;
  let current: ChangedLine | null = null;
  for (const line of text.split("\n")) {
    if (line.startsWith("+++ ")) {
      const p = line.slice(4);
      file = p === "/dev/null" ? null : p.replace(/^b\//, "");
      current = null;
      continue;
    }
    if (line.startsWith("diff --git ") || line.startsWith("--- ")) {
      current = null;
      continue;
    }
    const h = /^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@/.exec(line);
    if (h && file) {
      current = { file, line: Math.max(1, Number(h[1])), added: [] };
      out.push(current);
      continue;
    }
    if (current && line.startsWith("+") && current.added.length < 5) current.added.push(line.slice(1));
  }
  return out;
}
