import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { shownCommand } from "../core/chroot.js";
import { LifeboatError } from "../core/errors.js";
import type { JobRecord, JobState } from "../core/jobrecord.js";
import type { System } from "../system/system.js";
import type { OperationLock } from "./lock.js";

export type { JobState };

export interface JobStep {
  label: string;
  file: string;
  args: string[];
}

export interface LogLine {
  n: number;
  at: string;
  stream: "stdout" | "stderr" | "lifeboat";
  text: string;
}

export type JobEvent =
  | { type: "line"; line: LogLine }
  | { type: "end"; state: JobState; exitCode: number | null };

export type JobView = JobRecord;

/** Job records kept on the rescued system; `warnings` name the records that were skipped. */
export interface JobStore {
  save(job: JobView): Promise<void>;
  load(): Promise<{ jobs: JobView[]; warnings: string[] }>;
}

/** Before the steps run (e.g. a network check); its lines go to the job log. */
export type Preflight = (say: (text: string) => void) => Promise<void>;

const GRACE_MS = 10_000;

class Job {
  readonly id = randomUUID();
  readonly createdAt = new Date();
  state: JobState = "running";
  exitCode: number | null = null;
  endedAt: Date | null = null;
  currentStep = 0;
  readonly lines: LogLine[] = [];
  dropped = 0;
  total = 0;
  readonly listeners = new Set<(e: JobEvent) => void>();
  kill: ((s: "SIGTERM" | "SIGKILL") => void) | null = null;
  /** Resolves once the job is recorded, the lock is free and `end` was announced. */
  finished: Promise<void> = Promise.resolve();
  /** `end` was announced: recorded and the lock freed (the state turns final a little earlier). */
  announced = false;
  saved: Promise<void> = Promise.resolve();
  cancelRequested = false;
  constructor(
    readonly kind: string,
    readonly title: string,
    readonly steps: JobStep[],
    readonly who: string,
    private readonly maxLines: number,
  ) {}

  push(stream: LogLine["stream"], text: string): void {
    const line: LogLine = { n: ++this.total, at: new Date().toISOString(), stream, text };
    this.lines.push(line);
    if (this.lines.length > this.maxLines) {
      this.lines.shift();
      this.dropped++;
    }
    for (const l of this.listeners) l({ type: "line", line });
  }

  view(): JobView {
    return {
      id: this.id,
      kind: this.kind,
      title: this.title,
      state: this.state,
      exitCode: this.exitCode,
      createdAt: this.createdAt.toISOString(),
      endedAt: this.endedAt?.toISOString() ?? null,
      durationMs: this.endedAt ? this.endedAt.getTime() - this.createdAt.getTime() : null,
      steps: this.steps.map((s) => ({
        label: s.label,
        command: [s.file, ...s.args],
        shown: shownCommand(s).join(" "),
      })),
      currentStep: this.currentStep,
      lines: this.total,
      droppedLines: this.dropped,
      who: this.who,
    };
  }
}

/**
 * Long-running commands as jobs: they hold the one-mutation lock while they run, survive client
 * disconnects, keep a bounded log in memory (and hand each line to `onLine`, e.g. the audit dir),
 * and can be cancelled (SIGTERM, then SIGKILL after a grace period).
 */
export class JobManager {
  private readonly jobs = new Map<string, Job>();
  private readonly order: string[] = [];

  constructor(
    private readonly sys: System,
    private readonly lock: OperationLock,
    private readonly log: Logger,
    private readonly opts: {
      maxLines?: number;
      maxJobs?: number;
      graceMs?: number;
      onEnd?: (job: JobView, log: LogLine[]) => Promise<void>;
      /** Job records kept on the rescued system, so a restarted agent can report interrupted jobs. */
      store?: JobStore;
    } = {},
  ) {}

  start(kind: string, title: string, steps: JobStep[], who: string, preflight?: Preflight): JobView {
    const release = this.lock.acquire(`${kind} job`);
    const job = new Job(kind, title, steps, who, this.opts.maxLines ?? 20_000);
    this.jobs.set(job.id, job);
    this.order.push(job.id);
    while (this.order.length > (this.opts.maxJobs ?? 50)) this.jobs.delete(this.order.shift() as string);
    const log = this.log.child({ job: job.id, kind });
    log.info({ steps: steps.map((s) => [s.file, ...s.args]) }, "job started");
    this.persist(job);
    job.finished = this.execute(job, preflight, log, release);
    return job.view();
  }

  private async execute(
    job: Job,
    preflight: Preflight | undefined,
    log: Logger,
    release: () => void,
  ): Promise<void> {
    try {
      if (preflight) await preflight((t) => job.push("lifeboat", t));
      for (const [i, step] of job.steps.entries()) {
        if (job.cancelRequested) break;
        job.currentStep = i;
        job.push("lifeboat", `$ ${shownCommand(step).join(" ")}`);
        const p = this.sys.spawn(step.file, step.args);
        job.kill = p.kill;
        p.onLine((l) => job.push(l.stream, l.text));
        const r = await p.done;
        job.kill = null;
        job.exitCode = r.exitCode;
        if (r.notFound) {
          job.push("lifeboat", `${step.file}: command not found on the rescue system`);
          job.exitCode = 127;
        }
        if (job.cancelRequested) break;
        if (job.exitCode !== 0) {
          job.state = "failed";
          break;
        }
      }
      if (job.cancelRequested) job.state = "cancelled";
      else if (job.state === "running") job.state = "succeeded";
    } catch (err) {
      job.push("lifeboat", `internal error: ${(err as Error).message}`);
      job.state = "failed";
    }
    job.endedAt = new Date();
    job.push("lifeboat", `job ${job.state}${job.exitCode !== null ? ` (exit code ${job.exitCode})` : ""}`);
    log.info({ state: job.state, exitCode: job.exitCode }, "job ended");
    // Persist (audit dir), then free the lock, then announce the end: a client that saw `end`
    // finds the record and can start the next change at once.
    await this.persist(job);
    await this.opts
      .onEnd?.(job.view(), [...job.lines])
      .catch((err: Error) => log.warn({ err: err.message }, "could not record the job log"));
    release();
    job.announced = true;
    for (const l of job.listeners) l({ type: "end", state: job.state, exitCode: job.exitCode });
    job.listeners.clear();
  }

  /** Saves of one job's record, in order (a slow first save must not land after the last one). */
  private persist(job: Job): Promise<void> {
    const view = job.view();
    job.saved = job.saved
      .then(() => this.opts.store?.save(view))
      .catch((err: Error) => this.log.warn({ job: job.id, err: err.message }, "job record not saved"));
    return job.saved;
  }

  private must(id: string): Job {
    const j = this.jobs.get(id);
    if (!j) throw new LifeboatError("not-found", `no job ${id}`, { job: id });
    return j;
  }

  get(id: string): JobView {
    return this.must(id).view();
  }

  list(): JobView[] {
    return this.order.map((id) => (this.jobs.get(id) as Job).view()).reverse();
  }

  /**
   * Jobs of this agent, plus those an earlier run left recorded on the rescued system: one still
   * marked running there was cut off (agent killed, machine reset) and is reported `interrupted`.
   * Records that cannot be read or are not job records are skipped and named in `warnings`.
   */
  async listAll(): Promise<{ jobs: JobView[]; warnings: string[] }> {
    const mine = this.list();
    const known = new Set(mine.map((j) => j.id));
    const stored = await (this.opts.store?.load() ?? Promise.resolve({ jobs: [], warnings: [] })).catch(
      (err: Error) => ({ jobs: [] as JobView[], warnings: [`job records not read: ${err.message}`] }),
    );
    const past = stored.jobs
      .filter((j) => !known.has(j.id))
      .map((j) => (j.state === "running" ? { ...j, state: "interrupted" as const } : j))
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    return { jobs: [...mine, ...past], warnings: stored.warnings };
  }

  /** Past lines (from `after`), then live ones; `end` last. Returns the unsubscribe function. */
  follow(id: string, after: number, listener: (e: JobEvent) => void): () => void {
    const j = this.must(id);
    for (const line of j.lines) if (line.n > after) listener({ type: "line", line });
    // Not `state !== "running"`: between the final state and the lock's release a follower would
    // see `end` while the next change still met 409 busy (seen in QEMU scenario 9).
    if (j.announced) {
      listener({ type: "end", state: j.state, exitCode: j.exitCode });
      return () => undefined;
    }
    j.listeners.add(listener);
    return () => j.listeners.delete(listener);
  }

  cancel(id: string): JobView {
    const j = this.must(id);
    if (j.state !== "running")
      throw new LifeboatError("not-found", `job ${id} is not running (${j.state})`, {
        job: id,
        state: j.state,
      });
    j.cancelRequested = true;
    j.push("lifeboat", "cancel requested: SIGTERM");
    j.kill?.("SIGTERM");
    const grace = setTimeout(() => {
      if (j.state === "running") {
        j.push("lifeboat", `still running after ${(this.opts.graceMs ?? GRACE_MS) / 1000}s: SIGKILL`);
        j.kill?.("SIGKILL");
      }
    }, this.opts.graceMs ?? GRACE_MS);
    grace.unref();
    return j.view();
  }

  /** Resolves when the job has ended (tests, reboot). */
  async wait(id: string): Promise<JobView> {
    const j = this.must(id);
    await j.finished;
    return j.view();
  }

  running(): JobView | null {
    for (const j of this.jobs.values()) if (j.state === "running") return j.view();
    return null;
  }
}
