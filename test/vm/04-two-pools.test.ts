// Scenario 4: a root pool and a data pool (tank, on its own disk, also in the server's fstab). The root
// pool is chosen; tank is left untouched: not imported, its labels still say atlas / active.
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

  it("chooses the root pool and mounts it", async () => {
    const st = await waitForAutoMount(vm, "s4");
    expect(st.phase, JSON.stringify(st)).toBe("mounted-ro");
    expect(st.mounted.pool).toBe("nvmepool");
    const snap = await guestSnapshot(vm);
    expect(await pools(vm), snap).toEqual({ nvmepool: "ONLINE" });
    expect((await mounts(vm, "/mnt")).find((m) => m.target === "/mnt")?.source).toBe("nvmepool/root");
  });

  it("leaves the data pool untouched", async () => {
    const snap = await guestSnapshot(vm);
    expect(await mounts(vm, "/mnt/srv"), snap).toEqual([]);
    expect((await mounts(vm)).filter((m) => m.source.startsWith("tank"))).toEqual([]);
    before = await tankLabel(vm);
    expect(before.name).toBe("'tank'");
    expect(Number(before.hostid)).toBe(Number.parseInt(SERVER_HOSTID, 16));
    expect(before.hostname).toBe("'atlas'");
    expect(before.state).toBe("0"); // POOL_STATE_ACTIVE: still "in use" by atlas, nobody exported it
    const p = await vm.api("GET", "/v1/pools");
    expectOk(p);
    expect(p.body.imported.map((x: any) => x.name)).toEqual(["nvmepool"]);
    expect(p.body.importable.map((x: any) => x.name)).toContain("tank");
    // listing importable pools must not have written anything either
    expect(await tankLabel(vm)).toEqual(before);
  });
});
