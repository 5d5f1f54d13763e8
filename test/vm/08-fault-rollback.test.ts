// Scenario 8: a failure in the middle of mounting. In this disk set /home on the root dataset is a
// regular file, so nvmepool/home (3rd of the fstab's entries) cannot be mounted after / and /nix were:
// the target check refuses the non-directory (unsafe-mountpoint, before mount(8) runs). The
// transaction must roll back: nothing mounted, nothing imported, and the error says so.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { liveHostid, mounts, pools } from "./guest-state.js";
import { boot, ensureDiskSet, RESCUE_HOSTID, type Vm } from "./lab.js";
import { expectProblem, finish, guestSnapshot, waitForAutoMount } from "./scenario.js";

describe("scenario 8: fault mid-mount -> rollback", () => {
  let vm: Vm;
  beforeAll(async () => {
    vm = await boot({ name: "s8-fault", diskSet: await ensureDiskSet("fault") });
  });
  afterAll(() => finish(vm));

  it("the boot-time auto-mount fails and leaves nothing behind", async () => {
    const st = await waitForAutoMount(vm, "s8");
    expect(st.phase, JSON.stringify(st)).toBe("found");
    expect(st.autoMount.state).toBe("failed");
    expect(st.autoMount.detail).toMatch(/unsafe-mountpoint/);
    const snap = await guestSnapshot(vm);
    expect(await mounts(vm, "/mnt"), snap).toEqual([]);
    expect(await pools(vm), snap).toEqual({});
  });

  it("an explicit mount fails at the home step, rolls back, and says so", async () => {
    const r = await vm.api("POST", "/v1/mount", {});
    expectProblem(r, 422, "unsafe-mountpoint");
    expect(r.body.failedStep, r.text).toMatch(/nvmepool\/home.*\/mnt\/home/);
    expect(r.body.detail, r.text).toMatch(/Not a directory|not a directory/);
    // the error says what was undone: the mounts before home, the import, the hostid adoption
    expect(r.body.state, r.text).toBe("rolled-back");
    expect(r.body.rollbackFailures, r.text).toEqual([]);
    const undone = (r.body.rolledBack as string[]).join("\n");
    expect(undone, r.text).toMatch(/unmounted \/mnt\/nix/);
    expect(undone, r.text).toMatch(/unmounted \/mnt$/m);
    expect(undone, r.text).toMatch(/exported nvmepool/);
    expect(undone, r.text).toMatch(/restored hostid/);
    const snap = await guestSnapshot(vm);
    expect(await mounts(vm, "/mnt"), snap).toEqual([]);
    expect(await pools(vm), snap).toEqual({});
    // a rolled-back attempt gives the hostid back too
    expect(await liveHostid(vm)).toBe(RESCUE_HOSTID);
    const st = (await vm.api("GET", "/v1/status")).body;
    expect(st.phase).toBe("found");
    expect(st.mounted).toBeNull();
  });
});
