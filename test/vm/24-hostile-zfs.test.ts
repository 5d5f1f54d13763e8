// Scenario 24 (issue 10 in QEMU): the installed system's ZFS datasets and fstab lead out of the root
// through links planted on the disk (layouts.ts HOSTILE, guest/mklayouts.sh layout_hostile): mountpoints
// through a link at depth 1 and 2, a dataset over the rescue side's /root/.ssh via an absolute link, an
// fstab target that is a link out. After the boot-time auto-mount (read-only): degrade, don't refuse:
// each escaping entry skipped and named with its reason, everything safe mounted read-only (/, /nix,
// /boot, /srv), nothing mounted outside the root, the rescue side's canary tree unchanged (hashed
// before the agent started), the agent answers.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { boot, layoutDiskSet, type Vm } from "./lab.js";
import { foreignOutside, isUnder, mountinfo } from "./layout-checks.js";
import { HOSTILE } from "./layouts.js";
import { expectOk, finish, guestSnapshot, waitForAutoMount } from "./scenario.js";

describe(`scenario 24: hostile ZFS links (${HOSTILE.source})`, () => {
  let vm: Vm;
  beforeAll(async () => {
    vm = await boot({
      name: "s24-hostile",
      diskSet: await layoutDiskSet("hostile-zfs"),
      agent: { prelude: HOSTILE.prelude },
    });
  });
  afterAll(() => finish(vm));

  it("auto-mount (read-only) mounts nothing outside the root and none of the escaping datasets", async () => {
    const st = await waitForAutoMount(vm, "s24");
    const snap = `${JSON.stringify(st.autoMount)}\n${JSON.stringify(st.skipped)}\n${await guestSnapshot(vm)}`;
    // Everything safe is mounted read-only; each escaping entry is skipped and named with its reason.
    expect(st.autoMount.state, snap).toBe("mounted");
    expect(st.phase, snap).toBe("mounted-ro");
    expect(
      (st.skipped as { kind: string; path: string; source: string }[])
        .map((e) => `${e.kind} ${e.path} ${e.source}`)
        .sort(),
      snap,
    ).toEqual([
      "dataset /escape1/data rpool/e1",
      "dataset /keys rpool/keys",
      "dataset /srv/www/site rpool/web",
      "fstab /data rpool/data",
    ]);
    for (const e of st.skipped) expect(e.reason, snap).toMatch(/symbolic link|not a directory|skipped/);
    expect(st.systemPools, snap).toEqual([
      expect.objectContaining({ pool: "rpool", importedBecause: "root" }),
    ]);
    const safe = (await mountinfo(vm)).filter((m) => isUnder(m.target)).map((m) => `${m.target} ${m.source}`);
    for (const want of ["/mnt rpool/root", "/mnt/nix rpool/nix", "/mnt/srv rpool/srv"])
      expect(safe, snap).toContain(want);
    expect(
      safe.some((m) => m.startsWith("/mnt/boot ")),
      snap,
    ).toBe(true);
    expect(await foreignOutside(vm), snap).toEqual([]);
    const all = await mountinfo(vm);
    for (const d of HOSTILE.escaping)
      expect(
        all.filter((m) => m.source === d),
        `${d} mounted\n${snap}`,
      ).toEqual([]);
    for (const m of all.filter((x) => x.source.startsWith("rpool")))
      expect(isUnder(m.target), `${m.source} at ${m.target}`).toBe(true);
  });

  it("the rescue side's canary tree is unchanged (hash before the agent started = after)", async () => {
    const before = await vm.sh("cat /run/canary.before");
    expect(before).toContain("/root/.ssh/authorized_keys");
    expect(await vm.sh(HOSTILE.canaryCmd)).toBe(before);
  });

  it("the agent still answers and accepts the next change", async () => {
    const s = await vm.api("GET", "/v1/status");
    expect(s.status, s.text).toBe(200);
    // no change holds the lock (the background diagnosis may be reading: the export cancels it)
    expect(s.body.busy?.kind ?? null, "no change holds the lock").not.toBe("change");
    const u = await vm.api("POST", "/v1/unmount", { export: true });
    expectOk(u);
    expect(
      (await mountinfo(vm)).filter((m) => isUnder(m.target)),
      await guestSnapshot(vm),
    ).toEqual([]);
    expect(await vm.sh(HOSTILE.canaryCmd)).toBe(await vm.sh("cat /run/canary.before"));
  });
});
