// Issue 11 on real OpenZFS: the rebuild and profile-switch jobs run the INSTALLED system's tools the way
// the real nixos-enter makes them reachable. The rescue side gets guest/nixos-enter.sh, a stand-in that
// does what nixpkgs' nixos-enter.sh does (private namespaces, /dev and /sys binds, resolv.conf bind,
// the target's activation, `exec chroot` with the caller's environment); the installed system gets
// guest/nixos-target-tools.sh's stand-ins of nixos-rebuild, nix-env, activate and
// switch-to-configuration, which exist only inside it and record their argv and environment.
// A bare `nixos-rebuild` (what the agent ran before core/chroot.ts) is not found there: 127.
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mounts } from "./guest-state.js";
import { boot, ensureDiskSet, GUEST_DIR, type Vm } from "./lab.js";
import { expectOk, finish, waitForAutoMount } from "./scenario.js";

const NAMESERVER = "nameserver 10.0.2.3";

async function jobLog(vm: Vm, id: string): Promise<string> {
  const res = await fetch(`${vm.apiUrl}/v1/jobs/${id}/log`, {
    headers: { authorization: `Bearer ${vm.token}` },
  });
  return res.text();
}

/** The stand-ins' record lines of one tool, from the job log. */
function records(log: string, tool: string): string[] {
  return log.split("\n").filter((l) => l.includes(`lab-standin ${tool}: `));
}

describe("scenario 11: rebuild and profile switch inside the installed system (issue 11)", () => {
  let vm: Vm;

  beforeAll(async () => {
    const set = await ensureDiskSet("single");
    vm = await boot({ name: "s11-nixos-enter", diskSet: set });
    expect((await waitForAutoMount(vm, "s11")).phase).toBe("mounted-ro");
    // The rescue side: the stand-in nixos-enter on the agent's PATH, and a resolver to carry over.
    await vm.sh("cat >/usr/local/sbin/nixos-enter && chmod 755 /usr/local/sbin/nixos-enter", {
      input: readFileSync(path.join(GUEST_DIR, "nixos-enter.sh"), "utf8"),
    });
    await vm.sh(`printf '%s\\n' '# rescue side' '${NAMESERVER}' >/etc/resolv.conf`);
    expectOk(await vm.api("POST", "/v1/mount", { readonly: false }));
    // The installed system: its own nixos-rebuild, nix-env, activate, switch-to-configuration.
    await vm.sh("bash -s /mnt", {
      input: readFileSync(path.join(GUEST_DIR, "nixos-target-tools.sh"), "utf8"),
    });
  }, 3_600_000);
  afterAll(() => finish(vm));

  it("the stand-in behaves like nixos-enter: a bare name from the rescue side's PATH exits 127", async () => {
    const bare = await vm.run("nixos-enter --root /mnt -- nixos-rebuild boot --option sandbox false");
    expect(bare.rc, `${bare.stdout}${bare.stderr}`).toBe(127);
    expect(bare.stderr).toMatch(/chroot: failed to run command .nixos-rebuild.: No such file or directory/);
    // -c is `$system/sw/bin/bash -c`, not a login shell: same PATH, same result.
    expect((await vm.run("nixos-enter --root /mnt -c 'nixos-rebuild boot'")).rc).toBe(127);
    // Not a NixOS tree: 126, nothing bound.
    expect(
      (await vm.run("mkdir -p /tmp/not-nixos && nixos-enter --root /tmp/not-nixos -- /bin/true")).rc,
    ).toBe(126);
    expect(await mounts(vm, "/mnt/dev")).toEqual([]);
  });

  it("rebuild job: the installed system's nixos-rebuild runs, sandbox off, its PATH, the rescue DNS", async () => {
    const r = await vm.api("POST", "/v1/rebuild", { action: "boot", flake: "/etc/nixos#atlas" });
    expect(r.status, r.text).toBe(202);
    const log = await jobLog(vm, r.body.job.id);
    expect(log).toMatch(/event: end\ndata: \{"state":"succeeded","exitCode":0\}/);
    const [rebuild] = records(log, "nixos-rebuild");
    expect(rebuild, log).toBeDefined();
    expect(rebuild).toContain("argv= [boot] [--option] [sandbox] [false] [--flake] [/etc/nixos#atlas];");
    // Resolved inside the installed system with its login environment, not the rescue side's PATH.
    expect(rebuild).toMatch(/PATH=\/run\/wrappers\/bin:\/nix\/var\/nix\/profiles\/system\/sw\/bin;/);
    expect(rebuild).toContain("NIXOS_ENTER_REEXEC=1;");
    // nixos-enter bound the rescue side's resolv.conf over the installed system's.
    expect(rebuild).toContain(`resolv=${NAMESERVER} `);
    // The target's activation ran first (IN_NIXOS_ENTER=1, LOCALE_ARCHIVE of the system profile).
    const [activate] = records(log, "activate");
    expect(activate).toContain("IN_NIXOS_ENTER=1;");
    expect(activate).toContain("LOCALE_ARCHIVE=/nix/var/nix/profiles/system/sw/lib/locale/locale-archive;");
    expect(log).toContain("building the system configuration...");
    // nixos-enter's binds lived in its own mount namespace: nothing is left on the rescue side, and
    // the tmpfs /run of the activation never reached the installed system's disk.
    for (const m of ["/mnt/dev", "/mnt/sys", "/mnt/proc", "/mnt/run"])
      expect(await mounts(vm, m)).toEqual([]);
    expect((await vm.run("test -e /mnt/run/current-system")).rc).toBe(1);
  });

  it("rebuild on a systemd-resolved system: the resolver chain into /run still gets the rescue DNS", async () => {
    // nixpkgs nixos/modules/system/boot/resolved.nix: /etc/resolv.conf -> /etc/static/resolv.conf ->
    // (the etc derivation) -> /run/systemd/resolve/stub-resolv.conf. nixos-enter follows one link from
    // the rescue side, lands on an absolute link into a store the rescue side does not have, and
    // gives up ("failed to set up resolv.conf"); inside, the chain ends in the activation's tmpfs /run.
    const etc = (await vm.sh("readlink /mnt/etc/static")).trim();
    expect(etc).toMatch(/^\/nix\/store\/[0-9a-z]{32}-etc[^/]*\/etc$/);
    await vm.sh(
      [
        `ln -sfn /run/systemd/resolve/stub-resolv.conf /mnt${etc}/resolv.conf`,
        "rm -f /mnt/etc/resolv.conf && ln -s /etc/static/resolv.conf /mnt/etc/resolv.conf",
      ].join(" && "),
    );
    const r = await vm.api("POST", "/v1/rebuild", { action: "boot", flake: "/etc/nixos#atlas" });
    expect(r.status, r.text).toBe(202);
    const log = await jobLog(vm, r.body.job.id);
    expect(log).toMatch(/event: end\ndata: \{"state":"succeeded","exitCode":0\}/);
    expect(log).toContain("failed to set up resolv.conf");
    const [rebuild] = records(log, "nixos-rebuild");
    expect(rebuild, log).toContain(`resolv=${NAMESERVER} `);
    // Written on the activation's tmpfs only: the installed system's /run on disk stays as it was.
    expect((await vm.run("test -e /mnt/run/systemd/resolve/stub-resolv.conf")).rc).toBe(1);
    expect(await mounts(vm, "/mnt/run")).toEqual([]);
  });

  it("profile switch job: the installed system's nix-env, then the switched generation's switch-to-configuration", async () => {
    const before = (await vm.sh("readlink /mnt/nix/var/nix/profiles/system")).trim();
    expect(before).toBe("system-3-link");
    const r = await vm.api("POST", "/v1/boot/default", { generation: 2, mode: "profile" });
    expect(r.status, r.text).toBe(202);
    const log = await jobLog(vm, r.body.job.id);
    expect(log).toMatch(/event: end\ndata: \{"state":"succeeded","exitCode":0\}/);
    const [nixEnv] = records(log, "nix-env");
    expect(nixEnv).toContain("argv= [-p] [/nix/var/nix/profiles/system] [--switch-generation] [2];");
    expect(log).toContain("switching profile from version 3 to 2");
    const gen2 = (await vm.sh("readlink /mnt/nix/var/nix/profiles/system-2-link")).trim();
    const [stc] = records(log, `switch-to-configuration(${gen2})`);
    expect(stc, log).toContain("argv= [boot];");
    expect((await vm.sh("readlink /mnt/nix/var/nix/profiles/system")).trim()).toBe("system-2-link");
    // The record file lives inside the installed system only.
    expect(await vm.sh("grep -c lab-standin /mnt/tmp/lifeboat-lab.log")).not.toBe("0\n");
    expect((await vm.run("test -e /tmp/lifeboat-lab.log")).rc).toBe(1);
  });
});
