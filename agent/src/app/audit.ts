import type { Logger } from "pino";
import { LifeboatError } from "../core/errors.js";
import type { InstalledSystem } from "./installed.js";

export interface AuditEntry {
  at: string;
  who: string;
  action: string;
  target: string | null;
  result: "ok" | "failed" | "started";
  detail: Record<string, unknown>;
}

export const AUDIT_DIR = "/var/log/lifeboat";
const AUDIT_LOG = `${AUDIT_DIR}/audit.jsonl`;
const MAX_RECORD = 256 * 1024;
const MAX_RECORDS = 1_000;

/**
 * Every change and job, as JSON lines: kept in memory (GET /v1/audit) and appended to
 * <root>/var/log/lifeboat/audit.jsonl on the rescued system when it is mounted read-write, so the
 * server's owner finds a record of what was done to it. All of it through the installed system's
 * confined door: a link, FIFO or device node planted at any of these paths is refused.
 */
export class Audit {
  private readonly entries: AuditEntry[] = [];
  constructor(
    private readonly log: Logger,
    private readonly installed: () => Promise<InstalledSystem | null>,
    private readonly max = 2_000,
  ) {}

  async record(e: Omit<AuditEntry, "at">): Promise<AuditEntry> {
    const entry: AuditEntry = { at: new Date().toISOString(), ...e };
    this.entries.push(entry);
    if (this.entries.length > this.max) this.entries.shift();
    this.log.info({ audit: entry }, "audit");
    await this.append("audit.jsonl", `${JSON.stringify(entry)}\n`);
    return entry;
  }

  /**
   * Before a change: the audit directory, its jobs/ directory and audit.jsonl exist and are what
   * they should be (a planted FIFO, link or device node refuses the change before anything is done).
   */
  async ready(): Promise<void> {
    const inst = await this.installed();
    if (!inst) return;
    await this.dirs(inst, "jobs");
    await inst.files.append(AUDIT_LOG, "", { mode: 0o600 });
  }

  /** The audit directory (and a subdirectory): created when missing; a symlink there is refused. */
  private async dirs(inst: InstalledSystem, sub: string): Promise<void> {
    await inst.files.mkdirs(AUDIT_DIR, { follow: false });
    if (sub) await inst.files.mkdirs(`${AUDIT_DIR}/${sub}`, { follow: false });
  }

  /** Append to a file (job log, audit.jsonl) in the rescued system's audit directory, when it is writable. */
  append(name: string, text: string): Promise<boolean> {
    return this.write(name, text, "append");
  }

  /** Replace a file in the audit directory (job records), atomically. */
  put(name: string, text: string): Promise<boolean> {
    return this.write(name, text, "replace");
  }

  private async write(name: string, text: string, how: "append" | "replace"): Promise<boolean> {
    const inst = await this.installed();
    if (!inst) return false;
    const path = `${AUDIT_DIR}/${name}`;
    try {
      await this.dirs(inst, name.includes("/") ? name.slice(0, name.lastIndexOf("/")) : "");
      if (how === "append") await inst.files.append(path, text, { mode: 0o600 });
      else await inst.files.replace(path, text, { follow: false, mode: 0o600 });
      return true;
    } catch (err) {
      this.log.warn({ err: (err as Error).message, file: path }, "audit file not written");
      return false;
    }
  }

  /**
   * Regular files named *`suffix` in a subdirectory of the audit directory, with their text
   * (readable even read-only). What cannot be read safely is skipped and named in `warnings`.
   */
  async readAll(
    sub: string,
    suffix: string,
    readable: () => Promise<InstalledSystem | null>,
  ): Promise<{ files: { name: string; text: string }[]; warnings: string[] }> {
    const inst = await readable();
    const out = { files: [] as { name: string; text: string }[], warnings: [] as string[] };
    if (!inst) return out;
    const dir = `${AUDIT_DIR}/${sub}`;
    let listing: Awaited<ReturnType<typeof inst.files.list>>;
    try {
      listing = await inst.files.list(dir, { max: MAX_RECORDS });
    } catch (err) {
      out.warnings.push(`${dir} not read: ${(err as Error).message}`);
      return out;
    }
    if (!listing) return out;
    out.warnings.push(...listing.skipped.map((s) => `${dir}/${s}: skipped`));
    if (listing.truncated) out.warnings.push(`${dir}: more than ${MAX_RECORDS} entries, the rest skipped`);
    for (const e of listing.entries) {
      if (!e.name.endsWith(suffix)) continue;
      try {
        // Not followed: a record is a file we wrote, never a link to something else on the disk.
        const text = await inst.files.readText(`${dir}/${e.name}`, { max: MAX_RECORD, follow: false });
        if (text !== null) out.files.push({ name: e.name, text });
      } catch (err) {
        if (!(err instanceof LifeboatError)) throw err;
        out.warnings.push(`${dir}/${e.name} skipped: ${err.message}`);
      }
    }
    return out;
  }

  list(): AuditEntry[] {
    return [...this.entries].reverse();
  }
}
