// Scenario 5: no ZFS at all. (a) ext4 root on a plain partition: detected and mounted. (b) the same
// ext4 inside LUKS2: locked until /v1/luks/nvme0n1p2/open with the passphrase, then mounted.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mountAt, mounts, pools } from "./guest-state.js";
import { boot, ensureDiskSet, grepLogs, LUKS_PASSPHRASE, type Vm } from "./lab.js";
import {
  expectOk,
  expectProblem,
  finish,
  guestSnapshot,
  waitForAutoMount,
  waitForPhase,
} from "./scenario.js";

const WRONG = "not-the-luks-passphrase-x2";

async function mappings(vm: Vm): Promise<string[]> {
  const out = await vm.sh("ls /dev/mapper 2>/dev/null || true");
  return out.split(/\s+/).filter((n) => n !== "" && n !== "control");
}

describe("scenario 5a: ext4 root", () => {
  let vm: Vm;
  // boot in a hook: on a cold cache this also builds the guest (hook timeout 60 min, test 15 min)
  beforeAll(async () => {
    vm = await boot({ name: "s5-ext4", diskSet: await ensureDiskSet("ext4") });
  });
  afterAll(() => finish(vm));

  it("detects and mounts the ext4 root and the ESP", async () => {
    const st = await waitForAutoMount(vm, "s5a");
    expect(st.phase, JSON.stringify(st)).toBe("mounted-ro");
    const snap = await guestSnapshot(vm);
    const root = await mountAt(vm, "/mnt");
    expect(root?.fstype, snap).toBe("ext4");
    expect(root?.source).toBe("/dev/nvme0n1p2");
    expect(root?.options).toContain("ro");
    expect((await mountAt(vm, "/mnt/boot"))?.fstype).toBe("vfat");
    expect(await pools(vm)).toEqual({});
    expect((await vm.sh("readlink /mnt/nix/var/nix/profiles/system")).trim()).toBe("system-3-link");
  });
});

describe("scenario 5b: ext4 inside LUKS2", () => {
  let vm: Vm;
  beforeAll(async () => {
    vm = await boot({ name: "s5-ext4-luks", diskSet: await ensureDiskSet("ext4-luks") });
  });
  afterAll(() => finish(vm));

  it("reports the LUKS container as locked and mounts nothing", async () => {
    const st = await waitForAutoMount(vm, "s5b");
    expect(st.phase, JSON.stringify(st)).toBe("locked");
    // It says which device to unlock, and holds no lock while it waits.
    expect(st.autoMount).toMatchObject({ state: "waiting" });
    expect(st.autoMount.detail).toContain("/dev/nvme0n1p2");
    expect(st.busy).toBeNull();
    expect(await mounts(vm, "/mnt"), await guestSnapshot(vm)).toEqual([]);
    const d = await vm.api("GET", "/v1/disks");
    expectOk(d);
    const luks = JSON.stringify(d.body.luks);
    expect(luks).toContain("nvme0n1p2");
  });

  it("rejects a wrong passphrase, opens with the right one, then mounts", async () => {
    const bad = await vm.api("POST", "/v1/luks/nvme0n1p2/open", { passphrase: WRONG });
    expectProblem(bad, "4xx");
    // Nothing opened: no mapping (the passphrase is checked without device-mapper, so /dev/mapper
    // may not even exist yet).
    expect(await mappings(vm)).toEqual([]);
    const ok = await vm.api("POST", "/v1/luks/nvme0n1p2/open", { passphrase: LUKS_PASSPHRASE });
    expectOk(ok);
    expect(await mappings(vm)).toEqual(["lifeboat-nvme0n1p2"]);
    // The boot-time auto-mount stopped at the locked container and resumes by itself on the unlock.
    const st = await waitForPhase(vm, ["mounted-ro"], 300_000);
    expect(st.phase).toBe("mounted-ro");
    expect(st.autoMount.state).toBe("mounted");
    const root = await mountAt(vm, "/mnt");
    expect(root?.fstype, await guestSnapshot(vm)).toBe("ext4");
    expect(root?.source).toMatch(/^\/dev\/(mapper\/|dm-)/);
    expect((await mountAt(vm, "/mnt/boot"))?.fstype).toBe("vfat");
    expect(await vm.sh("cat /mnt/etc/nixos/hardware-configuration.nix")).toContain(
      "boot.initrd.luks.devices",
    );
  });

  it("never logs the LUKS passphrase", async () => {
    await vm.collectGuestLogs();
    expect(await grepLogs(vm, LUKS_PASSPHRASE)).toEqual([]);
    expect(await grepLogs(vm, WRONG)).toEqual([]);
  });
});
