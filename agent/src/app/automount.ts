import type { Logger } from "pino";
import type { AutoMount } from "../config.js";
import { LifeboatError } from "../core/errors.js";
import type { MountService } from "./mount.js";
import type { AutoMountState } from "./status.js";

const WAITING = [
  "no-system-found",
  "ambiguous-system",
  "key-not-loaded",
  "pool-in-use-elsewhere",
  "pool-unavailable",
  "busy",
];

/**
 * At start, mount the installed system if exactly one NixOS system is found; otherwise wait for
 * the operator. Read-only unless the image was configured for read-write. When nothing at all is
 * found it looks again a few times: USB and NVMe disks can appear after the agent starts.
 */
export class AutoMounter {
  state: AutoMountState;
  constructor(
    private readonly mode: AutoMount,
    private readonly mounts: MountService,
    private readonly log: Logger,
    private readonly retry = { attempts: 6, delayMs: 5_000 },
  ) {
    this.state = { mode, state: mode === "off" ? "off" : "pending", detail: null };
  }

  async run(): Promise<void> {
    if (this.mode === "off") return;
    for (let attempt = 1; ; attempt++) {
      this.state = { ...this.state, state: "running" };
      try {
        const r = await this.mounts.mount({ readonly: this.mode === "readonly", requireNixos: true });
        this.state = {
          ...this.state,
          state: "mounted",
          detail: `${r.result}: ${r.candidate}${r.readonly ? " (read-only)" : ""}`,
        };
        return;
      } catch (err) {
        const e = err instanceof LifeboatError ? err : null;
        const nothingYet = e?.code === "no-system-found" && e.extras.found === 0;
        this.state = {
          ...this.state,
          state: e && WAITING.includes(e.code) ? "waiting" : "failed",
          detail: e ? `${e.code}: ${e.message}` : "internal error",
        };
        if (nothingYet && attempt < this.retry.attempts) {
          this.state = {
            ...this.state,
            state: "retrying",
            detail: `nothing found yet (attempt ${attempt} of ${this.retry.attempts}); looking again`,
          };
          this.log.info({ attempt }, "nothing found yet; looking again shortly");
          await new Promise((resolve) => setTimeout(resolve, this.retry.delayMs));
          continue;
        }
        this.log.warn(
          { code: e?.code ?? "internal", detail: e?.message },
          "auto-mount did not mount; waiting for the operator",
        );
        return;
      }
    }
  }
}
