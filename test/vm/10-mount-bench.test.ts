// Benchmark (prints figures, asserts none): on the seed's server, the time the agent takes to
// import and mount the installed system, next to the same zpool/mount commands typed as a shell
// script in the same guest, in the same run. Written to bench/results-vm.json as well.
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mounts, pools } from "./guest-state.js";
import { boot, ensureDiskSet, recordTiming, type Vm } from "./lab.js";
import { expectOk, finish, waitForAutoMount } from "./scenario.js";

const SCRIPT = [
  "zpool import -N -R /mnt -o readonly=on nvmepool",
  "mount -t zfs -o ro nvmepool/root /mnt",
  "mount -t zfs -o ro nvmepool/nix /mnt/nix",
  "mount -t zfs -o ro nvmepool/home /mnt/home",
  "mount -t zfs -o ro nvmepool/var /mnt/var",
  "mount -t vfat -o ro,fmask=0022,dmask=0022 /dev/nvme0n1p1 /mnt/boot",
].join(" && ");

describe("bench: agent mount vs the same commands as a shell script (one run, same guest)", () => {
  let vm: Vm;
  beforeAll(async () => {
    vm = await boot({ name: "s10-bench", diskSet: await ensureDiskSet("single") });
    await waitForAutoMount(vm, "s10");
    // Start both from the same state: exported, the pool's hostid already adopted.
    expectOk(await vm.api("POST", "/v1/unmount", { export: true }));
  });
  afterAll(() => finish(vm));

  it("measures both", async () => {
    const shell = await vm.run(
      `s=$(date +%s%N); ${SCRIPT}; rc=$?; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); exit $rc`,
    );
    expect(shell.rc, shell.stderr).toBe(0);
    const shellMs = Number(shell.stdout.trim().split("\n").pop());
    expect((await mounts(vm, "/mnt")).length).toBe(5);
    await vm.sh("umount -R /mnt && zpool export nvmepool");
    expect(await pools(vm)).toEqual({});

    const t0 = performance.now();
    const r = await vm.api("POST", "/v1/mount", { readonly: true });
    const agentMs = performance.now() - t0;
    expectOk(r);
    expect((await mounts(vm, "/mnt")).length).toBe(5);

    recordTiming("s10: shell script import+mount (guest clock)", shellMs);
    recordTiming("s10: POST /v1/mount import+mount (host clock, incl. detection and the HTTP hop)", agentMs);
    const ratio = agentMs / shellMs;
    process.stdout.write(
      `\nVM mount: agent ${agentMs.toFixed(0)} ms vs shell ${shellMs} ms → ${ratio.toFixed(2)}× (one run, TCG)\n`,
    );
    await writeFile(
      path.join(import.meta.dirname, "..", "..", "bench", "results-vm.json"),
      `${JSON.stringify({ at: new Date().toISOString(), agentMountMs: Math.round(agentMs), shellMountMs: shellMs, ratio: Number(ratio.toFixed(2)) }, null, 2)}\n`,
    );
  });
});
