/**
 * StackService (agent/src/app/stacks.ts): md arrays and LVM VGs brought up read-only, switched to
 * read-write inside a mount's transaction (and back on rollback), taken down at hand-back; only what
 * the agent brought up. On a small stand-in machine that replays the outputs captured in the QEMU lab
 * (test/fixtures/vm-captured/stacks) and models the state changes the real tools make:
 *   mdadm (mdadm.8, Assemble.c/Manage.c): --assemble --readonly starts the array read-only under the
 *     name given (the /dev/md/<name> link to the kernel device), --readwrite / --readonly switch it,
 *     --stop removes it; assembling an array that runs already fails (exit 1).
 *   lvm (vgchange.8, lvchange.8, lvm.conf.5): -ay honours activation/read_only_volume_list from
 *     --config; -an of an LV a process holds open fails with "Logical volume … in use." (exit 5,
 *     lib/activate/activate.c; captured: lvchange-an-in-use.stderr).
 * Scenario 25 runs the same against the real tools.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { StackService } from "../../agent/src/app/stacks.js";
import { Transaction } from "../../agent/src/app/transaction.js";
import { parseLsblk } from "../../agent/src/core/lsblk.js";
import type { CommandResult, System } from "../../agent/src/system/system.js";

const S = join(import.meta.dirname, "..", "fixtures", "vm-captured", "stacks");
const f = (name: string) => readFileSync(join(S, name), "utf8");
const res = (exitCode: number, stdout = "", stderr = ""): CommandResult => ({
  exitCode,
  stdout,
  stderr,
  timedOut: false,
  notFound: false,
  durationMs: 1,
});

/** The mdadm layout's one disk (MDADM0): members, then arrays md127 (boot) / md126 (raid1) as captured. */
class MdMachine {
  readonly calls: string[] = [];
  readonly arrays = new Map<string, { kernel: string; ro: boolean }>();
  failAssemble = false;
  private readonly kernelOf: Record<string, string> = { "/dev/md/boot": "md127", "/dev/md/raid1": "md126" };
  readonly sys = {
    run: async (file: string, args: readonly string[]) => {
      this.calls.push([file, ...args].join(" "));
      if (file === "lsblk" && args[1] === "-s") return res(0, f("mdadm-root.inverse.json"));
      if (file === "lsblk")
        return res(
          0,
          f(
            this.arrays.size === 2 ? "mdadm-degraded-assembled.lsblk.json" : "mdadm-degraded-idle.lsblk.json",
          ),
        );
      if (file !== "mdadm") return res(127);
      const [op, a1] = args;
      if (op === "--examine") {
        const dev = args[args.length - 1];
        if (dev === "/dev/nvme0n1p1") return res(0, f("mdadm-esp-member.examine.txt"));
        if (dev === "/dev/nvme0n1p2") return res(0, f("mdadm-root-member.examine.txt"));
        return res(0, "");
      }
      if (op === "--assemble") {
        const target = args.find((a) => a.startsWith("/dev/md/")) as string;
        if (this.failAssemble || this.arrays.has(target))
          return res(1, "", `mdadm: ${target} not identified in config file.\n`);
        this.arrays.set(target, { kernel: this.kernelOf[target] as string, ro: args.includes("--readonly") });
        return res(0, "", `mdadm: ${target} has been started with 1 drive (out of 2).\n`);
      }
      const md = [...this.arrays.entries()].find(([t, a]) => t === a1 || `/dev/${a.kernel}` === a1);
      if (!md) return res(1, "", `mdadm: error opening ${a1}: No such file or directory\n`);
      if (op === "--readwrite") md[1].ro = false;
      else if (op === "--readonly") md[1].ro = true;
      else if (op === "--stop") this.arrays.delete(md[0]);
      return res(0);
    },
    readlink: async (p: string) => (this.arrays.has(p) ? `../${this.arrays.get(p)?.kernel}` : null),
  } as unknown as System;
}

describe("md arrays", () => {
  it("assembles each array read-only from its members, nothing else; a second look changes nothing", async () => {
    const m = new MdMachine();
    const stacks = new StackService(m.sys, pino({ level: "silent" }));
    const idle = parseLsblk(f("mdadm-degraded-idle.lsblk.json"));
    expect(stacks.wants(idle)).toBe(true);
    const r = await stacks.bringUp(idle);
    expect(r).toMatchObject({
      assembled: [
        "/dev/md/boot (/dev/nvme0n1p1; degraded: 1 of 2)",
        "/dev/md/raid1 (/dev/nvme0n1p2; degraded: 1 of 2)",
      ],
      activated: [],
      warnings: [],
      changed: true,
    });
    expect(m.calls).toEqual([
      "mdadm --examine --export /dev/nvme0n1p1",
      "mdadm --examine --export /dev/nvme0n1p2",
      "mdadm --assemble --readonly --run --uuid=6fdcb33b:919ca61d:28ab2ad3:498e3dd4 /dev/md/boot /dev/nvme0n1p1",
      "mdadm --assemble --readonly --run --uuid=c0e5536f:008f9d59:998ccc22:9807895e /dev/md/raid1 /dev/nvme0n1p2",
      "lsblk --json -o NAME,PATH,TYPE,FSTYPE,LABEL,UUID,PARTTYPE,PARTLABEL,SIZE,MOUNTPOINTS",
    ]);
    expect([...m.arrays.values()].every((a) => a.ro)).toBe(true);
    expect(stacks.wants(parseLsblk(f("mdadm-degraded-assembled.lsblk.json")))).toBe(false);
  });

  it("an array that does not assemble is a warning, not retried by every detection, retried on resume", async () => {
    const m = new MdMachine();
    m.failAssemble = true;
    const stacks = new StackService(m.sys, pino({ level: "silent" }));
    const idle = parseLsblk(f("mdadm-degraded-idle.lsblk.json"));
    const r = await stacks.bringUp(idle);
    expect(r.changed).toBe(false);
    expect(r.warnings).toHaveLength(2);
    expect(r.warnings[0]).toMatch(/could not assemble \/dev\/md\/boot read-only/);
    expect(stacks.wants(idle)).toBe(false);
    stacks.resume();
    expect(stacks.wants(idle)).toBe(true);
  });

  it("a read-write mount switches the array under its source, in the transaction; rollback switches it back", async () => {
    const m = new MdMachine();
    const stacks = new StackService(m.sys, pino({ level: "silent" }));
    await stacks.bringUp(parseLsblk(f("mdadm-degraded-idle.lsblk.json")));
    m.calls.length = 0;
    const tx = new Transaction(pino({ level: "silent" }));
    await stacks.makeWritable("/dev/md/raid1", tx);
    expect(m.calls).toEqual([
      "lsblk --json -s -o NAME,PATH,TYPE /dev/md/raid1",
      "mdadm --readwrite /dev/md126",
    ]);
    expect(m.arrays.get("/dev/md/raid1")?.ro).toBe(false);
    expect(m.arrays.get("/dev/md/boot")?.ro).toBe(true);
    expect(tx.done).toEqual(["switched /dev/md/raid1 to read-write"]);
    const back = await tx.rollback();
    expect(back).toEqual({ rolledBack: ["switched /dev/md/raid1 back to read-only"], rollbackFailures: [] });
    expect(m.arrays.get("/dev/md/raid1")?.ro).toBe(true);
  });

  it("the hand-back stops what the agent assembled and holds further bring-up until asked", async () => {
    const m = new MdMachine();
    const stacks = new StackService(m.sys, pino({ level: "silent" }));
    const idle = parseLsblk(f("mdadm-degraded-idle.lsblk.json"));
    await stacks.bringUp(idle);
    const r = await stacks.release();
    expect(r).toEqual({ deactivated: [], stopped: ["/dev/md/boot", "/dev/md/raid1"], failures: [] });
    expect(m.arrays.size).toBe(0);
    expect(stacks.wants(idle)).toBe(false);
    expect(stacks.resume()).toBe(true);
    expect(stacks.wants(idle)).toBe(true);
  });
});

/** The luks-lvm layout after the LUKS open: VG pool on the opened container. */
class LvmMachine {
  readonly calls: string[] = [];
  active = new Map<string, { ro: boolean }>();
  readonly heldOpen = new Set<string>();
  readonly sys = {
    run: async (file: string, args: readonly string[]) => {
      this.calls.push([file, ...args].join(" "));
      if (file === "lsblk" && args[1] === "-s") {
        const lv = (args[args.length - 1] as string).replace("/dev/mapper/pool-", "");
        return res(0, f("luks-lvm-root.inverse.json").replaceAll("pool-root", `pool-${lv}`));
      }
      if (file === "lsblk")
        return res(0, f(this.active.size ? "luks-lvm-active.lsblk.json" : "luks-lvm-idle.lsblk.json"));
      if (file !== "lvm") return res(127);
      const config = args[args.indexOf("--config") + 1] ?? "";
      const ro = /read_only_volume_list = \[ "pool" \]/.test(config);
      const target = args[args.length - 1] as string;
      const on = args[args.indexOf("--activate") + 1] === "y";
      switch (args[0]) {
        case "pvs":
          return res(0, f("luks-lvm.pvs.json"));
        case "lvs": {
          const doc = JSON.parse(f("luks-lvm-readonly.lvs.json"));
          for (const lv of doc.report[0].lv) {
            const a = this.active.get(lv.lv_name);
            lv.lv_attr = `-${a ? (a.ro ? "R" : "w") : "w"}i-${a ? "a" : "-"}-----`;
          }
          return res(0, JSON.stringify(doc));
        }
        case "vgchange":
          if (on) for (const lv of ["home", "root", "swap"]) this.active.set(lv, { ro });
          else this.active.clear();
          return res(0);
        case "lvchange": {
          const lv = target.split("/")[1] as string;
          if (!on && this.heldOpen.has(lv)) return res(5, "", f("lvchange-an-in-use.stderr"));
          if (on) this.active.set(lv, { ro });
          else this.active.delete(lv);
          return res(0);
        }
      }
      return res(3);
    },
    readlink: async () => null,
  } as unknown as System;
}

describe("LVM", () => {
  it("activates the VG of the idle PV read-only, metadata read-only, no dmeventd", async () => {
    const m = new LvmMachine();
    const stacks = new StackService(m.sys, pino({ level: "silent" }));
    const r = await stacks.bringUp(parseLsblk(f("luks-lvm-idle.lsblk.json")));
    expect(r).toMatchObject({ assembled: [], activated: ["pool"], warnings: [], changed: true });
    expect(m.calls[0]).toBe(
      "lvm pvs --reportformat json --config global { metadata_read_only = 1 } -o pv_name,vg_name /dev/mapper/lifeboat-nvme0n1p2",
    );
    expect(m.calls[1]).toBe(
      'lvm vgchange --activate y --monitor n --config global { metadata_read_only = 1 } activation { read_only_volume_list = [ "pool" ] } pool',
    );
    expect([...m.active.values()].every((a) => a.ro)).toBe(true);
  });

  it("a read-write mount re-activates exactly its LV writable; one that is held open fails and is undone", async () => {
    const m = new LvmMachine();
    const stacks = new StackService(m.sys, pino({ level: "silent" }));
    await stacks.bringUp(parseLsblk(f("luks-lvm-idle.lsblk.json")));
    m.heldOpen.add("home");
    const tx = new Transaction(pino({ level: "silent" }));
    await stacks.makeWritable("/dev/mapper/pool-root", tx);
    expect(m.active.get("root")?.ro).toBe(false);
    expect(m.active.get("home")?.ro).toBe(true);
    expect(m.active.get("swap")?.ro).toBe(true);
    await expect(stacks.makeWritable("/dev/mapper/pool-home", tx)).rejects.toMatchObject({
      code: "command-failed",
      message: "lvm lvchange -an pool/home failed: Logical volume pool/home in use.",
    });
    expect(m.active.get("home")?.ro).toBe(true);
    expect(await tx.rollback()).toEqual({
      rolledBack: ["activated LV pool/root read-only again"],
      rollbackFailures: [],
    });
    expect(m.active.get("root")?.ro).toBe(true);
  });

  it("the hand-back deactivates the VG", async () => {
    const m = new LvmMachine();
    const stacks = new StackService(m.sys, pino({ level: "silent" }));
    await stacks.bringUp(parseLsblk(f("luks-lvm-idle.lsblk.json")));
    expect(await stacks.release()).toEqual({ deactivated: ["pool"], stopped: [], failures: [] });
    expect(m.active.size).toBe(0);
    expect(m.calls.at(-1)).toBe("lvm vgchange --activate n --config global { metadata_read_only = 1 } pool");
  });
});
