/**
 * The view under the mounts (system/underneath.ts) inside a cancelled reader: the bind it made is
 * always undone. A cancelled background diagnosis must not leave the root dataset bound at
 * /run/lifeboat/underneath (it would hold the pool after the operator's unmount).
 */
import { describe, expect, it } from "vitest";
import { cancellable, cancelledError, cancelScope } from "../../agent/src/app/cancel.js";
import type { CommandResult, RunOptions, System } from "../../agent/src/system/system.js";
import { UNDERNEATH_DIR, underneath } from "../../agent/src/system/underneath.js";

const ok = (stderr = ""): CommandResult => ({
  exitCode: stderr ? 32 : 0,
  stdout: "",
  stderr,
  timedOut: false,
  notFound: false,
  durationMs: 1,
});

/** A System that records the commands it runs (and whether they were given the reader's signal). */
function recorder(opts: { mountMs?: number; umountBusy?: boolean } = {}) {
  const runs: { cmd: string; signalled: boolean }[] = [];
  const sys = {
    async mkdir() {},
    dirfs: {},
    async run(file: string, args: readonly string[], o: RunOptions = {}) {
      runs.push({ cmd: [file, ...args].join(" "), signalled: o.signal !== undefined });
      if (file === "mount" && opts.mountMs) await new Promise((r) => setTimeout(r, opts.mountMs));
      if (file === "umount" && !args.includes("--lazy") && opts.umountBusy)
        return ok(`umount: ${UNDERNEATH_DIR}: target is busy.\n`);
      return ok();
    },
  } as unknown as System;
  return { sys: cancellable(sys), runs };
}

const inScope = <T>(abort: AbortController, fn: () => Promise<T>) =>
  cancelScope.run({ signal: abort.signal }, fn);

describe("underneath() inside a cancelled reader", () => {
  it("cancelled while the view is read: the bind is still undone", async () => {
    const { sys, runs } = recorder();
    const abort = new AbortController();
    const read = inScope(abort, () =>
      underneath(sys, "/mnt", async () => {
        abort.abort();
        throw cancelledError();
      }),
    );
    await expect(read).rejects.toMatchObject({ code: "cancelled" });
    expect(runs.map((r) => r.cmd)).toEqual([
      `mount --bind --make-private -o ro,nosuid,nodev,noexec /mnt ${UNDERNEATH_DIR}`,
      `umount ${UNDERNEATH_DIR}`,
    ]);
    // neither is handed the reader's signal: nothing kills them half-way
    expect(runs.every((r) => !r.signalled)).toBe(true);
  });

  it("cancelled while the bind is being made: it is made, then undone", async () => {
    const { sys, runs } = recorder({ mountMs: 50 });
    const abort = new AbortController();
    let read = false;
    const p = inScope(abort, () =>
      underneath(sys, "/mnt", async () => {
        read = true;
        if (abort.signal.aborted) throw cancelledError();
        return 1;
      }),
    );
    setTimeout(() => abort.abort(), 10);
    await expect(p).rejects.toMatchObject({ code: "cancelled" });
    expect(read).toBe(true);
    expect(runs.map((r) => r.cmd.split(" ")[0])).toEqual(["mount", "umount"]);
  });

  it("a view still busy when cancelled is detached lazily, never left behind", async () => {
    const { sys, runs } = recorder({ umountBusy: true });
    const abort = new AbortController();
    abort.abort();
    await expect(
      inScope(abort, () => underneath(sys, "/mnt", async () => Promise.reject(cancelledError()))),
    ).rejects.toMatchObject({ code: "cancelled" });
    expect(runs.map((r) => r.cmd)).toEqual([
      `mount --bind --make-private -o ro,nosuid,nodev,noexec /mnt ${UNDERNEATH_DIR}`,
      `umount ${UNDERNEATH_DIR}`,
      `umount --lazy ${UNDERNEATH_DIR}`,
    ]);
  });

  it("other commands of a cancelled reader are still refused", async () => {
    const { sys, runs } = recorder();
    const abort = new AbortController();
    abort.abort();
    await expect(inScope(abort, () => sys.run("zfs", ["list"]))).rejects.toMatchObject({ code: "cancelled" });
    expect(runs).toEqual([]);
  });
});
