// Scenario 8: a broken entry among safe ones, and a failure in the middle of mounting. In this disk
// set /home on the root dataset is a regular file, so nvmepool/home (3rd of the fstab's entries)
// cannot be mounted: the target check refuses the non-directory (unsafe-mountpoint, before mount(8)
// runs). Read-only, that entry is skipped and named and everything else mounts. Read-write needs it
// acknowledged: without that the request fails after / and /nix were mounted, and the transaction
// rolls back for real (nothing mounted, nothing imported, the hostid as it was), and says so.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { liveHostid, mounts, pools } from "./guest-state.js";
import { boot, ensureDiskSet, type Vm } from "./lab.js";
import { apiWhenIdle, expectOk, expectProblem, finish, guestSnapshot, waitForAutoMount } from "./scenario.js";

describe("scenario 8: a broken entry skipped; a fault mid-mount rolled back", () => {
  let vm: Vm;
  beforeAll(async () => {
    vm = await boot({ name: "s8-fault", diskSet: await ensureDiskSet("fault") });
  });
  afterAll(() => finish(vm));

  it("the boot-time auto-mount skips /home, names it, and mounts the rest read-only", async () => {
    const st = await waitForAutoMount(vm, "s8");
    expect(st.phase, JSON.stringify(st)).toBe("mounted-ro");
    expect(st.autoMount.state).toBe("mounted");
    const home = (st.skipped as { path: string; source: string; reason: string }[]).find(
      (e) => e.path === "/home",
    );
    expect(home?.source, JSON.stringify(st.skipped)).toBe("nvmepool/home");
    expect(home?.reason).toMatch(/not a directory/);
    const snap = await guestSnapshot(vm);
    const targets = (await mounts(vm, "/mnt")).map((m) => m.target).sort();
    expect(targets, snap).toEqual(["/mnt", "/mnt/boot", "/mnt/nix", "/mnt/var"]);
    for (const m of await mounts(vm, "/mnt")) expect(m.options, `${m.target}\n${snap}`).toContain("ro");
  });

  it("a read-write mount that would leave /home out fails part-way and rolls back, and says so", async () => {
    expectOk(await apiWhenIdle(vm, "POST", "/v1/unmount", { export: true }));
    expect(await pools(vm)).toEqual({});
    // the auto-mount adopted the server's hostid; the hand-back keeps it (the pool's own)
    const hostidBefore = await liveHostid(vm);
    const r = await vm.api("POST", "/v1/mount", { readonly: false });
    expectProblem(r, 409, "skipped-entries");
    expect(JSON.stringify(r.body.skipped), r.text).toContain("/home");
    expect(r.body.state, r.text).toBe("rolled-back");
    expect(r.body.rollbackFailures ?? [], r.text).toEqual([]);
    const snap = await guestSnapshot(vm);
    expect(await mounts(vm, "/mnt"), snap).toEqual([]);
    expect(await pools(vm), snap).toEqual({});
    // a rolled-back attempt leaves the hostid as it found it
    expect(await liveHostid(vm)).toBe(hostidBefore);
    const st = (await vm.api("GET", "/v1/status")).body;
    expect(st.phase).toBe("found");
    expect(st.mounted).toBeNull();
  });

  it("acknowledged, the read-write mount goes on without /home", async () => {
    const r = await vm.api("POST", "/v1/mount", { readonly: false, acceptSkipped: ["/home"] });
    expectOk(r);
    const targets = (await mounts(vm, "/mnt")).map((m) => m.target).sort();
    expect(targets, await guestSnapshot(vm)).toEqual(["/mnt", "/mnt/boot", "/mnt/nix", "/mnt/var"]);
    expect(JSON.stringify(r.body.skipped)).toContain("/home");
  });
});
