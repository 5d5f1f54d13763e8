// Scenario 23 (issue 12): five layouts in ONE rescue boot (their disks attached together, auto-mount off),
// the way an operator picks a system when several are attached: POST /v1/mount {pool|device} per layout,
// assert the exact mount table and that nothing of the other systems was imported or mounted, then
// unmount + export, next. disko ZFS, odd names, rpool on LUKS2 (opened first through the API), btrfs
// @ subvolumes, and a btrfs root whose ZFS data pool the system mounts. Sources: layouts.ts / mklayouts.sh.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AGENT_ARGS, boot, grepLogs, LUKS_PASSPHRASE, layoutDiskSet, type Vm } from "./lab.js";
import {
  expectCleanExport,
  expectMountTable,
  expectOnlyTheSystem,
  isUnder,
  mountinfo,
  partPath,
} from "./layout-checks.js";
import { LAYOUT_EXPECTATIONS, type LayoutName } from "./layouts.js";
import { apiWhenIdle, expectOk, finish, guestSnapshot, waitForStatus } from "./scenario.js";

const SHARED = [
  "disko-zfs",
  "odd-names",
  "luks-zfs",
  "btrfs-subvol",
  "btrfs-zfs-data",
] as const satisfies LayoutName[];
const AUTO_MOUNT_OFF = AGENT_ARGS.map((a) => (a === "readonly" ? "off" : a));
describe("scenario 23: five layouts in one rescue boot, mounted one at a time", () => {
  let vm: Vm;
  beforeAll(async () => {
    vm = await boot({
      name: "s23-layouts",
      diskSet: await layoutDiskSet(...SHARED),
      agent: { args: AUTO_MOUNT_OFF },
    });
    await waitForStatus(vm, "first detection", (s) => s?.phase !== undefined);
  });
  afterAll(() => finish(vm));

  for (const name of SHARED) {
    const exp = LAYOUT_EXPECTATIONS[name];
    describe(`${name} (${exp.source})`, () => {
      it("POST /v1/mount mounts exactly this system, read-only", async () => {
        if (exp.luks) {
          const dev = await partPath(vm, exp.luks.part, exp.luks.n);
          const open = await apiWhenIdle(vm, "POST", `/v1/luks/${dev.split("/").pop()}/open`, {
            passphrase: LUKS_PASSPHRASE,
          });
          expectOk(open);
        }
        const pool =
          "pool" in exp.request
            ? exp.request.pool
            : await partPath(vm, exp.request.device.part, exp.request.device.n);
        const r = await apiWhenIdle(vm, "POST", "/v1/mount", { pool });
        expect(r.status, `${r.text}\n${await guestSnapshot(vm)}`).toBe(200);
        expect(r.body.readonly).toBe(true);
        await expectMountTable(vm, exp);
      });

      it("imports and mounts nothing of the other systems", async () => {
        await expectOnlyTheSystem(vm, exp);
      });

      it("hands it back: unmounted, exported, importable by the server without -f", async () => {
        try {
          await expectCleanExport(vm, exp);
        } finally {
          // whatever happened, the next layout starts from a clean rescue side
          if ((await mountinfo(vm)).some((m) => isUnder(m.target)) || (await vm.sh("zpool list -H")).trim())
            await vm.run("umount -R /mnt; zpool export -a");
        }
      });
    });
  }

  it("never logs the LUKS passphrase", async () => {
    await vm.collectGuestLogs();
    expect(await grepLogs(vm, LUKS_PASSPHRASE)).toEqual([]);
  });
});
