import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { Detection } from "../app/detect.js";
import { InstalledSystem } from "../app/installed.js";
import type { Services } from "../app/services.js";
import { buildStatus, busyView } from "../app/status.js";
import { DEFAULT_RETRY, type RetryPolicy, retryDelayMs } from "../core/fleet/backoff.js";
import { buildReport, type FleetReport, type ReportPhase, type ReportReason } from "../core/fleet/report.js";
import { KEY_ID_HEADER, keyIdOf, SIGNATURE_HEADER, signBody } from "../core/fleet/sign.js";
import { mountsUnder, parseProcMounts } from "../core/mounts.js";
import type { ReportSender } from "../system/callback.js";
import type { MachineFacts } from "../system/identity.js";
import type { System } from "../system/system.js";

export interface PhoneHomeOptions {
  /** Where reports go (only its origin is logged). */
  url: string;
  /** HMAC key: the callback token, else the API token. Never sent. */
  key: string;
  /** The API token's public id (the collector and the batch client use it to pick the token). */
  apiTokenId: string;
  metricsTokenId: string | null;
  advertise: string | null;
  name: string | null;
  retry?: RetryPolicy;
  timeoutMs?: number;
  /** How often the cheap checks run (addresses, busy, auto-mount state). */
  pollMs?: number;
  /** A detection is consulted at least this often, and a report is sent at least this often. */
  detectEveryMs?: number;
  heartbeatMs?: number;
  random?: () => number;
}

export interface PhoneHomeStats {
  sent: number;
  failedAttempts: number;
  dropped: number;
  lastSuccessAt: string | null;
  lastError: string | null;
  pending: boolean;
}

/** Stats before anything was sent (also what /metrics shows before phone home starts). */
export function noPhoneHomeYet(): PhoneHomeStats {
  return { sent: 0, failedAttempts: 0, dropped: 0, lastSuccessAt: null, lastError: null, pending: false };
}

type Deps = Pick<Services, "detection" | "lock" | "jobs" | "autoMount" | "urls" | "tls" | "version">;

/**
 * Phone home: when the agent has an address, and after each change of phase (or addresses,
 * auto-mount state, pools, warnings, jobs), POST a signed report to the fleet's collector; at
 * least every heartbeat. One report in flight; a newer one replaces a pending one. Bounded retries
 * with backoff and jitter. It runs beside the agent on timers that never hold the process open and
 * is never awaited by a request, so a collector that fails or hangs cannot slow the API.
 */
export class PhoneHome {
  readonly bootId = randomUUID();
  readonly stats: PhoneHomeStats = noPhoneHomeYet();
  private seq = 0;
  private timer: NodeJS.Timeout | null = null;
  private observing = false;
  private lastCheap = "";
  private lastDigest = "";
  private lastPhase: ReportPhase | null = null;
  private lastUrls = "";
  private lastAuto = "";
  private lastDetectAt = 0;
  private lastSentAt = 0;
  private next: FleetReport | null = null;
  private sending = false;
  private wake: (() => void) | null = null;
  private stopped = false;
  private readonly keyId: string;

  constructor(
    private readonly sys: System,
    private readonly s: Deps,
    private readonly root: string,
    private readonly machine: () => Promise<MachineFacts>,
    private readonly send: ReportSender,
    private readonly log: Logger,
    private readonly o: PhoneHomeOptions,
  ) {
    this.keyId = keyIdOf(o.key);
  }

  start(): void {
    const every = this.o.pollMs ?? 2_000;
    this.timer = setInterval(() => void this.tick(), every);
    this.timer.unref();
    void this.tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.wake?.();
  }

  /** Cheap checks first; a detection only when something moved or it is time. */
  async tick(): Promise<void> {
    if (this.observing || this.stopped) return;
    this.observing = true;
    try {
      const urls = this.s.urls();
      if (urls.length === 0 && !this.o.advertise) return; // no address yet: nobody could reach us
      // Cheap to read every tick, and they move with every change of phase: the mounts under the
      // root (a change faster than one tick still leaves them different), the lock, auto-mount, jobs.
      const procMounts = (await this.sys.readFile("/proc/mounts").catch(() => null))?.toString("utf8") ?? "";
      const cheap = JSON.stringify([
        urls,
        mountsUnder(parseProcMounts(procMounts), this.root).map((m) => [m.target, m.options.includes("ro")]),
        this.s.lock.busy !== null,
        this.s.autoMount().state,
        this.s.jobs.list().map((j) => j.state),
      ]);
      const now = Date.now();
      const due =
        now - this.lastDetectAt >= (this.o.detectEveryMs ?? 60_000) ||
        now - this.lastSentAt >= (this.o.heartbeatMs ?? 300_000);
      if (cheap === this.lastCheap && !due) return;
      if (this.s.lock.busy) return; // the change refreshes detection itself; look once it is done
      this.lastCheap = cheap;
      await this.observe();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "phone home: could not build a report");
    } finally {
      this.observing = false;
    }
  }

  private async observe(): Promise<void> {
    const d = await this.s.detection.current();
    this.lastDetectAt = Date.now();
    const parts = await this.parts(d);
    const digest = JSON.stringify([
      parts.phase,
      parts.agent.urls,
      parts.autoMount,
      parts.busy,
      parts.pools,
      parts.mounted,
      parts.warnings,
      parts.jobs.map((j) => [j.id, j.state]),
      parts.host,
    ]);
    const heartbeat = Date.now() - this.lastSentAt >= (this.o.heartbeatMs ?? 300_000);
    if (digest === this.lastDigest && !heartbeat) return;
    const urls = JSON.stringify(parts.agent.urls);
    const auto = parts.autoMount.state;
    const reason: ReportReason =
      this.lastPhase === null
        ? "start"
        : parts.phase !== this.lastPhase
          ? "phase"
          : urls !== this.lastUrls
            ? "address"
            : auto !== this.lastAuto
              ? "auto-mount"
              : digest !== this.lastDigest
                ? "change"
                : "heartbeat";
    this.lastDigest = digest;
    this.lastPhase = parts.phase;
    this.lastUrls = urls;
    this.lastAuto = auto;
    this.queue(buildReport({ ...parts, reason, seq: ++this.seq, sentAt: new Date().toISOString() }));
  }

  private async parts(d: Detection): Promise<Omit<FleetReport, "v" | "reason" | "seq" | "sentAt">> {
    const st = buildStatus(d, {
      version: this.s.version,
      busy: busyView(this.s.lock.busy, [], null),
      autoMount: this.s.autoMount(),
      urls: this.s.urls(),
      tls: this.s.tls,
    });
    const [machine, installed] = await Promise.all([
      this.machine().catch(() => ({ dmiSerial: null, productUuid: null, macs: [], addresses: [] })),
      st.mounted ? this.installedIdentity() : Promise.resolve({ machineId: null, hostname: null }),
    ]);
    const pools = [
      ...d.poolStatus.map((p) => ({ name: p.name, state: p.state, imported: true })),
      ...d.importable
        .filter((p) => !d.poolStatus.some((x) => x.name === p.name))
        .map((p) => ({ name: p.name, state: p.state, imported: false })),
    ];
    return {
      bootId: this.bootId,
      agent: {
        version: this.s.version,
        urls: [...(this.o.advertise ? [this.o.advertise] : []), ...st.urls],
        advertise: this.o.advertise,
        tlsFingerprint: this.s.tls?.fingerprint ?? null,
        tokenId: this.o.apiTokenId,
        metricsTokenId: this.o.metricsTokenId,
      },
      host: { name: this.o.name, ...installed, ...machine },
      phase: st.phase,
      summary: st.summary,
      autoMount: { state: st.autoMount.state, detail: st.autoMount.detail },
      busy: st.busy?.name ?? null,
      pools,
      mounted: st.mounted
        ? { source: st.mounted.source, readonly: st.mounted.readonly, count: st.mounted.mounts.length }
        : null,
      warnings: st.warnings,
      jobs: this.s.jobs
        .list()
        .slice(0, 10)
        .map((j) => ({ id: j.id, kind: j.kind, state: j.state, title: j.title })),
    };
  }

  /**
   * machine-id and hostname of the installed system, read through its root (links resolved inside
   * it) and only when they are small regular files: a FIFO or a huge file there is ignored.
   */
  private async installedIdentity(): Promise<{ machineId: string | null; hostname: string | null }> {
    const inst = new InstalledSystem(this.sys, this.root);
    // The confined door refuses FIFOs, devices and links out; 4 KiB is plenty for either file.
    const small = async (path: string) => {
      try {
        return (await inst.readText(path, 4096))?.trim() ?? null;
      } catch {
        return null;
      }
    };
    const [id, name] = await Promise.all([small("/etc/machine-id"), small("/etc/hostname")]);
    return {
      machineId: id && /^[0-9a-f]{32}$/.test(id) ? id : null,
      hostname: name && /^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$/.test(name) ? name : null,
    };
  }

  private queue(report: FleetReport): void {
    this.next = report;
    this.stats.pending = true;
    this.lastSentAt = Date.now();
    this.wake?.();
    if (!this.sending) void this.loop();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      t.unref();
      this.wake = () => {
        clearTimeout(t);
        this.wake = null;
        resolve();
      };
    });
  }

  private async loop(): Promise<void> {
    this.sending = true;
    const policy = this.o.retry ?? DEFAULT_RETRY;
    try {
      while (this.next && !this.stopped) {
        const report = this.next;
        const body = JSON.stringify(report);
        const headers = {
          "content-type": "application/json",
          [SIGNATURE_HEADER]: signBody(body, this.o.key),
          [KEY_ID_HEADER]: this.keyId,
        };
        let attempt = 0;
        for (;;) {
          attempt++;
          const error = await this.send(body, headers, this.o.timeoutMs ?? 10_000).then(
            (r) => (r.status >= 200 && r.status < 300 ? null : `HTTP ${r.status}`),
            (e: Error) => e.message,
          );
          if (error === null) {
            this.stats.sent++;
            this.stats.lastSuccessAt = new Date().toISOString();
            this.stats.lastError = null;
            this.log.info(
              { seq: report.seq, reason: report.reason, phase: report.phase },
              "phone home: report sent",
            );
            if (this.next === report) this.next = null;
            break;
          }
          this.stats.failedAttempts++;
          this.stats.lastError = error;
          // A refused report (4xx but 408/429) will not get better by sending it again.
          const permanent = /^HTTP 4\d\d$/.test(error) && !/^HTTP 4(08|29)$/.test(error);
          if (permanent || attempt >= policy.attempts) {
            this.log.warn(
              { seq: report.seq, attempts: attempt, error, to: new URL(this.o.url).origin },
              "phone home: report not delivered; trying again at the next change or heartbeat",
            );
            if (this.next === report) {
              this.next = null;
              this.stats.dropped++;
            }
            break;
          }
          const delay = retryDelayMs(attempt, policy, this.o.random);
          this.log.debug({ seq: report.seq, attempt, error, delayMs: delay }, "phone home: retrying");
          await this.sleep(delay);
          if (this.stopped) return;
          if (this.next !== report) break; // a newer report replaced it: send that one
        }
      }
    } finally {
      this.sending = false;
      this.stats.pending = this.next !== null;
    }
  }
}
