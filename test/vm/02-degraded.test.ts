// Scenario 2: mirror with one disk gone. The pool is DEGRADED, the missing vdev is named, and the
// installed system still mounts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mounts, pools } from "./guest-state.js";
import { boot, ensureDiskSet, type Vm } from "./lab.js";
import { expectOk, finish, guestSnapshot, waitForAutoMount } from "./scenario.js";

describe("scenario 2: degraded mirror", () => {
  let vm: Vm;
  beforeAll(async () => {
    const set = await ensureDiskSet("degraded");
    expect(set.disks).toHaveLength(1);
    vm = await boot({ name: "s2-degraded", diskSet: set });
  });
  afterAll(() => finish(vm));

  it("mounts the degraded pool", async () => {
    const st = await waitForAutoMount(vm, "s2");
    expect(st.phase, JSON.stringify(st)).toBe("mounted-ro");
    expect(st.mounted.pool).toBe("nvmepool");
    const snap = await guestSnapshot(vm);
    expect(await pools(vm), snap).toEqual({ nvmepool: "DEGRADED" });
    const targets = (await mounts(vm, "/mnt")).map((m) => m.target);
    expect(targets).toEqual(
      expect.arrayContaining(["/mnt", "/mnt/nix", "/mnt/home", "/mnt/var", "/mnt/boot"]),
    );
  });

  it("reports DEGRADED and names the missing vdev, as zpool status does", async () => {
    const zs = await vm.sh("zpool status nvmepool");
    expect(zs).toMatch(/state: DEGRADED/);
    // zpool status names the missing member by guid with "was /dev/disk/by-id/...LBVM0001-part1"
    const missing = /^\s+(\d+)\s+UNAVAIL\s.*was (\S+)/m.exec(zs);
    expect(missing, zs).toBeTruthy();
    const [, guid = "", was = ""] = missing ?? [];
    const p = await vm.api("GET", "/v1/pools");
    expectOk(p);
    const text = JSON.stringify(p.body);
    expect(text).toContain("DEGRADED");
    // zpool status -j calls the missing member CANT_OPEN where the text output says UNAVAIL
    expect(text).toMatch(/UNAVAIL|CANT_OPEN/);
    // the missing vdev is named one way or another: by its old path or its guid
    expect(
      text.includes(was) || text.includes(guid) || text.includes(was.split("/").pop() ?? "?"),
      text,
    ).toBe(true);
    const st = (await vm.api("GET", "/v1/status")).body;
    expect(JSON.stringify(st)).toMatch(/DEGRADED|degraded/);
  });
});
