import type { Logger } from "pino";
import { LifeboatError } from "../core/errors.js";
import type { System } from "../system/system.js";
import type { Audit } from "./audit.js";
import type { JobManager } from "./jobs.js";
import type { MountService } from "./mount.js";

/** Hand the system back: export (clean, so it boots without forceImportRoot), then reboot. */
export class PowerService {
  constructor(
    private readonly sys: System,
    private readonly mounts: MountService,
    private readonly jobs: JobManager,
    private readonly audit: Audit,
    private readonly log: Logger,
    private readonly rebootDelayMs = 1_000,
  ) {}

  private noJob(what: string): void {
    const j = this.jobs.running();
    if (j)
      throw new LifeboatError(
        "busy",
        `a job is running (${j.title}): wait for it or cancel it before ${what}`,
        { job: j.id },
      );
  }

  /** A failed export or reboot is in the audit too (what failed, and in which state it was left). */
  private async failedToo<T>(who: string, action: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const e = err instanceof LifeboatError ? err : new LifeboatError("internal", (err as Error).message);
      await this.audit.record({
        who,
        action,
        target: null,
        result: "failed",
        detail: { code: e.code, error: e.message, state: e.extras.state ?? null },
      });
      throw err;
    }
  }

  async export(who: string) {
    this.noJob("exporting");
    // Recorded first, while the rescued system's audit file is still mounted.
    await this.audit.record({ who, action: "export", target: null, result: "started", detail: {} });
    const r = await this.failedToo(who, "export", () => this.mounts.unmount({ export: true }));
    await this.audit.record({
      who,
      action: "export",
      target: r.exported.join(", ") || null,
      result: "ok",
      detail: { unmounted: r.unmounted },
    });
    return r;
  }

  async reboot(who: string) {
    this.noJob("rebooting");
    // Always export first: a clean export is what lets the server import its pool at boot.
    await this.audit.record({ who, action: "reboot", target: null, result: "started", detail: {} });
    const r = await this.failedToo(who, "reboot", () => this.mounts.unmount({ export: true }));
    await this.audit.record({
      who,
      action: "reboot",
      target: null,
      result: "ok",
      detail: { exported: r.exported },
    });
    this.log.warn({ exported: r.exported }, "rebooting");
    setTimeout(() => {
      void this.sys.run("systemctl", ["reboot"]).then((x) => {
        if (x.exitCode !== 0) void this.sys.run("reboot", []);
      });
    }, this.rebootDelayMs).unref();
    return { rebooting: true, ...r };
  }
}
