import { LifeboatError, ParseError } from "../core/errors.js";
import {
  classifyJournalFailure,
  type JournalEntry,
  parseJournalJson,
  parseListBoots,
} from "../core/journal.js";
import type { RootFs } from "../system/rootfs.js";
import type { RescueContext } from "./context.js";

export interface JournalQuery {
  boot?: string;
  priority?: string;
  unit?: string;
  cursor?: string;
  limit?: number;
}

export interface JournalPage {
  entries: JournalEntry[];
  nextCursor: string | null;
  /** Fewer entries than asked: the output hit the byte cap, or entries were unreadable. */
  truncated: boolean;
}

const BOOT = /^(-?\d{1,4}|[0-9a-f]{32})$/;
const PRIORITY = /^([0-7]|emerg|alert|crit|err|warning|notice|info|debug)$/;
const UNIT = /^[A-Za-z0-9@:._\\-]{1,256}$/;
const CURSOR = /^[A-Za-z0-9=;_-]{1,512}$/;
/** Where journald keeps a persistent journal: the default, and where impermanence setups persist /var/log. */
export const JOURNAL_DIRS = [
  "/var/log/journal",
  "/persist/var/log/journal",
  "/nix/persist/var/log/journal",
  "/persistent/var/log/journal",
];
/** Output kept per request, in bytes (entries can be large: the cap is not only a count). */
const MAX_BYTES = 8 * 1024 * 1024;
const MAX_BOOTS_BYTES = 4 * 1024 * 1024;
const TIMEOUT_MS = 60_000;
const MAX_JOURNAL_ENTRIES = 10_000;

/** A journal directory of the installed system, resolved and checked (JournalReader.locate). */
export interface JournalDir {
  /** Host path (what journalctl -D gets, and the one directory bound into its jail). */
  host: string;
  /** Path inside the installed system, as shown to the operator. */
  shown: string;
  /** Owning group (journal files are 0640 root:systemd-journal): the jailed reader's one group. */
  group?: number;
}

/**
 * The one path by which the installed system's journal is read, for GET /v1/journal and the
 * diagnosis alike: the directory is resolved inside the root through the door (a link such as
 * impermanence's /var/log → /persist/var/log stays inside it); journalctl opens every file below it
 * by path, so the two levels it reads (the directory, its machine-id directories) must hold only
 * directories and regular files: a link (out of the disk or not), FIFO or device node refuses the
 * journal. journalctl itself runs jailed (system/jail.ts) with only that directory bound read-only.
 */
export class JournalReader {
  constructor(private readonly ctx: RescueContext) {}

  /** The first of `candidates` that exists; null when none does. Throws `unsafe-file` for a hostile tree. */
  async locate(candidates: readonly string[] = JOURNAL_DIRS): Promise<JournalDir | null> {
    const m = await this.ctx.mounted();
    const files = m.installed.files;
    for (const path of candidates) {
      const st = await files.stat(path);
      if (st?.kind !== "dir") continue;
      const host = await files.hostDir(path);
      if (!host) continue;
      const canonical = host.slice(this.ctx.root.replace(/\/+$/, "").length) || "/";
      await this.checkTree(files, canonical, 0);
      return { host, shown: path, ...(st.gid !== undefined ? { group: st.gid } : {}) };
    }
    return null;
  }

  /** Whether the installed system keeps a persistent journal (cheap: one directory lookup). */
  async kept(): Promise<boolean> {
    const m = await this.ctx.mounted();
    return (await m.installed.files.hostDir(JOURNAL_DIRS[0] as string).catch(() => null)) !== null;
  }

  private async checkTree(files: RootFs, dir: string, depth: number): Promise<void> {
    const listing = await files.list(dir, { max: MAX_JOURNAL_ENTRIES });
    if (!listing) return;
    if (listing.skipped.length > 0)
      throw new LifeboatError("unsafe-file", `${dir}: ${listing.skipped[0]}; journalctl would not find it`, {
        path: dir,
      });
    for (const e of listing.entries) {
      const path = `${dir}/${e.name}`;
      if (e.kind === "dir") {
        if (depth === 0) await this.checkTree(files, path, 1);
      } else if (e.kind !== "file")
        throw new LifeboatError(
          "unsafe-file",
          `${path}: is a ${e.kind} in the journal directory (journalctl would follow or block on it); refused`,
          { path, found: e.kind },
        );
    }
  }

  /** journalctl -D <dir> args…, jailed. */
  run(dir: JournalDir, args: readonly string[]) {
    return this.ctx.sys.runJailed("journal", "journalctl", ["-D", dir.host, ...args], this.jail(dir));
  }

  /** The same, streaming. */
  spawn(dir: JournalDir, args: readonly string[]) {
    return this.ctx.sys.spawnJailed("journal", "journalctl", ["-D", dir.host, ...args], this.jail(dir));
  }

  private jail(dir: JournalDir) {
    return { data: dir.host, ...(dir.group !== undefined ? { group: dir.group } : {}) };
  }
}

/** The installed system's own journal (<root>/var/log/journal), read with journalctl -D. */
export class JournalService {
  private readonly reader: JournalReader;
  constructor(ctx: RescueContext) {
    this.reader = new JournalReader(ctx);
  }

  /** Whether the installed system keeps a persistent journal (what the page offers depends on it). */
  kept(): Promise<boolean> {
    return this.reader.kept();
  }

  private async dir(): Promise<JournalDir> {
    const dir = await this.reader.locate([JOURNAL_DIRS[0] as string]);
    if (!dir)
      throw new LifeboatError(
        "no-journal",
        "the installed system keeps no persistent journal (no /var/log/journal): its logs were only in memory",
        { journal: "none" },
      );
    return dir;
  }

  private fail(stderr: string): never {
    const kind = classifyJournalFailure(stderr);
    const msg = stderr.trim().split("\n")[0] ?? "journalctl failed";
    if (kind === "no-such-boot") throw new LifeboatError("not-found", msg);
    if (kind === "bad-cursor") throw new LifeboatError("validation-failed", msg);
    if (kind === "no-journal") throw new LifeboatError("not-found", msg);
    throw new LifeboatError("command-failed", msg);
  }

  async boots() {
    const out = await this.collect(await this.dir(), ["--list-boots", "-o", "json"], {
      maxBytes: MAX_BOOTS_BYTES,
      keep: "first",
    });
    if (out.truncated)
      throw new LifeboatError(
        "command-failed",
        `journalctl --list-boots printed more than ${MAX_BOOTS_BYTES} bytes`,
      );
    if (out.exitCode !== 0) this.fail(out.errors.join("\n"));
    return { boots: parseListBoots(out.lines.join("\n")) };
  }

  /**
   * Run journalctl, keeping at most `maxBytes` of output (and `maxLines` lines): the first ones
   * (paging forward; the process is stopped at the cap) or the last ones (the tail of a boot).
   */
  private async collect(
    dir: JournalDir,
    args: string[],
    o: { maxBytes: number; maxLines?: number; keep: "first" | "last" },
  ): Promise<{ lines: string[]; errors: string[]; exitCode: number | null; truncated: boolean }> {
    const p = this.reader.spawn(dir, args);
    const lines: string[] = [];
    const errors: string[] = [];
    let bytes = 0;
    let truncated = false;
    let stopped = false;
    const stop = () => {
      if (!stopped) p.kill("SIGTERM");
      stopped = true;
    };
    p.onLine((l) => {
      if (l.stream === "stderr") {
        if (errors.length < 20) errors.push(l.text);
        return;
      }
      if (stopped) return;
      if (l.truncated) {
        truncated = true; // one entry longer than a line may be: skipped, not half-parsed
        return;
      }
      const size = Buffer.byteLength(l.text) + 1;
      if (o.keep === "first") {
        if (bytes + size > o.maxBytes) {
          truncated = true;
          return stop();
        }
        lines.push(l.text);
        bytes += size;
        if (o.maxLines !== undefined && lines.length >= o.maxLines) stop();
        return;
      }
      lines.push(l.text);
      bytes += size;
      while (bytes > o.maxBytes && lines.length > 0) {
        bytes -= Buffer.byteLength(lines.shift() as string) + 1;
        truncated = true;
      }
    });
    const timer = setTimeout(() => {
      truncated = true;
      stop();
    }, TIMEOUT_MS);
    const r = await p.done.finally(() => clearTimeout(timer));
    if (r.notFound)
      throw new LifeboatError("command-failed", "journalctl is not installed on the rescue system");
    return {
      lines,
      errors,
      exitCode: stopped ? 0 : r.exitCode,
      truncated: truncated || r.truncated === true,
    };
  }

  /** Entries of journalctl's JSON lines; a line that does not parse is skipped (and counted). */
  private parse(lines: string[]): { entries: JournalEntry[]; bad: number } {
    const entries: JournalEntry[] = [];
    let bad = 0;
    for (const line of lines) {
      try {
        entries.push(...parseJournalJson(line));
      } catch (err) {
        if (!(err instanceof ParseError)) throw err;
        bad++;
      }
    }
    return { entries, bad };
  }

  /** Without a cursor: the last `limit` entries (where the boot hung). With one: the next `limit` after it. */
  async entries(q: JournalQuery): Promise<JournalPage> {
    const limit = Math.min(Math.max(q.limit ?? 200, 1), 5_000);
    if (q.boot !== undefined && !BOOT.test(q.boot))
      throw new LifeboatError("validation-failed", "boot is an offset (0, -1, …) or a 32-hex boot id");
    if (q.priority !== undefined && !PRIORITY.test(q.priority))
      throw new LifeboatError("validation-failed", "priority is 0–7 or emerg…debug");
    if (q.unit !== undefined && !UNIT.test(q.unit))
      throw new LifeboatError("validation-failed", "bad unit name");
    if (q.cursor !== undefined && !CURSOR.test(q.cursor))
      throw new LifeboatError("validation-failed", "bad cursor");
    const dir = await this.dir();
    const args = ["-o", "json", "--no-pager"];
    if (q.boot !== undefined) args.push("-b", q.boot);
    if (q.priority !== undefined) args.push("-p", q.priority);
    if (q.unit !== undefined) args.push("-u", q.unit);
    const forward = q.cursor !== undefined;
    // Forward paging streams and stops after `limit` entries (a whole journal can be large).
    const out = await this.collect(
      dir,
      forward ? [...args, "--after-cursor", q.cursor as string] : [...args, "-n", String(limit)],
      { maxBytes: MAX_BYTES, maxLines: forward ? limit : undefined, keep: forward ? "first" : "last" },
    );
    if (out.exitCode !== 0 && out.lines.length === 0) this.fail(out.errors.join("\n"));
    const { entries, bad } = this.parse(out.lines);
    const last = entries[entries.length - 1];
    return {
      entries,
      nextCursor: last ? last.cursor : forward ? (q.cursor as string) : null,
      truncated: out.truncated || bad > 0,
    };
  }
}
