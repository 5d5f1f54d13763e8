import type { GitFacts } from "../core/diagnosis.js";
import {
  GIT_LOG_FORMAT,
  gitConfigRefusal,
  gitInvocation,
  parseGitLog,
  parseUnifiedDiff,
} from "../core/gitlog.js";
import type { RootFs } from "../system/rootfs.js";
import type { System } from "../system/system.js";

const GIT_DIR = "/etc/nixos/.git";
const MAX_CONFIG = 64 * 1024;

/**
 * Commits of /etc/nixos between two dates, and where the .nix files changed (the diagnosis's "what
 * changed"). The repository is untrusted: the real git reads it (a well-kept reader of its own
 * format; reading loose objects and packs here would be a second, less tested one), but only
 * jailed (system/jail.ts: nobody, no network, only the .git directory bound read-only, limits) and
 * hardened (core/gitlog.ts gitInvocation). Before git runs, through the door: a `.git` that is a link
 * or a file (a worktree's pointer), links at its top, alternates or a commondir are refused, and so is
 * a config that asks for what reading history never needs (gitConfigRefusal: a partial clone's
 * promisor remote would make git fetch, running the command the disk names).
 */
export async function gitHistory(
  sys: System,
  files: RootFs,
  since: string | null,
  until: string | null,
): Promise<GitFacts> {
  const empty = (state: GitFacts["state"], detail: string | null): GitFacts => ({
    state,
    detail,
    commits: [],
    changes: [],
  });
  const st = await files.stat(GIT_DIR, { follow: false }).catch(() => null);
  if (!st) return empty("no-repository", null);
  if (st.kind !== "dir")
    return empty("refused", `${GIT_DIR} is not a plain directory (a link or a worktree pointer)`);
  for (const p of ["HEAD", "config", "objects", "refs", "packed-refs", "objects/pack", "objects/info"]) {
    const s = await files.stat(`${GIT_DIR}/${p}`, { follow: false }).catch(() => null);
    if (s?.kind === "link") return empty("refused", `${GIT_DIR}/${p} is a symbolic link`);
  }
  for (const p of ["objects/info/alternates", "commondir"])
    if (await files.stat(`${GIT_DIR}/${p}`, { follow: false }).catch(() => null))
      return empty("refused", `${GIT_DIR}/${p} points git elsewhere`);
  let config: Buffer | null;
  try {
    config = await files.readFile(`${GIT_DIR}/config`, { max: MAX_CONFIG });
  } catch (err) {
    return empty("refused", `${GIT_DIR}/config: ${(err as Error).message}`);
  }
  const refusal = config ? gitConfigRefusal(config.toString("utf8")) : null;
  if (refusal) return empty("refused", `${GIT_DIR} is not read: ${refusal}`);
  if (!since || !until) return empty("failed", "a generation date is unknown");
  const gitDir = await files.hostDir(GIT_DIR).catch(() => null);
  if (!gitDir) return empty("no-repository", null);
  const { env, args: safe } = gitInvocation(gitDir);
  const jail = { data: gitDir, env, ...(st.gid !== undefined ? { group: st.gid } : {}) };
  const run = (args: string[]) => sys.runJailed("git", "git", [...safe, ...args], jail);
  const log = await run([
    "log",
    "--no-color",
    "--no-show-signature",
    "--no-mailmap",
    `--since=${since}`,
    `--until=${until}`,
    "-n",
    "50",
    `--format=${GIT_LOG_FORMAT}`,
    "HEAD",
    "--",
  ]);
  if (log.notFound) return empty("unavailable", "git is not available on the rescue system");
  if (log.exitCode !== 0) return empty("failed", log.stderr.trim().split("\n")[0] ?? `exit ${log.exitCode}`);
  const commits = parseGitLog(log.stdout);
  const at = async (date: string) => {
    const r = await run(["rev-list", "-n", "1", `--before=${date}`, "HEAD", "--"]);
    return r.exitCode === 0 && /^[0-9a-f]{40,64}\s*$/.test(r.stdout) ? r.stdout.trim() : null;
  };
  const [a, b] = [await at(since), await at(until)];
  let changes: GitFacts["changes"] = [];
  if (a && b && a !== b) {
    const d = await run([
      "diff",
      "--unified=0",
      "--no-color",
      "--no-ext-diff",
      "--no-textconv",
      a,
      b,
      "--",
      "*.nix",
    ]);
    if (d.exitCode === 0) changes = parseUnifiedDiff(d.stdout.slice(0, 256 * 1024)).slice(0, 20);
  }
  return { state: "ok", detail: null, commits, changes };
}
