import type { Logger } from "pino";
import { parseConsole } from "../core/consoleLog.js";
import type { ApiRequest, Diagnosis, Proposal } from "../core/diagnosis.js";
import { LifeboatError } from "../core/errors.js";
import type { Audit, AuditEntry } from "./audit.js";
import { cancelScope, holdingFor } from "./cancel.js";
import type { DiagnosisService } from "./diagnosis.js";
import type { OperationLock } from "./lock.js";
import type { ReaderGate } from "./readers.js";

/** What a console capture showed (the lines it matched; the rest of the text is not kept). */
export interface ConsoleSummary {
  lines: number;
  truncated: boolean;
  stuckModule: string | null;
  toplevel: string | null;
  found: { line: number; kind: string; text: string }[];
}

/** What was already done about a proposal: the audit entry of the change it asks for. */
export interface Done {
  at: string;
  action: string;
  target: string | null;
  snapshot: string | null;
}

export type DiagnosisWithDone = Omit<Diagnosis, "proposals"> & {
  proposals: (Proposal & { done: Done | null })[];
  /** When it was computed (it is reused until the installed system changes). */
  computedAt: string;
};

export interface DiagnosisState {
  state: "none" | "running" | "ready" | "failed";
  /** When the running (or last) computation started. */
  since: string | null;
  /** What the running computation reads now ("the journal", "/etc/nixos's git history"…). */
  step: string | null;
  computedAt: string | null;
  error: string | null;
}

/** The change an API request makes, as the audit names it (action, target). */
export function auditKey(r: ApiRequest): [string, string] | null {
  if (r.method !== "POST") return null;
  if (r.path === "/v1/boot/default" && typeof r.body?.generation === "number")
    return ["boot-default", `generation ${r.body.generation}`];
  let m = /^\/v1\/boot\/entries\/([^/]+)\/kernel-params$/.exec(r.path);
  if (m?.[1]) return ["kernel-params", decodeURIComponent(m[1])];
  m = /^\/v1\/snapshots\/([^/]+)\/rollback$/.exec(r.path);
  if (m?.[1]) return ["snapshot-rollback", decodeURIComponent(m[1])];
  return null;
}

const afterOf = (e: AuditEntry): string[] => {
  const r = e.detail.result as { after?: unknown } | undefined;
  return Array.isArray(r?.after) ? (r.after as string[]) : [];
};

/** The latest successful audit entry of a change one of the proposal's requests asks for. */
export function doneOf(p: Proposal, audit: readonly AuditEntry[]): Done | null {
  for (const r of p.requests) {
    const key = auditKey(r);
    if (!key) continue;
    const add = r.path.endsWith("/kernel-params") ? ((r.body?.add as string[] | undefined) ?? []) : [];
    // audit lists newest first
    const hit = audit.find(
      (e) =>
        e.result === "ok" &&
        e.action === key[0] &&
        e.target === key[1] &&
        add.every((a) => afterOf(e).includes(a)),
    );
    if (hit)
      return {
        at: hit.at,
        action: hit.action,
        target: hit.target,
        snapshot: typeof hit.detail.snapshot === "string" ? hit.detail.snapshot : null,
      };
  }
  return null;
}

/** The commands the diagnosis runs, as its progress: "reading the journal"… */
function stepOf(file: string, args: readonly string[]): string {
  const words = [file, ...args].map((a) => a.split("/").pop() ?? a);
  if (words.includes("journalctl")) return "reading the journal";
  if (words.includes("git")) return "reading the history of /etc/nixos";
  if (words.includes("zfs")) return "listing snapshots";
  return `running ${file.split("/").pop()}`;
}

/**
 * The diagnosis, computed once per state of the installed system: in the background after a mount,
 * again after each change (invalidate), cancelled when a change of the mounts needs them. Readers
 * of GET /v1/diagnosis share the running computation; one cancelled by a re-mount is started again
 * on the new mounts, so the request that waited for it still gets an answer.
 */
export class DiagnosisCache {
  private version = 0;
  private result: { version: number; at: string; diagnosis: Diagnosis } | null = null;
  private running: { version: number; promise: Promise<Diagnosis>; abort: AbortController } | null = null;
  private view: DiagnosisState = { state: "none", since: null, step: null, computedAt: null, error: null };

  constructor(
    private readonly service: DiagnosisService,
    private readonly readers: ReaderGate,
    private readonly lock: OperationLock,
    private readonly audit: Audit,
    private readonly log: Logger,
    /** Whether the installed system is mounted now. */
    private readonly mounted: () => Promise<boolean>,
  ) {}

  get state(): DiagnosisState {
    return { ...this.view };
  }

  /** The installed system changed (a change, a job, a mount): what was computed is stale. */
  invalidate(): void {
    this.version++;
    this.result = null;
    this.running?.abort.abort();
    this.view = { state: "none", since: null, step: null, computedAt: null, error: null };
  }

  /**
   * The operator's console capture of a failed boot (pasted, or a serial log): read as data for the
   * stage-1 failures (core/consoleLog.ts), only what it found is kept, and the diagnosis is computed
   * again with it. null forgets it.
   */
  giveConsole(text: string | null): ConsoleSummary {
    const facts = text === null ? null : parseConsole(text);
    this.service.console = facts;
    this.invalidate();
    return {
      lines: facts?.lines ?? 0,
      truncated: facts?.truncated ?? false,
      stuckModule: facts?.stuckModule ?? null,
      toplevel: facts?.toplevel ?? null,
      found: (facts?.found ?? []).map((l) => ({ line: l.line, kind: l.kind, text: l.text })),
    };
  }

  /** Start computing in the background (after a mount, after a change), once the lock is free. */
  warm(): void {
    void (async () => {
      await this.lock.whenFree();
      if (!(await this.mounted())) return;
      await this.get().catch((err: Error) =>
        this.log.info({ err: err.message }, "background diagnosis ended early"),
      );
    })();
  }

  /** The diagnosis of the current state: the cached one, the running one, or a new one. */
  async get(fresh = false): Promise<DiagnosisWithDone> {
    if (fresh) this.invalidate();
    for (let attempt = 0; ; attempt++) {
      const version = this.version;
      if (this.result?.version === version) return this.withDone(this.result.diagnosis, this.result.at);
      try {
        const d = await this.start(version).promise;
        if (this.result?.version === version) return this.withDone(d, this.result.at);
      } catch (err) {
        if (!(err instanceof LifeboatError && err.code === "cancelled") || attempt >= 5) throw err;
      }
      // Cancelled or made stale by a change: wait for the change to end, then compute again.
      await this.lock.whenFree();
    }
  }

  private start(version: number) {
    if (this.running?.version === version) return this.running;
    this.running?.abort.abort();
    const abort = new AbortController();
    const since = new Date().toISOString();
    this.view = { ...this.view, state: "running", since, step: "reading the installed system", error: null };
    // The steps of the commands running now (the journal and the snapshots are read side by side).
    const active: string[] = [];
    const show = () => {
      if (this.running?.version === version && this.view.state === "running")
        this.view = { ...this.view, step: [...new Set(active)].join(", ") || "reading the installed system" };
    };
    const scope = {
      signal: abort.signal,
      onCommand: (file: string, args: readonly string[]) => {
        const step = stepOf(file, args);
        active.push(step);
        show();
        return () => {
          active.splice(active.indexOf(step), 1);
          show();
        };
      },
    };
    // Over only when it holds nothing open any more (a cancelled one's other branches included).
    const promise = this.readers.read(
      "diagnosis",
      async () => {
        try {
          return await cancelScope.run(scope, () => this.service.diagnose());
        } finally {
          await holdingFor(scope).idle();
        }
      },
      () => abort.abort(),
    );
    const run = { version, promise, abort };
    this.running = run;
    promise.then(
      (diagnosis) => {
        if (this.running === run) this.running = null;
        if (version !== this.version) return;
        const at = new Date().toISOString();
        this.result = { version, at, diagnosis };
        this.view = { state: "ready", since, step: null, computedAt: at, error: null };
      },
      (err: Error) => {
        if (this.running === run) this.running = null;
        if (version !== this.version) return;
        const cancelled = err instanceof LifeboatError && err.code === "cancelled";
        this.view = cancelled
          ? { state: "none", since: null, step: null, computedAt: null, error: null }
          : { state: "failed", since, step: null, computedAt: null, error: err.message };
      },
    );
    return run;
  }

  private withDone(d: Diagnosis, at: string): DiagnosisWithDone {
    const audit = this.audit.list();
    return { ...d, computedAt: at, proposals: d.proposals.map((p) => ({ ...p, done: doneOf(p, audit) })) };
  }
}
