// Which devices a read-only import may name with -d instead of the scan of every device: real
// listings and lsblk trees captured in the lab (test/fixtures/vm-captured), and the cases where
// something could be left out (a leaf not ONLINE, a log or cache device, a member blkid does not
// show, an md array under two parents).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type BlockDevice, flattenDevices, parseLsblk } from "../../agent/src/core/lsblk.js";
import { importDevices, parseZpoolImport } from "../../agent/src/core/zpoolImport.js";

const CAPTURED = "test/fixtures/vm-captured";
const read = (...p: string[]) => readFileSync(join(CAPTURED, ...p), "utf8");

const dev = (path: string, over: Partial<BlockDevice> = {}): BlockDevice => ({
  name: path.split("/").pop() as string,
  path,
  type: "part",
  fstype: null,
  label: null,
  uuid: null,
  parttype: null,
  partlabel: null,
  partuuid: null,
  size: null,
  mountpoints: [],
  children: [],
  ...over,
});
const member = (path: string, guid: string, over: Partial<BlockDevice> = {}) =>
  dev(path, { fstype: "zfs_member", uuid: guid, label: "tank", ...over });

const listing = (config: string, state = "ONLINE") =>
  parseZpoolImport(
    [
      "  pool: tank",
      "    id: 42",
      ` state: ${state}`,
      "action: The pool can be imported using its name or numeric identifier.",
      "config:",
      "",
      config,
      "",
    ].join("\n"),
  )[0] as NonNullable<ReturnType<typeof parseZpoolImport>[0]>;

describe("importDevices: the pool's own devices, or a scan", () => {
  it("every captured layout: ONLINE pools get exactly their blkid members, one per leaf", () => {
    let named = 0;
    for (const c of readdirSync(CAPTURED)) {
      let lsblk: string;
      let list: string;
      try {
        lsblk = read(c, "lsblk-json.stdout");
        list = read(c, "zpool-import-list.stdout");
      } catch {
        continue;
      }
      const devices = parseLsblk(lsblk);
      for (const pool of parseZpoolImport(list)) {
        const got = importDevices(pool, devices);
        const leaves = JSON.stringify(pool.config).match(/"children":\[\]/g)?.length ?? 0;
        if (got === null) continue;
        named++;
        expect(got.length, `${c} ${pool.name}`).toBe(leaves);
        for (const p of got) {
          const d = flattenDevices(devices).find((x) => x.path === p);
          expect(d?.fstype, `${c} ${p}`).toBe("zfs_member");
          expect(d?.uuid, `${c} ${p}`).toBe(pool.id);
        }
      }
    }
    expect(named).toBeGreaterThanOrEqual(5);
  });

  it("the guide's mirrors: both halves of each pool", () => {
    const devices = parseLsblk(read("openzfs-guide", "lsblk-json.stdout"));
    const pools = parseZpoolImport(read("openzfs-guide", "zpool-import-list.stdout"));
    const rpool = pools.find((p) => p.name === "rpool");
    expect(rpool && importDevices(rpool, devices)).toEqual(["/dev/nvme0n1p3", "/dev/nvme1n1p3"]);
  });

  it("a leaf that is not ONLINE, a pool that is not: scan", () => {
    const devs = [member("/dev/sda1", "42"), member("/dev/sdb1", "42")];
    const degraded = listing(
      [
        "\ttank        DEGRADED",
        "\t  mirror-0  DEGRADED",
        "\t    sda1    ONLINE",
        "\t    sdb1    UNAVAIL",
      ].join("\n"),
      "DEGRADED",
    );
    expect(importDevices(degraded, devs)).toBeNull();
    const healthy = listing(
      ["\ttank        ONLINE", "\t  mirror-0  ONLINE", "\t    sda1    ONLINE", "\t    sdb1    ONLINE"].join(
        "\n",
      ),
    );
    expect(importDevices(healthy, devs)).toEqual(["/dev/sda1", "/dev/sdb1"]);
    expect(importDevices({ ...healthy, importable: false }, devs)).toBeNull();
  });

  it("a log or cache device, or a member blkid does not show (or shows twice as many): scan", () => {
    const withLog = listing(
      ["\ttank        ONLINE", "\t  sda1      ONLINE", "\tlogs", "\t  sdc1      ONLINE"].join("\n"),
    );
    expect(importDevices(withLog, [member("/dev/sda1", "42"), member("/dev/sdc1", "42")])).toBeNull();
    const withCache = listing(
      ["\ttank        ONLINE", "\t  sda1      ONLINE", "\tcache", "\t  sdc1"].join("\n"),
    );
    expect(importDevices(withCache, [member("/dev/sda1", "42"), member("/dev/sdc1", "42")])).toBeNull();
    const mirror = listing(
      ["\ttank        ONLINE", "\t  mirror-0  ONLINE", "\t    sda1    ONLINE", "\t    sdb1    ONLINE"].join(
        "\n",
      ),
    );
    expect(importDevices(mirror, [member("/dev/sda1", "42")])).toBeNull();
    // another pool's member, or the same guid twice (multipath: one disk, two names)
    expect(importDevices(mirror, [member("/dev/sda1", "42"), member("/dev/sdb1", "7")])).toBeNull();
    expect(
      importDevices(mirror, [
        member("/dev/sda1", "42"),
        member("/dev/sdb1", "42"),
        member("/dev/dm-0", "42"),
      ]),
    ).toBeNull();
  });

  it("an md array under each of its members counts once", () => {
    const md = member("/dev/md0", "42", { type: "raid1", name: "md0" });
    const devices = [
      dev("/dev/sda", {
        type: "disk",
        children: [dev("/dev/sda1", { fstype: "linux_raid_member", children: [md] })],
      }),
      dev("/dev/sdb", {
        type: "disk",
        children: [dev("/dev/sdb1", { fstype: "linux_raid_member", children: [md] })],
      }),
    ];
    const pool = listing(["\ttank        ONLINE", "\t  md0       ONLINE"].join("\n"));
    expect(importDevices(pool, devices)).toEqual(["/dev/md0"]);
  });
});
