// Scenario 4: a root pool and a data pool (tank, on its own disk, also in the server's fstab). The root
// pool is chosen; tank belongs to the system (its fstab mounts tank/data at /srv/data), so it is
// imported in the same transaction, read-only: its labels still say atlas / active, nothing written;
// tank/backups (its own mountpoint, canmount=on) is mounted where ZFS would mount it. Export hands
// both back.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mounts, pools } from "./guest-state.js";
import { boot, ensureDiskSet, SERVER_HOSTID, type Vm } from "./lab.js";
import { expectOk, finish, guestSnapshot, waitForAutoMount } from "./scenario.js";

async function tankLabel(vm: Vm) {
  const out = await vm.sh("zdb -l /dev/nvme1n1p1");
  const num = (k: string) =>
    /^\s*(\S+):\s*(.*)$/m.exec(out.split("\n").find((l) => l.trim().startsWith(`${k}:`)) ?? "")?.[2];
  return {
    name: num("name"),
    hostid: num("hostid"),
    hostname: num("hostname"),
    state: num("state"),
    txg: num("txg"),
  };
}

describe("scenario 4: two pools", () => {
  let vm: Vm;
  let before: Awaited<ReturnType<typeof tankLabel>>;
  beforeAll(async () => {
    vm = await boot({ name: "s4-two-pools", diskSet: await ensureDiskSet("two-pools") });
  });
  afterAll(() => finish(vm));

  it("chooses the root pool and mounts the whole system, tank included (read-only)", async () => {
    const st = await waitForAutoMount(vm, "s4");
    expect(st.phase, JSON.stringify(st)).toBe("mounted-ro");
    expect(st.mounted.pool).toBe("nvmepool");
    const snap = await guestSnapshot(vm);
    expect(await pools(vm), snap).toEqual({ nvmepool: "ONLINE", tank: "ONLINE" });
    const m = await mounts(vm, "/mnt");
    expect(m.find((x) => x.target === "/mnt")?.source).toBe("nvmepool/root");
    expect(m.find((x) => x.target === "/mnt/srv/data")?.source, snap).toBe("tank/data");
    for (const x of m)
      expect(x.options, `${x.target}`).toEqual(expect.arrayContaining(["ro", "nodev", "nosuid", "noexec"]));
    expect(
      (await mounts(vm)).filter((x) => x.source.startsWith("tank") && !x.target.startsWith("/mnt/")),
    ).toEqual([]);
  });

  it("the read-only import wrote nothing to tank; unmount + export hands both pools back", async () => {
    before = await tankLabel(vm);
    expect(before.name).toBe("'tank'");
    expect(Number(before.hostid)).toBe(Number.parseInt(SERVER_HOSTID, 16));
    expect(before.hostname).toBe("'atlas'");
    expect(before.state).toBe("0"); // POOL_STATE_ACTIVE: still "in use" by atlas, nobody exported it
    const p = await vm.api("GET", "/v1/pools");
    expectOk(p);
    expect(p.body.imported.map((x: any) => x.name).sort()).toEqual(["nvmepool", "tank"]);
    const out = await vm.api("POST", "/v1/unmount", { export: true });
    expectOk(out);
    expect(out.body.exported.sort()).toEqual(["nvmepool", "tank"]);
    expect(await pools(vm)).toEqual({});
    expect(await mounts(vm, "/mnt")).toEqual([]);
    expect(await tankLabel(vm)).toEqual(before);
  });
});
