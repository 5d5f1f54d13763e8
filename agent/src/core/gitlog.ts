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

/**
 * How git is run on the installed system's repository, which is untrusted data: no system or global
 * config, no $HOME, no pager, no hooks, no fsmonitor, no external diff, no replace objects, no
 * optional locks (nothing written). Config in the repository itself is still read by git; every key
 * of it that can run a program on `log`/`rev-list`/`diff` is overridden here (command-line `-c` wins).
 */
export function gitInvocation(gitDir: string): { env: Record<string, string>; args: string[] } {
  return {
    env: {
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_CONFIG_GLOBAL: "/dev/null",
      GIT_ATTR_NOSYSTEM: "1",
      HOME: "/var/empty",
      XDG_CONFIG_HOME: "/var/empty",
      GIT_TERMINAL_PROMPT: "0",
      GIT_OPTIONAL_LOCKS: "0",
      GIT_NO_REPLACE_OBJECTS: "1",
      GIT_PAGER: "cat",
      PAGER: "cat",
      GIT_EXTERNAL_DIFF: "",
      GIT_DIR: gitDir,
    },
    args: [
      "-c",
      "core.fsmonitor=false",
      "-c",
      "core.hooksPath=/dev/null",
      "-c",
      "core.pager=cat",
      "-c",
      `safe.directory=${gitDir}`,
      "-c",
      `safe.directory=${gitDir.replace(/\/\.git$/, "")}`,
      "-c",
      "log.showSignature=false",
      "-c",
      "log.mailmap=false",
      "-c",
      "diff.external=",
      "-c",
      "core.attributesFile=/dev/null",
      "-c",
      "gpg.program=false",
      "-c",
      "core.sshCommand=false",
      "-c",
      "diff.noprefix=false",
      "-c",
      "diff.mnemonicPrefix=false",
      "-c",
      "log.decorate=false",
      `--git-dir=${gitDir}`,
      "--no-pager",
    ],
  };
}
