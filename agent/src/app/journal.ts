import { LifeboatError } from "../core/errors.js";
import {
  classifyJournalFailure,
  type JournalEntry,
  parseJournalJson,
  parseListBoots,
} from "../core/journal.js";
import type { RescueContext } from "./context.js";

export interface JournalQuery {
  boot?: string;
  priority?: string;
  unit?: string;
  cursor?: string;
  limit?: number;
}

const BOOT = /^(-?\d{1,4}|[0-9a-f]{32})$/;
const PRIORITY = /^([0-7]|emerg|alert|crit|err|warning|notice|info|debug)$/;
const UNIT = /^[A-Za-z0-9@:._\\-]{1,256}$/;
const CURSOR = /^[A-Za-z0-9=;_-]{1,512}$/;

/** The installed system's own journal (<root>/var/log/journal), read with journalctl -D. */
export class JournalService {
  constructor(private readonly ctx: RescueContext) {}

  private async dir(): Promise<string> {
    const m = await this.ctx.mounted();
    const dir = await m.installed.resolve("/var/log/journal");
    if (!(await this.ctx.sys.lstat(dir)))
      throw new LifeboatError(
        "not-found",
        "the installed system has no persistent journal (/var/log/journal): its logs were only in memory",
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
    const r = await this.ctx.sys.run("journalctl", ["-D", await this.dir(), "--list-boots", "-o", "json"]);
    if (r.exitCode !== 0) this.fail(r.stderr);
    return { boots: parseListBoots(r.stdout) };
  }

  /** Without a cursor: the last `limit` entries (where the boot hung). With one: the next `limit` after it. */
  async entries(q: JournalQuery): Promise<{ entries: JournalEntry[]; nextCursor: string | null }> {
    const limit = Math.min(Math.max(q.limit ?? 200, 1), 5_000);
    if (q.boot !== undefined && !BOOT.test(q.boot))
      throw new LifeboatError("validation-failed", "boot is an offset (0, -1, …) or a 32-hex boot id");
    if (q.priority !== undefined && !PRIORITY.test(q.priority))
      throw new LifeboatError("validation-failed", "priority is 0–7 or emerg…debug");
    if (q.unit !== undefined && !UNIT.test(q.unit))
      throw new LifeboatError("validation-failed", "bad unit name");
    if (q.cursor !== undefined && !CURSOR.test(q.cursor))
      throw new LifeboatError("validation-failed", "bad cursor");
    const args = ["-D", await this.dir(), "-o", "json", "--no-pager"];
    if (q.boot !== undefined) args.push("-b", q.boot);
    if (q.priority !== undefined) args.push("-p", q.priority);
    if (q.unit !== undefined) args.push("-u", q.unit);
    if (q.cursor === undefined) {
      const r = await this.ctx.sys.run("journalctl", [...args, "-n", String(limit)]);
      if (r.exitCode !== 0) this.fail(r.stderr);
      const entries = parseJournalJson(r.stdout);
      return {
        entries,
        nextCursor: entries.length > 0 ? (entries[entries.length - 1] as JournalEntry).cursor : null,
      };
    }
    // Forward paging: stream and stop after `limit` entries (a whole journal can be large).
    const p = this.ctx.sys.spawn("journalctl", [...args, "--after-cursor", q.cursor]);
    const lines: string[] = [];
    const errors: string[] = [];
    p.onLine((l) => {
      if (l.stream === "stderr") errors.push(l.text);
      else if (lines.length < limit) {
        lines.push(l.text);
        if (lines.length === limit) p.kill("SIGTERM");
      }
    });
    const r = await p.done;
    if (r.exitCode !== 0 && r.signal === null && lines.length === 0) this.fail(errors.join("\n"));
    const entries = parseJournalJson(lines.join("\n"));
    return {
      entries,
      nextCursor: entries.length > 0 ? (entries[entries.length - 1] as JournalEntry).cursor : q.cursor,
    };
  }
}
