import type { Logger } from "pino";
import { LifeboatError, ParseError } from "../core/errors.js";
import {
  acceptReport,
  type FleetState,
  fleetView,
  parseFleetState,
  serviceDiscovery,
} from "../core/fleet/fleet.js";
import { parseReport } from "../core/fleet/report.js";
import { verifyReport } from "../core/fleet/sign.js";
import type { System } from "../system/system.js";

export interface CollectorOptions {
  /** Keys reports may be signed with (the fleet's callback token, API tokens handed out by PXE). */
  keys: string[];
  /** The fleet list on disk (JSON, 0600), read at start and rewritten after each accepted report. */
  stateFile: string;
  /** Also keep a Prometheus file_sd document here. */
  fileSd: string | null;
  now?: () => Date;
}

/**
 * The collector's use case: verify a report (signature first, then shape), take it into the fleet
 * list (replays refused), keep the list on disk. A thin receiver: the last report of each server,
 * nothing else.
 */
export class Collector {
  private state: FleetState = { hosts: [] };
  private current: Promise<void> = Promise.resolve();
  private queued: Promise<void> | null = null;
  private readonly now: () => Date;

  constructor(
    private readonly sys: System,
    private readonly log: Logger,
    private readonly o: CollectorOptions,
  ) {
    this.now = o.now ?? (() => new Date());
  }

  /** Read the state file; an unreadable one is kept aside (`.bad`) and the list starts empty. */
  async load(): Promise<void> {
    const text = (await this.sys.readFile(this.o.stateFile))?.toString("utf8");
    if (text === undefined) return;
    try {
      const { state, dropped } = parseFleetState(text);
      this.state = state;
      if (dropped) this.log.warn({ dropped }, "fleet state: unreadable entries dropped");
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "fleet state unreadable: kept as .bad, starting empty");
      await this.sys.rename(this.o.stateFile, `${this.o.stateFile}.bad`).catch(() => undefined);
    }
  }

  /** A report as it arrived: raw body and headers. Throws a LifeboatError when refused. */
  async receive(body: string, keyId: string | undefined, signature: string | undefined, source: string) {
    const verified = verifyReport(body, this.o.keys, keyId, signature);
    if (!verified)
      throw new LifeboatError(
        "unauthorized",
        "the report's signature does not verify with any key of this collector",
      );
    let report: ReturnType<typeof parseReport>;
    try {
      report = parseReport(body);
    } catch (err) {
      if (err instanceof ParseError) throw new LifeboatError("validation-failed", err.message);
      throw err;
    }
    const r = acceptReport(this.state, report, { source, keyId: verified.keyId, now: this.now() });
    if (!r.ok) throw new LifeboatError("precondition-failed", r.reason);
    this.state = r.state;
    this.log.info(
      { host: r.entry.key, phase: report.phase, seq: report.seq, reason: report.reason, source },
      "report accepted",
    );
    await this.persist();
    return { key: r.entry.key, accepted: true };
  }

  hosts() {
    const now = this.now();
    return this.state.hosts.map((h) => fleetView(h, now));
  }

  sd() {
    return serviceDiscovery(this.state);
  }

  /** Writes coalesce: at most one running and one queued, the queued one takes the newest list. */
  persist(): Promise<void> {
    if (this.queued) return this.queued;
    const q = this.current.then(() => {
      this.queued = null;
      return this.writeNow();
    });
    this.queued = q;
    this.current = q.catch((err: Error) =>
      this.log.error({ err: err.message }, "could not save the fleet state"),
    );
    return q;
  }

  private async writeNow(): Promise<void> {
    await this.atomic(
      this.o.stateFile,
      `${JSON.stringify({ v: 1, hosts: this.state.hosts }, null, 1)}\n`,
      0o600,
    );
    if (this.o.fileSd) await this.atomic(this.o.fileSd, `${JSON.stringify(this.sd(), null, 1)}\n`, 0o644);
  }

  private async atomic(path: string, text: string, mode: number): Promise<void> {
    const tmp = `${path}.tmp-${process.pid}`;
    await this.sys.writeFile(tmp, text, mode);
    await this.sys.rename(tmp, path);
  }
}
