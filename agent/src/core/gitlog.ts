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
 * How git is run on the installed system's repository, which is untrusted data (git's own advice:
 * a repository's config is code). It runs jailed (system/jail.ts: no network, nobody, read-only, only
 * the .git directory bound); on top of that: no system or global config, no $HOME, no pager, no hooks,
 * no fsmonitor, no external diff or textconv, no replace objects, no optional locks (nothing
 * written), no lazy fetch of a partial clone's missing objects and no transport at all
 * (`GIT_NO_LAZY_FETCH`, git ≥ 2.45; `protocol.allow=never` on every git, which also stops the
 * lazy fetch's `git fetch` before it starts a promisor's uploadpack), small pack windows (the jail's
 * address-space limit). Config in the repository itself is still read by git; every key of it that
 * can run a program on `log`/`rev-list`/`diff` is overridden here (command-line `-c` wins), and a
 * repository whose config asks for what these commands never need is refused first
 * (gitConfigRefusal).
 */
export function gitInvocation(gitDir: string): { env: Record<string, string>; args: string[] } {
  return {
    env: {
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_CONFIG_GLOBAL: "/dev/null",
      GIT_ATTR_NOSYSTEM: "1",
      GIT_TERMINAL_PROMPT: "0",
      GIT_OPTIONAL_LOCKS: "0",
      GIT_NO_REPLACE_OBJECTS: "1",
      GIT_NO_LAZY_FETCH: "1",
      GIT_PROTOCOL_FROM_USER: "0",
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
      "protocol.allow=never",
      "-c",
      "credential.helper=",
      "-c",
      "core.packedGitWindowSize=32m",
      "-c",
      "core.packedGitLimit=256m",
      "-c",
      "core.deltaBaseCacheLimit=64m",
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

/** Repository extensions `log`, `rev-list` and `diff` may need (the object and ref formats). */
const NEEDED_EXTENSIONS = new Set(["objectformat", "refstorage", "worktreeconfig"]);

/**
 * Why a repository's config (`.git/config`, read through the door) is refused before git runs, or
 * null: an extension the history commands never need (`partialClone` makes git fetch missing
 * objects from a promisor remote, running the command that remote names), a promisor remote, a
 * repository format git does not know, or includes (config read from elsewhere). Section and key
 * names are case-insensitive in git; subsections are not parsed (a promisor key anywhere counts).
 */
export function gitConfigRefusal(text: string): string | null {
  let section = "";
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const head = /^\[\s*([A-Za-z0-9.-]+)(?:\s+"[^"]*")?\s*\](.*)$/.exec(line);
    let rest = line;
    if (head) {
      section = (head[1] as string).toLowerCase();
      rest = (head[2] as string).trim();
      if (section === "include" || section === "includeif")
        return `its config includes other files ([${head[1]}])`;
      if (rest === "" || rest.startsWith("#") || rest.startsWith(";")) continue;
    }
    const kv = /^([A-Za-z][A-Za-z0-9-]*)\s*(?:=\s*(.*))?$/.exec(rest);
    if (!kv) continue;
    const key = (kv[1] as string).toLowerCase();
    const value = (kv[2] ?? "true").trim().replace(/^"(.*)"$/, "$1");
    if (section.startsWith("extensions") && !NEEDED_EXTENSIONS.has(key))
      return `it uses extensions.${kv[1]}, which reading its history never needs (a partial clone would make git fetch)`;
    if (key === "promisor" || (section === "core" && key === "partialclonefilter"))
      return "it names a promisor remote (a partial clone: git would fetch missing objects)";
    if (section === "core" && key === "repositoryformatversion" && !/^[01]$/.test(value))
      return `unknown repository format version ${value}`;
  }
  return null;
}
