// Scenario 6: the pool was never exported and was last used by another hostid, and the live system's
// hostid is to stay as it is (like the stock NixOS ISO's fixed hostid): adoptHostId:false. Without force
// -> 409 pool-in-use-elsewhere naming the last host; with force -> imported, and the response says so.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { liveHostid, mounts, poolProp, pools } from "./guest-state.js";
import {
  AGENT_ARGS,
  boot,
  ensureDiskSet,
  RESCUE_HOSTID,
  SERVER_HOSTID,
  SERVER_HOSTNAME,
  type Vm,
} from "./lab.js";
import { expectOk, expectProblem, finish, guestSnapshot, waitForStatus } from "./scenario.js";

/** the ISO service's command line, but no boot-time auto-mount (it would adopt the hostid) */
const NO_AUTO = AGENT_ARGS.map((a, i, all) => (all[i - 1] === "--auto-mount" ? "off" : a));

describe("scenario 6: forced import, live hostid kept", () => {
  let vm: Vm;
  beforeAll(async () => {
    vm = await boot({ name: "s6-forced", diskSet: await ensureDiskSet("single"), agent: { args: NO_AUTO } });
  });
  afterAll(() => finish(vm));

  it("sees the pool as last used by another system", async () => {
    const st = await waitForStatus(vm, "detection", (s) => s.phase === "found");
    expect(st.hostid.live).toBe(RESCUE_HOSTID);
    const p = await vm.api("GET", "/v1/pools");
    expectOk(p);
    const np = p.body.importable.find((x: any) => x.name === "nvmepool");
    expect(np, JSON.stringify(p.body)).toBeTruthy();
    expect(np.lastAccessedByOtherSystem).toBeTruthy();
  });

  it("refuses without adoption or force, naming the last host", async () => {
    const r = await vm.api("POST", "/v1/mount", { adoptHostId: false });
    expectProblem(r, 409, "pool-in-use-elsewhere");
    expect(r.body.detail).toContain(SERVER_HOSTNAME);
    const snap = await guestSnapshot(vm);
    expect(await pools(vm), snap).toEqual({});
    expect(await mounts(vm, "/mnt"), snap).toEqual([]);
    expect(await liveHostid(vm)).toBe(RESCUE_HOSTID);
  });

  it("imports with force:true and keeps the live hostid", async () => {
    const r = await vm.api("POST", "/v1/mount", { adoptHostId: false, force: true });
    expectOk(r);
    expect(r.body.forced).toBe(true);
    expect(r.body.hostid.current).toBe(RESCUE_HOSTID);
    expect(r.body.hostid.action).toBe("kept");
    expect(r.body.hostid.lastHost).toBe(SERVER_HOSTNAME);
    expect(r.body.steps.join("\n")).toMatch(/forced/);
    const snap = await guestSnapshot(vm);
    expect(await pools(vm), snap).toEqual({ nvmepool: "ONLINE" });
    expect((await mounts(vm, "/mnt")).find((m) => m.target === "/mnt")?.source, snap).toBe("nvmepool/root");
    expect(await liveHostid(vm)).toBe(RESCUE_HOSTID);
    // a read-only import writes nothing: the labels still name the server as the last host
    expect(await poolProp(vm, "nvmepool", "readonly")).toBe("on");
    const label = await vm.sh("zdb -l /dev/nvme0n1p2");
    expect(Number(/^\s*hostid: (\d+)/m.exec(label)?.[1])).toBe(Number.parseInt(SERVER_HOSTID, 16));
    expect(label).toMatch(/^\s*hostname: 'atlas'/m);
  });

  // A web UI polls /v1/status while an operation runs. In the guest, a `zpool import` scan running
  // next to `zpool import <pool>` makes the import fail ("no such pool available" / "pool already
  // exists"), so the agent must not scan while it imports.
  it("survives a client polling /v1/status during unmount+export and a fresh mount", async () => {
    let stop = false;
    let polls = 0;
    const poller = (async () => {
      while (!stop) {
        await vm.api("GET", "/v1/status", undefined, { timeoutMs: 60_000 }).catch(() => undefined);
        polls++;
      }
    })();
    try {
      expectOk(await vm.api("POST", "/v1/unmount", { export: true }));
      expect(await pools(vm)).toEqual({});
      const r = await vm.api("POST", "/v1/mount", {});
      expectOk(r);
      expect(r.body.forced).toBe(false);
    } finally {
      stop = true;
      await poller;
    }
    expect(polls).toBeGreaterThan(2);
    expect(await pools(vm), await guestSnapshot(vm)).toEqual({ nvmepool: "ONLINE" });
    expect((await mounts(vm, "/mnt")).find((m) => m.target === "/mnt")?.source).toBe("nvmepool/root");
  });
});
