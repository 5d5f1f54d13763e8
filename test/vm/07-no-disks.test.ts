// Scenario 7: nothing to rescue. No disks at all, and a single blank disk: the status explains it and
// nothing crashes (every endpoint still answers; mount is a clean 4xx).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mounts, pools } from "./guest-state.js";
import { boot, type CaseName, ensureDiskSet, type Vm } from "./lab.js";
import { apiWhenIdle, expectOk, expectProblem, finish, waitForAutoMount } from "./scenario.js";

for (const name of ["nodisks", "blank"] as CaseName[]) {
  describe(`scenario 7: ${name}`, () => {
    let vm: Vm;
    beforeAll(async () => {
      vm = await boot({ name: `s7-${name}`, diskSet: await ensureDiskSet(name) });
    });
    afterAll(() => finish(vm));

    it("explains that there is nothing to mount, and stays up", async () => {
      const st = await waitForAutoMount(vm, `s7 ${name}`);
      expect(st.phase, JSON.stringify(st)).toBe("nothing-found");
      expect(st.mounted).toBeNull();
      expect(st.candidates).toEqual([]);
      const d = await vm.api("GET", "/v1/disks");
      expectOk(d);
      const names = JSON.stringify(d.body.disks);
      if (name === "blank") expect(names).toContain("nvme0n1");
      else expect(names).not.toContain("nvme");
      const p = await vm.api("GET", "/v1/pools");
      expectOk(p);
      expect(p.body.importable).toEqual([]);
      expect(p.body.imported).toEqual([]);
      const plan = await vm.api("GET", "/v1/plan");
      if (plan.status !== 200) expectProblem(plan, 409, "no-system-found");
      // the agent looks again for late disks a few times; a mount meanwhile is a clean 409 busy
      const m = await apiWhenIdle(vm, "POST", "/v1/mount", {});
      expectProblem(m, "4xx", "no-system-found");
      expectOk(await vm.api("GET", "/healthz", undefined, { auth: false }));
      expect(await pools(vm)).toEqual({});
      expect(await mounts(vm, "/mnt")).toEqual([]);
    });
  });
}
