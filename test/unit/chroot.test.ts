// core/chroot.ts: argv of commands that run inside the installed system through nixos-enter.
// Why the shape matters (nixpkgs' nixos-enter.sh at the pin, modelled by test/vm/guest/nixos-enter.sh):
// nixos-enter ends in `exec chroot "$root" "${command[@]}"` with the caller's PATH, so argv[0] must be
// a path inside the installed system, and tools found by name must be found by ITS PATH.
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  inTarget,
  NIXOS_ENTER,
  profileSwitchCommands,
  rebuildCommand,
  SYSTEM_PROFILE,
  TARGET_SHELL,
  TARGET_SHELL_NAME,
  TARGET_SHELL_PROGRAM,
} from "../../agent/src/core/chroot.js";

describe("inTarget", () => {
  it("runs nixos-enter with --root, then the target's own shell with a constant program", () => {
    expect(inTarget("/mnt", ["nixos-rebuild", "boot"])).toEqual({
      file: "nixos-enter",
      args: [
        "--root",
        "/mnt",
        "--",
        "/nix/var/nix/profiles/system/sw/bin/sh",
        "-c",
        TARGET_SHELL_PROGRAM,
        TARGET_SHELL_NAME,
        "nixos-rebuild",
        "boot",
      ],
    });
    expect(NIXOS_ENTER).toBe("nixos-enter");
    expect(TARGET_SHELL.startsWith(`${SYSTEM_PROFILE}/`)).toBe(true);
  });

  it("argv[0] after `--` is an absolute path inside the installed system, never a bare name", () => {
    const { args } = inTarget("/rescue", ["nix-env", "--version"]);
    const afterDashes = args.slice(args.indexOf("--") + 1);
    expect(afterDashes[0]).toMatch(/^\/nix\/var\/nix\/profiles\/system\//);
  });

  it('the program sets the system profile\'s PATH, sources /etc/profile when readable, and execs "$@"', () => {
    expect(TARGET_SHELL_PROGRAM).toContain(`PATH=/run/wrappers/bin:${SYSTEM_PROFILE}/sw/bin`);
    expect(TARGET_SHELL_PROGRAM).toContain("if [ -r /etc/profile ]; then . /etc/profile; fi");
    expect(TARGET_SHELL_PROGRAM.endsWith('exec "$@"')).toBe(true);
    expect(TARGET_SHELL_PROGRAM).toContain("unset __ETC_PROFILE_DONE __NIXOS_SET_ENVIRONMENT_DONE");
  });

  it("refuses a relative or dotted root, an empty command and NUL bytes", () => {
    expect(() => inTarget("mnt", ["x"])).toThrow(/absolute/);
    expect(() => inTarget("/mnt/../etc", ["x"])).toThrow(/absolute/);
    expect(() => inTarget("/mnt", [])).toThrow(/empty/);
    expect(() => inTarget("/mnt", [""])).toThrow(/empty/);
    expect(() => inTarget("/mnt", ["x", "a\0b"])).toThrow(/NUL/);
  });

  // The program really is POSIX sh: run it with this host's /bin/sh (dash on Debian) and check that
  // arguments arrive verbatim (no interpolation of `$(…)`, quotes or spaces) and that PATH is set.
  it("passes arguments through verbatim under a real POSIX sh", () => {
    const dir = mkdtempSync(join(tmpdir(), "lifeboat-chroot-"));
    const show = join(dir, "show");
    writeFileSync(show, '#!/bin/sh\nfor a in "$@"; do printf \'[%s]\\n\' "$a"; done\n', { mode: 0o755 });
    const hostile = ["a b", "$(touch /tmp/pwned)", "'\"", "*", "--flake", "/etc/nixos#atlas"];
    const r = spawnSync("/bin/sh", ["-c", TARGET_SHELL_PROGRAM, TARGET_SHELL_NAME, show, ...hostile], {
      encoding: "utf8",
      env: { PATH: "/usr/bin:/bin", __ETC_PROFILE_DONE: "1" },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(hostile.map((a) => `[${a}]\n`).join(""));
    const p = spawnSync("/bin/sh", ["-c", TARGET_SHELL_PROGRAM, TARGET_SHELL_NAME, "/usr/bin/env"], {
      encoding: "utf8",
      env: { PATH: "/rescue/only/bin" },
    });
    // /etc/profile of this host (if any) may replace PATH, but never with the caller's PATH.
    expect(p.stdout).toMatch(/^PATH=/m);
    expect(p.stdout).not.toContain("/rescue/only/bin");
  });

  it("a missing command fails with 127 from the target's shell, not silently", () => {
    const r = spawnSync(
      "/bin/sh",
      ["-c", TARGET_SHELL_PROGRAM, TARGET_SHELL_NAME, "lifeboat-no-such-tool-xyz"],
      { encoding: "utf8", env: { PATH: "/usr/bin:/bin" } },
    );
    expect(r.status).toBe(127);
  });
});

describe("rebuildCommand", () => {
  it("nixos-rebuild <action> --option sandbox false [--flake f] [extra…]", () => {
    expect(rebuildCommand({ action: "boot" })).toEqual([
      "nixos-rebuild",
      "boot",
      "--option",
      "sandbox",
      "false",
    ]);
    expect(
      rebuildCommand({ action: "build", flake: "/etc/nixos#atlas", extraArgs: ["--show-trace"] }),
    ).toEqual([
      "nixos-rebuild",
      "build",
      "--option",
      "sandbox",
      "false",
      "--flake",
      "/etc/nixos#atlas",
      "--show-trace",
    ]);
  });
});

describe("profileSwitchCommands", () => {
  it("nix-env on the system profile, then that profile's switch-to-configuration boot", () => {
    expect(profileSwitchCommands(41)).toEqual({
      switchProfile: ["nix-env", "-p", "/nix/var/nix/profiles/system", "--switch-generation", "41"],
      installBoot: ["/nix/var/nix/profiles/system/bin/switch-to-configuration", "boot"],
    });
  });
  it("refuses non-positive or non-integer generations", () => {
    for (const g of [0, -1, 1.5, Number.NaN, 2 ** 60]) expect(() => profileSwitchCommands(g)).toThrow();
  });
});
