// Scenario 1: the seed's server (single NVMe disk, nvmepool root/nix/home/var legacy, ESP, pool last
// used by atlas 8425e349 and never exported). Auto-mount read-only; then read-write; then unmount +
// export; then a second boot AS THE SERVER imports the pool without -f (the clean handoff). On the
// way, the operator's walk through the page's own requests: re-mount during a diagnosis, a no-op
// change, a real one, an export refused by a shell left in /mnt/home, the summary after export.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { liveHostid, mountAt, mounts, poolProp, pools } from "./guest-state.js";
import { boot, type DiskSet, ensureDiskSet, SERVER_HOSTID, SERVER_HOSTNAME, type Vm } from "./lab.js";
import { expectOk, expectProblem, finish, guestSnapshot, waitForAutoMount } from "./scenario.js";

const MARKER = "/mnt/root/lifeboat-rw-check";

describe("scenario 1: the seed's server", () => {
  let set: DiskSet;
  let vm: Vm;
  let server: Vm | undefined;

  beforeAll(async () => {
    set = await ensureDiskSet("single");
    vm = await boot({ name: "s1-single", diskSet: set });
  });
  afterAll(() => finish(vm, server));

  it("answers /healthz without a token, and nothing else without one", async () => {
    const h = await vm.api("GET", "/healthz", undefined, { auth: false });
    expect(h.status).toBe(200);
    expect(h.body.ok).toBe(true);
    expectProblem(await vm.api("GET", "/v1/status", undefined, { auth: false }), 401);
    expectProblem(await vm.api("GET", "/v1/status", undefined, { auth: "not-the-token" }), 401);
  });

  it("auto-mounts the installed system read-only and adopts the server's hostid", async () => {
    const st = await waitForAutoMount(vm, "s1");
    expect(st.phase, JSON.stringify(st)).toBe("mounted-ro");
    expect(st.zfs.available).toBe(true);
    expect(st.mounted.pool).toBe("nvmepool");
    expect(st.mounted.readonly).toBe(true);
    const targets = st.mounted.mounts.map((m: any) => m.target);
    expect(targets).toEqual(
      expect.arrayContaining(["/mnt", "/mnt/nix", "/mnt/home", "/mnt/var", "/mnt/boot"]),
    );
    expect(st.hostid.live).toBe(SERVER_HOSTID);

    // the real state
    const snap = await guestSnapshot(vm);
    expect(await pools(vm), snap).toEqual({ nvmepool: "ONLINE" });
    expect(await poolProp(vm, "nvmepool", "readonly")).toBe("on");
    expect(await poolProp(vm, "nvmepool", "altroot")).toBe("/mnt");
    expect(await liveHostid(vm)).toBe(SERVER_HOSTID);
    const m = await mounts(vm, "/mnt");
    const by = Object.fromEntries(m.map((x) => [x.target, x]));
    for (const [t, src] of [
      ["/mnt", "nvmepool/root"],
      ["/mnt/nix", "nvmepool/nix"],
      ["/mnt/home", "nvmepool/home"],
      ["/mnt/var", "nvmepool/var"],
    ] as const) {
      expect(by[t]?.source, `${t}\n${snap}`).toBe(src);
      expect(by[t]?.fstype).toBe("zfs");
      expect(by[t]?.options).toContain("ro");
    }
    expect(by["/mnt/boot"]?.fstype, snap).toBe("vfat");
    expect(by["/mnt/boot"]?.source).toMatch(/^\/dev\/nvme0n1p1$/);
    // it is the installed NixOS that is mounted
    expect((await vm.sh("readlink /mnt/nix/var/nix/profiles/system")).trim()).toBe("system-3-link");
    expect(await vm.sh("cat /mnt/boot/loader/loader.conf")).toContain("default nixos-generation-3.conf");
    expect((await vm.run("test -e /mnt/etc/NIXOS")).rc).toBe(0);
    expect(await vm.sh(`cat /mnt${set.info.toplevel}/nixos-version`)).toMatch(/^24\.11\./);
  });

  it("reports disks and pools consistent with the guest", async () => {
    const d = await vm.api("GET", "/v1/disks");
    expectOk(d);
    expect(JSON.stringify(d.body.disks)).toContain("nvme0n1");
    const p = await vm.api("GET", "/v1/pools");
    expectOk(p);
    const imported = p.body.imported.find((x: any) => x.name === "nvmepool");
    expect(imported, JSON.stringify(p.body)).toBeTruthy();
    expect(typeof imported.guid).toBe("string");
    expect(imported.guid).toBe(await poolProp(vm, "nvmepool", "guid"));
    expect(imported.health).toBe("ONLINE");
    const ds = await vm.api("GET", "/v1/pools/nvmepool/datasets");
    expectOk(ds);
    for (const name of ["nvmepool/root", "nvmepool/nix", "nvmepool/home", "nvmepool/var"])
      expect(JSON.stringify(ds.body)).toContain(`"${name}"`);
    expectOk(await vm.api("GET", "/v1/plan"));
  });

  it("re-mounts read-write (export + import rw) while the diagnosis reads the disk: the page's own requests", async () => {
    // The page's walk: the overview asks for the diagnosis (computed in the background after the
    // mount; ?refresh starts it again now), and the operator re-mounts read-write while it runs.
    const diagnosis = vm.api("GET", "/v1/diagnosis?refresh=true");
    let reading: any = null;
    for (let i = 0; i < 200 && !reading; i++) {
      const st = (await vm.api("GET", "/v1/status")).body;
      if (st.busy?.kind === "reading" && st.diagnosis.state === "running") reading = st;
    }
    expect(reading?.busy.name, "the diagnosis is visible in busy while it runs").toBe("diagnosis");
    const plan = await vm.api("GET", "/v1/plan?readonly=false");
    expectOk(plan);
    expect(plan.body.release.map((x: any) => `${x.kind} ${x.target}`)).toEqual(
      expect.arrayContaining(["unmount /mnt/nix", "unmount /mnt", "export-pool nvmepool"]),
    );
    const r = await vm.api("POST", "/v1/mount", { readonly: false });
    expectOk(r);
    // The request that waited for the diagnosis still gets one (computed again on the new mounts).
    const d = await diagnosis;
    expectOk(d);
    expect(d.body.computedAt).toEqual(expect.any(String));
    expect(r.body.readonly).toBe(false);
    expect(r.body.pool).toBe("nvmepool");
    expect(await poolProp(vm, "nvmepool", "readonly")).toBe("off");
    const root = await mountAt(vm, "/mnt");
    expect(root?.source).toBe("nvmepool/root");
    expect(root?.options).toContain("rw");
    expect((await mountAt(vm, "/mnt/boot"))?.options).toContain("rw");
    const st = (await vm.api("GET", "/v1/status")).body;
    expect(st.phase).toBe("mounted-rw");
    // really writable: leave a marker for the second boot
    await vm.sh(`echo handoff > ${MARKER} && sync`);
  });

  it("a no-op change answers unchanged without a snapshot; a real one is named in its snapshot", async () => {
    const count = async () => (await vm.sh("zfs list -H -t snapshot -o name -r nvmepool | wc -l")).trim();
    const before = await count();
    const same = await vm.api("POST", "/v1/boot/default", { generation: 3 });
    expectOk(same);
    expect(same.body).toMatchObject({ unchanged: true, snapshot: null });
    expect(await count()).toBe(before);
    const boot = (await vm.api("GET", "/v1/boot")).body;
    const entry = boot.entries.find((e: any) => e.isDefault);
    expect(entry.name).toMatch(/^NixOS \(Generation 3 NixOS 24\.11/);
    expect(entry.protected.some((p: string) => p.startsWith("init=/nix/store/"))).toBe(true);
    const kp = await vm.api("POST", `/v1/boot/entries/${entry.id}/kernel-params`, {
      add: ["module_blacklist=vfio_pci"],
    });
    expectOk(kp);
    expect(kp.body.snapshot).toMatch(/^nvmepool@lifeboat-\d{8}T\d{6}Z-kernel-params$/);
    expect(await vm.sh(`cat /mnt/boot/loader/entries/${entry.file}`)).toContain("module_blacklist=vfio_pci");
  });

  it("export refused while a shell sits in /mnt/home: 409 naming it; then exported, ready to reboot with the summary", async () => {
    await vm.sh("(cd /mnt/home && exec sleep 600) >/dev/null 2>&1 & echo $! > /tmp/holder.pid");
    const busy = await vm.api("POST", "/v1/export", {});
    expectProblem(busy, 409);
    expect(busy.body.code).toBe("target-busy");
    const pid = Number((await vm.sh("cat /tmp/holder.pid")).trim());
    expect(busy.body.holders).toEqual(
      expect.arrayContaining([expect.objectContaining({ pid, command: "sleep", uses: ["cwd /mnt/home"] })]),
    );
    expect((await vm.api("GET", "/v1/status")).body.phase).toBe("mounted-rw");
    await vm.sh(`kill ${pid}; while kill -0 ${pid} 2>/dev/null; do sleep 0.1; done`);
    const r = await vm.api("POST", "/v1/export", {});
    expectOk(r);
    const sum = (await vm.api("GET", "/v1/changes")).body;
    expect(sum.state).toBe("ready-to-reboot");
    expect(sum.changes.map((c: any) => c.action)).toEqual(["kernel-params"]);
    expect(sum.changes[0].undo.request.path).toMatch(/\/revert$/);
    const audit = (await vm.api("GET", "/v1/audit")).body.entries.map((e: any) => `${e.action} ${e.result}`);
    expect(audit).toEqual(expect.arrayContaining(["remount-rw ok", "export failed", "export ok"]));
  });

  it("nothing left mounted or imported after the export", async () => {
    const snap = await guestSnapshot(vm);
    expect(await mounts(vm, "/mnt"), snap).toEqual([]);
    expect(await pools(vm), snap).toEqual({});
    const st = (await vm.api("GET", "/v1/status")).body;
    expect(st.phase).not.toMatch(/^mounted/);
    expect(st.mounted).toBeNull();
  });

  it("second boot with the server's own hostid imports the pool WITHOUT -f", async () => {
    await vm.shutdown();
    server = await boot({
      name: "s1-server-reboot",
      overlaysFrom: vm,
      agent: false,
      hostid: SERVER_HOSTID,
      hostname: SERVER_HOSTNAME,
    });
    expect(await liveHostid(server)).toBe(SERVER_HOSTID);
    const listing = await server.run("zpool import");
    expect(listing.stdout).toMatch(/pool: nvmepool/);
    expect(listing.stdout).not.toMatch(/last accessed by another system/i);
    const imp = await server.run("zpool import -N nvmepool");
    expect(imp.rc, imp.stderr).toBe(0);
    expect(await pools(server)).toEqual({ nvmepool: "ONLINE" });
    await server.sh("mount -t zfs nvmepool/root /mnt");
    expect((await server.sh(`cat ${MARKER}`)).trim()).toBe("handoff");
    await server.sh("umount /mnt && zpool export nvmepool");
  });
});
