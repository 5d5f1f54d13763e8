// Rebuild and profile-switch jobs run the INSTALLED system's tools through nixos-enter (core/chroot.ts):
// the steps the job runs, checked on the recording fake. The real behaviour of nixos-enter around
// those argv (namespaces, binds, activation, chroot, 127 for a bare name) is exercised in the QEMU
// lab: test/vm/11-nixos-enter.test.ts with test/vm/guest/nixos-enter.sh.
import { describe, expect, it } from "vitest";
import { inTarget } from "../../agent/src/core/chroot.js";
import { type Rig, type RigOptions, rig } from "./harness.js";

const WHO = "token:test 127.0.0.1";

async function mountedRw(opts: RigOptions = {}): Promise<Rig> {
  const r = await rig("single", opts);
  await r.mounts.mount({ readonly: false });
  return r;
}

describe("jobs that run inside the installed system", () => {
  it("profile switch: the target's nix-env, then the switched profile's switch-to-configuration", async () => {
    const r = await mountedRw({
      fake: { spawnScript: (file) => (file === "nixos-enter" ? { lines: [], exitCode: 0 } : undefined) },
    });
    const view = await r.services.boot.switchProfile(2, WHO);
    expect(view.steps.map((s) => s.command)).toEqual([
      (({ file, args }) => [file, ...args])(
        inTarget("/mnt", ["nix-env", "-p", "/nix/var/nix/profiles/system", "--switch-generation", "2"]),
      ),
      (({ file, args }) => [file, ...args])(
        inTarget("/mnt", ["/nix/var/nix/profiles/system/bin/switch-to-configuration", "boot"]),
      ),
    ]);
    expect(await r.services.jobs.wait(view.id)).toMatchObject({ state: "succeeded" });
    const entered = r.sys.calls.filter((c) => c.file === "nixos-enter").map((c) => [c.file, ...c.args]);
    expect(entered).toEqual(view.steps.map((s) => s.command));
  });

  it("rebuild: nothing after `--` is a bare command name for the rescue side's PATH", async () => {
    const r = await mountedRw();
    const view = await r.services.rebuild.start({ action: "build" }, WHO);
    const cmd = view.steps[0]?.command ?? [];
    expect(cmd[0]).toBe("nixos-enter");
    expect(cmd[cmd.indexOf("--") + 1]).toMatch(/^\/nix\/var\/nix\/profiles\/system\/sw\/bin\//);
    await r.services.jobs.wait(view.id);
  });
});
