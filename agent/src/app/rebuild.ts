import { inTarget, rebuildCommand } from "../core/chroot.js";
import { LifeboatError } from "../core/errors.js";
import type { SkippedEntry } from "../core/plan.js";
import { checkReach } from "../system/reach.js";
import type { RescueContext } from "./context.js";
import type { JobManager, JobView } from "./jobs.js";

export interface RebuildRequest {
  action: "boot" | "build";
  flake?: string;
  extraArgs?: string[];
  /** Skipped entries of the mount in place the rebuild may go without (paths, sources, pools). */
  acceptSkipped?: string[];
}

/** What the mount in place left out, and what the operator acknowledged (MountService.lastReport). */
export type SkippedNow = () => { skipped: SkippedEntry[]; accepted: string[] } | null;

const FLAKE = /^[A-Za-z0-9/._~+-]+(#[A-Za-z0-9._-]+)?$|^#[A-Za-z0-9._-]+$/;
const ARG = /^[A-Za-z0-9@%+=:,./_-]{1,200}$/;
const DEFAULT_SUBSTITUTERS = ["https://cache.nixos.org"];

/** Substituters from the installed system's nix.conf (`substituters = a b`), else the default cache. */
export function substitutersOf(nixConf: string | null): string[] {
  const line = nixConf?.split("\n").find((l) => /^\s*substituters\s*=/.test(l));
  const urls =
    line
      ?.split("=")[1]
      ?.trim()
      .split(/\s+/)
      .filter((u) => /^https?:\/\//.test(u)) ?? [];
  return urls.length > 0 ? urls : DEFAULT_SUBSTITUTERS;
}

/** `nixos-rebuild` inside `nixos-enter` as a job, after a network check reported in its log. */
export class RebuildService {
  constructor(
    private readonly ctx: RescueContext,
    private readonly jobs: JobManager,
    private readonly reach: typeof checkReach = checkReach,
    private readonly skippedNow: SkippedNow = () => null,
  ) {}

  /** A rebuild builds the whole system: every entry it may depend on, or the operator's word. */
  private checkSkipped(req: RebuildRequest): void {
    const now = this.skippedNow();
    if (!now) return;
    const ok = new Set([...now.accepted, ...(req.acceptSkipped ?? [])]);
    const missing = now.skipped.filter((e) => !(ok.has(e.path) || ok.has(e.source)));
    if (missing.length > 0)
      throw new LifeboatError(
        "skipped-entries",
        `the mount in place left out ${missing.map((e) => e.path || e.source).join(", ")}: a rebuild may depend on them; fix them and mount again, or acknowledge them with "acceptSkipped"`,
        { skipped: missing },
      );
  }

  async start(req: RebuildRequest, who: string): Promise<JobView> {
    if (req.flake !== undefined && !FLAKE.test(req.flake))
      throw new LifeboatError(
        "validation-failed",
        `not a flake reference: ${JSON.stringify(req.flake.slice(0, 100))}`,
      );
    for (const a of req.extraArgs ?? [])
      if (!ARG.test(a))
        throw new LifeboatError(
          "validation-failed",
          `extra argument not allowed: ${JSON.stringify(a.slice(0, 100))}`,
        );
    const m = await this.ctx.writable();
    this.checkSkipped(req);
    this.ctx.lock.assertFree(); // before the snapshot: nothing is done when busy
    const { snapshot, backup } = await this.ctx.safeguard(m, "rebuild");
    const nixConf = await m.installed.readText("/etc/nix/nix.conf").catch(() => null);
    // The installed system's own nixos-rebuild, with its login environment and, where nixos-enter
    // cannot bind it (a systemd-resolved chain into /run), the rescue side's resolver (core/chroot.ts).
    const resolver =
      (await this.ctx.sys.readFile("/etc/resolv.conf").catch(() => null))?.toString("utf8") ?? "";
    const command = inTarget(this.ctx.root, rebuildCommand(req), resolver);
    const job = this.jobs.start(
      "rebuild",
      `nixos-rebuild ${req.action}${req.flake ? ` --flake ${req.flake}` : ""}`,
      [{ label: "nixos-rebuild", ...command }],
      who,
      async (say) => {
        say(
          snapshot
            ? `snapshot ${snapshot} taken before the rebuild`
            : `not ZFS: no snapshot; boot state backed up to ${backup}`,
        );
        const results = await this.reach(substitutersOf(nixConf));
        for (const r of results) {
          say(
            r.http !== null
              ? `network: ${r.url} reachable (${r.host} → ${r.dns}, HTTP ${r.http}, ${r.ms} ms)`
              : `network: ${r.url} NOT reachable (${r.dns ? `DNS ok → ${r.dns}` : "DNS failed"}, ${r.error}); the rebuild can only use what is already in the store`,
          );
        }
      },
    );
    await this.ctx.audit.record({
      who,
      action: "rebuild",
      target: req.flake ?? "/etc/nixos/configuration.nix",
      result: "started",
      detail: { job: job.id, action: req.action, snapshot, backup },
    });
    return job;
  }
}
