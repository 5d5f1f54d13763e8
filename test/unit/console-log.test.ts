// A console capture of a failed boot read as data (core/consoleLog.ts). The kernel lines are real
// serial logs of the QEMU lab's guest (test/fixtures/console/); the stage-1 lines are the programs'
// own messages: nixpkgs nixos/modules/system/boot/stage-1-init.sh ("<<< NixOS Stage 1 >>>",
// `loading module $(basename $i)...`, `waiting for device $device to appear...` plus one dot a
// second, "Timed out waiting for device $device, trying to mount anyway.", the fail() text),
// nixos/modules/tasks/filesystems/zfs.nix (`importing root ZFS pool "$pool"...`), OpenZFS's refusal
// as `zpool import` printed it (../shared/fixtures/single/zpool-import-no-f.stderr), kmod's modprobe
// ("modprobe: FATAL: Module %s not found in directory %s"), the kernel's hung_task.c and the x86
// "Command line: " of setup_arch.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MAX_CONSOLE_BYTES, parseConsole } from "../../agent/src/core/consoleLog.js";
import { CONSOLES, serial, TOP } from "../diagnosis-catalog/consoles.js";

const C = join(import.meta.dirname, "..", "fixtures", "console");
const qemu = (name: string) => readFileSync(join(C, name), "utf8");

describe("parseConsole", () => {
  it("a module that hangs stage 1: the kernel's blocked-task line names the module being loaded", () => {
    const c = parseConsole(CONSOLES.vfio);
    expect(c.stuckModule).toBe("vfio_pci");
    expect(c.toplevel).toBe(TOP);
    expect(c.found.map((l) => [l.line, l.kind, l.subject])).toEqual([
      [1, "command-line", TOP],
      [3, "stage1-start", null],
      [5, "module-loading", "zfs"],
      [6, "module-loading", "vfio_pci"],
      [7, "kernel-stop", "vfio_pci"],
    ]);
    // the kernel's timestamp goes, the words stay as the console showed them
    expect(c.found[4]?.text).toBe("INFO: task modprobe:212 blocked for more than 122 seconds.");
    // the command line is not given back, only its init=
    expect(c.found[0]?.text).toBe(`command line: init=${TOP}/init`);
  });

  it("the console ends while a module loads: that module", () => {
    const c = parseConsole(serial(["<<< NixOS Stage 1 >>>", "loading module vfio_pci...", "", "   "]));
    expect(c.stuckModule).toBe("vfio_pci");
  });

  it("the root pool refused as last used by another system: the pool and the label's host", () => {
    const c = parseConsole(CONSOLES.poolInUse);
    expect(c.found.map((l) => [l.kind, l.subject])).toEqual([
      ["stage1-start", null],
      ["module-loading", "zfs"],
      ["pool-import", "nvmepool"],
      ["pool-in-use", "nvmepool"],
      ["pool-last-host", "atlas (hostid=8425e349)"],
      ["stage1-error", null],
    ]);
    expect(c.stuckModule).toBeNull();
  });

  it("the zfs module missing for the kernel, then no pool", () => {
    const c = parseConsole(CONSOLES.zfsMissing);
    expect(c.found.filter((l) => l.kind === "module-not-found").map((l) => l.subject)).toEqual(["zfs"]);
    expect(c.found.some((l) => l.kind === "no-such-pool" && l.subject === "nvmepool")).toBe(true);
  });

  it("a root device that never appears", () => {
    const c = parseConsole(CONSOLES.deviceWait);
    expect(c.found.filter((l) => l.kind.startsWith("device-")).map((l) => [l.kind, l.subject])).toEqual([
      ["device-wait", "/dev/disk/by-uuid/0f3c6a0e-8d1b-4c1e-9a57-2b7d9e4c5a10"],
      ["device-timeout", "/dev/disk/by-uuid/0f3c6a0e-8d1b-4c1e-9a57-2b7d9e4c5a10"],
    ]);
  });

  it("real guest serial logs: a soft lockup outside stage 1 names no module; a normal run finds nothing", () => {
    const lockup = parseConsole(qemu("qemu-soft-lockup.serial"));
    expect(lockup.found[0]).toMatchObject({
      line: 1,
      kind: "kernel-stop",
      text: "watchdog: BUG: soft lockup - CPU#1 stuck for 26s! [cryptomgr_test:51]",
      subject: null,
    });
    expect(lockup.stuckModule).toBeNull();
    expect(parseConsole(qemu("qemu-poweroff.serial")).found).toEqual([]);
  });

  it("hostile text: escape sequences and control bytes go, nothing else is given back, size capped, never throws", () => {
    const text = serial([
      "\u001b[1;31m<<< NixOS Stage 1 >>>\u001b[0m",
      "root password: hunter2-SECRET",
      "loading module \u0000vfio_pci...",
      `Command line: init=${TOP}/init luks.key=SECRET-KEY`,
      "x".repeat(100_000),
    ]);
    const c = parseConsole(text);
    expect(JSON.stringify(c)).not.toMatch(/SECRET|hunter2/);
    expect(c.found.map((l) => l.kind)).toEqual(["stage1-start", "module-loading", "command-line"]);
    expect(c.found[1]?.subject).toBe("vfio_pci");
    const big = parseConsole(`${"loading module a...\n".repeat(60_000)}`);
    expect(big.truncated).toBe(true);
    expect(big.found.length).toBeLessThanOrEqual(200);
    const huge = parseConsole("y".repeat(MAX_CONSOLE_BYTES + 10));
    expect(huge.truncated).toBe(true);
    const bytes = Buffer.from(Array.from({ length: 65536 }, (_, i) => (i * 7919) % 256)).toString("latin1");
    expect(() => parseConsole(bytes)).not.toThrow();
  });
});
