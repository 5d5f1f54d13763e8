// Scenario 3: the pool root is encrypted (passphrase). Locked until load-key; a wrong passphrase is a
// clear 4xx and mounts nothing, also when the disk's keylocation names a rescue-side file holding the
// right key (zfs load-key -L prompt: the disk's keylocation is never read); the right one makes the
// waiting auto-mount resume and mount; the passphrase never reaches any log.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dsProp, mounts } from "./guest-state.js";
import { boot, ensureDiskSet, grepLogs, type Vm, ZFS_PASSPHRASE } from "./lab.js";
import {
  expectOk,
  expectProblem,
  finish,
  guestSnapshot,
  waitForAutoMount,
  waitForPhase,
} from "./scenario.js";

const WRONG = "not-the-passphrase-x1";

describe("scenario 3: encrypted root dataset", () => {
  let vm: Vm;
  beforeAll(async () => {
    vm = await boot({ name: "s3-encrypted", diskSet: await ensureDiskSet("encrypted") });
  });
  afterAll(() => finish(vm));

  it("reports the pool as locked and mounts nothing", async () => {
    const st = await waitForAutoMount(vm, "s3");
    expect(st.phase, JSON.stringify(st)).toBe("locked");
    expect(st.locked).toEqual(expect.arrayContaining(["nvmepool", "nvmepool/root"]));
    expect(st.autoMount.detail).toMatch(/key-not-loaded/);
    expect(await mounts(vm, "/mnt"), await guestSnapshot(vm)).toEqual([]);
  });

  it("rejects a wrong passphrase with a clear 4xx and mounts nothing", async () => {
    const r = await vm.api("POST", "/v1/pools/nvmepool/load-key", { passphrase: WRONG });
    expectProblem(r, "4xx", "wrong-passphrase");
    expect(await mounts(vm, "/mnt"), await guestSnapshot(vm)).toEqual([]);
    const ks = await vm.run("zfs get -H -o value keystatus nvmepool");
    if (ks.rc === 0) expect(ks.stdout.trim()).toBe("unavailable");
  });

  it("never reads the disk's keylocation: file:///<rescue-side file holding the right key> + a wrong passphrase still fails, key not loaded", async () => {
    // Setup through the control channel, never through the agent (the overlay is throwaway): the
    // rescue side holds the right key in a file and the pool's keylocation names it. The property is
    // set on a read-write import, then the pool is imported read-only again as the agent left it.
    await vm.sh("umask 077; cat > /run/rescue-side-key", { input: ZFS_PASSPHRASE });
    await vm.sh(
      "zpool export nvmepool && zpool import -N -R /mnt nvmepool && zfs set keylocation=file:///run/rescue-side-key nvmepool && zpool export nvmepool && zpool import -N -R /mnt -o readonly=on nvmepool",
    );
    expect(await dsProp(vm, "nvmepool", "keylocation")).toBe("file:///run/rescue-side-key");
    const r = await vm.api("POST", "/v1/pools/nvmepool/load-key", { passphrase: WRONG });
    expectProblem(r, "4xx", "wrong-passphrase");
    expect(await dsProp(vm, "nvmepool", "keystatus")).toBe("unavailable");
    expect(await mounts(vm, "/mnt"), await guestSnapshot(vm)).toEqual([]);
  });

  it("loads the key with the right passphrase and mounts the system", async () => {
    const r = await vm.api("POST", "/v1/pools/nvmepool/load-key", { passphrase: ZFS_PASSPHRASE });
    expectOk(r);
    expect(await dsProp(vm, "nvmepool", "keystatus")).toBe("available");
    // Auto-mount was waiting for this key: it resumes by itself, read-only (no second request).
    const st = await waitForPhase(vm, ["mounted-ro"]);
    expect(st.autoMount.state).toBe("mounted");
    const m = await mounts(vm, "/mnt");
    expect(m.find((x) => x.target === "/mnt")?.source, await guestSnapshot(vm)).toBe("nvmepool/root");
    expect(m.map((x) => x.target)).toEqual(
      expect.arrayContaining(["/mnt/nix", "/mnt/home", "/mnt/var", "/mnt/boot"]),
    );
    expect(await vm.sh("cat /mnt/home/alice/notes.txt")).toContain("certificates");
  });

  it("never logs the passphrase (agent log, console, guest journal, dmesg)", async () => {
    await vm.collectGuestLogs();
    const logs = await vm.allLogs();
    expect(Object.keys(logs).some((f) => f.endsWith("agent.log"))).toBe(true);
    expect((logs["share/logs/agent.log"] ?? "").length).toBeGreaterThan(0);
    expect(await grepLogs(vm, ZFS_PASSPHRASE)).toEqual([]);
    expect(await grepLogs(vm, WRONG)).toEqual([]);
  });
});
