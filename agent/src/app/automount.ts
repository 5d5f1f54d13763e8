import type { Logger } from "pino";
import type { AutoMount } from "../config.js";
import { LifeboatError } from "../core/errors.js";
import type { MountService } from "./mount.js";
import type { AutoMountState } from "./status.js";

/**
 * At start, mount the installed system if exactly one NixOS system is found; otherwise wait for
 * the operator. Read-only unless the image was configured for read-write.
 */
export class AutoMounter {
  state: AutoMountState;
  constructor(
    private readonly mode: AutoMount,
    private readonly mounts: MountService,
    private readonly log: Logger,
  ) {
    this.state = { mode, state: mode === "off" ? "off" : "pending", detail: null };
  }

  async run(): Promise<void> {
    if (this.mode === "off") return;
    this.state = { ...this.state, state: "running" };
    try {
      const r = await this.mounts.mount({ readonly: this.mode === "readonly", requireNixos: true });
      this.state = {
        ...this.state,
        state: "mounted",
        detail: `${r.result}: ${r.candidate}${r.readonly ? " (read-only)" : ""}`,
      };
    } catch (err) {
      const e = err instanceof LifeboatError ? err : null;
      const waiting =
        e &&
        [
          "no-system-found",
          "ambiguous-system",
          "key-not-loaded",
          "pool-in-use-elsewhere",
          "pool-unavailable",
          "busy",
        ].includes(e.code);
      this.state = {
        ...this.state,
        state: waiting ? "waiting" : "failed",
        detail: e ? `${e.code}: ${e.message}` : "internal error",
      };
      this.log.warn(
        { code: e?.code ?? "internal", detail: e?.message },
        "auto-mount did not mount; waiting for the operator",
      );
    }
  }
}
