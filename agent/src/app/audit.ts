import { dirname } from "node:path";
import type { Logger } from "pino";
import type { System } from "../system/system.js";
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

/**
 * Every change and job, as JSON lines: kept in memory (GET /v1/audit) and appended to
 * <root>/var/log/lifeboat/audit.jsonl on the rescued system when it is mounted read-write, so the
 * server's owner finds a record of what was done to it.
 */
export class Audit {
  private readonly entries: AuditEntry[] = [];
  constructor(
    private readonly sys: System,
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

  /** Append to a file (job log, audit.jsonl) in the rescued system's audit directory, when it is writable. */
  append(name: string, text: string): Promise<boolean> {
    return this.write(name, text, "append");
  }

  /** Replace a file in the audit directory (job records). */
  put(name: string, text: string): Promise<boolean> {
    return this.write(name, text, "replace");
  }

  private async write(name: string, text: string, how: "append" | "replace"): Promise<boolean> {
    const inst = await this.installed();
    if (!inst) return false;
    try {
      const path = await inst.resolve(`${AUDIT_DIR}/${name}`);
      await this.sys.mkdir(dirname(path));
      const old = how === "append" ? ((await this.sys.readFile(path))?.toString("utf8") ?? "") : "";
      await this.sys.writeFile(path, old + text, 0o600);
      return true;
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "audit file not written");
      return false;
    }
  }

  /** Files of a subdirectory of the audit directory, with their text (readable even read-only). */
  async readAll(
    sub: string,
    readable: () => Promise<{ resolve(p: string): Promise<string> } | null>,
  ): Promise<{ name: string; text: string }[]> {
    const inst = await readable();
    if (!inst) return [];
    const dir = await inst.resolve(`${AUDIT_DIR}/${sub}`);
    const out: { name: string; text: string }[] = [];
    for (const name of (await this.sys.readdir(dir)) ?? []) {
      const text = (await this.sys.readFile(`${dir}/${name}`))?.toString("utf8");
      if (text !== undefined) out.push({ name, text });
    }
    return out;
  }

  list(): AuditEntry[] {
    return [...this.entries].reverse();
  }
}
