import type { Logger } from "pino";
import type { AutoMount } from "../config.js";
import { chooseCandidate } from "../core/candidates.js";
import { LifeboatError } from "../core/errors.js";
import type { Detection } from "./detect.js";
import type { MountEvent, MountService } from "./mount.js";
import type { AutoMountState } from "./status.js";

const WAITING = [
  "no-system-found",
  "ambiguous-system",
  "key-not-loaded",
  "pool-in-use-elsewhere",
  "pool-unavailable",
  "busy",
];

/** LUKS containers nobody opened yet, as the operator would unlock them. */
function lockedLuks(d: Detection): string[] {
  return d.luks
    .filter((l) => !l.opened)
    .map((l) => `${l.device} (POST /v1/luks/${encodeURIComponent(l.name)}/open)`);
}

/**
 * At start, mount the installed system if exactly one NixOS system is found; otherwise wait for
 * the operator. Read-only unless the image was configured for read-write. It looks before it
 * takes the change lock, so it never stands in the operator's way: when nothing is found it looks
 * again a few times (USB and NVMe disks can appear after the agent starts), when a LUKS container
 * or a ZFS key is locked it stops and says what to unlock, and it resumes by itself once the
 * operator has unlocked it.
 */
export class AutoMounter {
  state: AutoMountState;
  private running = false;
  /** Stopped at something locked: an unlock or a key load starts it again. */
  private awaitingUnlock = false;
  /** No look yet since the agent started: the first detection (with its device scan) is fresh. */
  private firstLook = true;

  constructor(
    private readonly mode: AutoMount,
    private readonly mounts: MountService,
    private readonly log: Logger,
    private readonly retry = { attempts: 6, delayMs: 5_000 },
  ) {
    this.state = { mode, state: mode === "off" ? "off" : "pending", detail: null };
    mounts.onUnlock(() => {
      if (!this.awaitingUnlock || this.running) return;
      this.log.info("unlocked: auto-mount looks again");
      void this.run();
    });
  }

  /**
   * A mount, re-mount, unmount or export asked for by someone: the line says what the start did
   * and what happened since, so it is never stale ("mounted … (read-only); since: re-mounted read-write").
   */
  noteChange(e: MountEvent): void {
    if (this.mode === "off" || e.who === "auto-mount" || e.result !== "ok") return;
    if (this.state.state !== "mounted" && this.state.state !== "superseded") return;
    const words = {
      mount: "mounted",
      "remount-rw": "re-mounted read-write",
      unmount: "unmounted",
      export: "exported",
    }[e.action];
    const first = this.state.detail?.split("; since: ")[0] ?? "";
    this.state = {
      ...this.state,
      state: "superseded",
      detail: `${first}; since: ${words} on request at ${new Date().toISOString().slice(11, 19)} UTC`,
    };
  }

  private waitFor(detail: string, unlock: boolean): void {
    this.state = { ...this.state, state: "waiting", detail };
    this.awaitingUnlock = unlock;
  }

  async run(): Promise<void> {
    if (this.mode === "off" || this.running) return;
    this.running = true;
    this.awaitingUnlock = false;
    try {
      await this.attempts();
    } finally {
      this.running = false;
    }
  }

  private async attempts(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      this.state = { ...this.state, state: "running" };
      // Look without the change lock (a reader never scans while a change runs). The very first
      // look takes the agent's first detection (a device scan, started now or by the first answer
      // already) instead of queueing a second full one behind it; every later look is a new one.
      const d = await this.mounts.detection.current(!this.firstLook);
      this.firstLook = false;
      const locked = lockedLuks(d);
      const choice = chooseCandidate(d.candidates);
      if (!choice.ok && choice.reason === "none") {
        if (locked.length > 0) {
          this.waitFor(`locked: unlock ${locked.join(", ")} to find the system`, true);
          this.log.info(
            { locked },
            "auto-mount: the system may be on a locked LUKS container; waiting for an unlock",
          );
          return;
        }
        if (attempt < this.retry.attempts) {
          this.state = {
            ...this.state,
            state: "retrying",
            detail: `nothing found yet (attempt ${attempt} of ${this.retry.attempts}); looking again`,
          };
          this.log.info({ attempt }, "nothing found yet; looking again shortly");
          await new Promise((resolve) => setTimeout(resolve, this.retry.delayMs));
          continue;
        }
      }
      if (!choice.ok && choice.reason !== "none") {
        this.waitFor(
          choice.reason === "ambiguous"
            ? `ambiguous-system: several systems could be the installed one (${choice.candidates.map((c) => c.id).join(", ")}); say which`
            : `pool-unavailable: ${choice.candidates.map((c) => c.id).join(", ")} cannot be imported`,
          false,
        );
        return;
      }
      try {
        let fallback = "";
        const r = await this.mounts
          .mount({ readonly: this.mode === "readonly", requireNixos: true })
          .catch(async (err: unknown) => {
            // Read-write would leave entries out and nobody acknowledged them: degrade to read-only
            // (the operator gets the system to look at) and say what read-write needs.
            if (!(err instanceof LifeboatError) || err.code !== "skipped-entries") throw err;
            fallback = `; read-write would leave out entries, mounted read-only instead (${err.message})`;
            return this.mounts.mount({ readonly: true, requireNixos: true });
          });
        this.state = {
          ...this.state,
          state: "mounted",
          detail: `${r.result}: ${r.candidate}${r.readonly ? " (read-only)" : ""}${fallback}`,
        };
        this.awaitingUnlock = false;
        return;
      } catch (err) {
        const e = err instanceof LifeboatError ? err : null;
        const keyLocked = e?.code === "key-not-loaded";
        const unlock = keyLocked || (e?.code === "no-system-found" && locked.length > 0);
        const hint = unlock && !keyLocked ? `; unlock ${locked.join(", ")} if the system is there` : "";
        this.state = {
          ...this.state,
          state: e && WAITING.includes(e.code) ? "waiting" : "failed",
          detail: e ? `${e.code}: ${e.message}${hint}` : "internal error",
        };
        this.awaitingUnlock = unlock;
        this.log.warn(
          { code: e?.code ?? "internal", detail: e?.message },
          "auto-mount did not mount; waiting for the operator",
        );
        return;
      }
    }
  }
}
