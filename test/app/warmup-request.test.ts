/**
 * The idle agent's warm-up of the mount request itself (app/warmup.ts warmMountRequest): the
 * candidate chosen, the run made and a plan by convention while nothing is mounted; nothing run,
 * nothing changed, nothing of the disk read.
 */
import { describe, expect, it, vi } from "vitest";
import { warmMountRequest } from "../../agent/src/app/warmup.js";
import { rig } from "./harness.js";

describe("warm-up of the mount request", () => {
  it("nothing mounted: prepares the request once (a preview) and runs, changes or reads nothing of the disk", async () => {
    // as in the agent: the warm-up follows a detection that still stands
    const r = await rig("single", { detectionMaxAgeMs: 60_000 });
    await r.detection.current();
    const before = r.sys.calls.length;
    const preview = vi.spyOn(r.mounts, "preview");
    expect(await warmMountRequest(r.mounts, () => r.detection.current(), "/mnt")).toBe(true);
    expect(preview).toHaveBeenCalledTimes(1);
    const during = r.sys.calls.slice(before);
    expect(during.filter((c) => c.op === "run" || c.mutating)).toEqual([]);
    expect(during.filter((c) => c.file.startsWith("/mnt"))).toEqual([]);
    expect(r.sys.mounts.filter((m) => m.target.startsWith("/mnt"))).toEqual([]);
  });

  it("a system mounted at the root: nothing done (a preview would read its fstab)", async () => {
    const r = await rig("single", { detectionMaxAgeMs: 60_000 });
    await r.mounts.mount();
    const preview = vi.spyOn(r.mounts, "preview");
    const before = r.sys.calls.length;
    expect(await warmMountRequest(r.mounts, () => r.detection.current(), "/mnt")).toBe(false);
    expect(preview).not.toHaveBeenCalled();
    // (the look at what is mounted may detect again after the mount: read-only commands)
    expect(r.sys.calls.slice(before).filter((c) => c.mutating)).toEqual([]);
  });

  it("no system to mount: the preview's refusal only leaves the code cold", async () => {
    const r = await rig("empty", { tree: false });
    expect(await warmMountRequest(r.mounts, () => r.detection.current(), "/mnt")).toBe(false);
  });
});
