// core/chroot.ts: argv of commands that run inside the installed system through nixos-enter.
// Why the shape matters (nixpkgs' nixos-enter.sh at the pin, modelled by test/vm/guest/nixos-enter.sh):
// nixos-enter ends in `exec chroot "$root" "${command[@]}"` with the caller's PATH, so argv[0] must be
// a path inside the installed system, and tools found by name must be found by ITS PATH.
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  inTarget,
  NIXOS_ENTER,
  profileSwitchCommands,
  rebuildCommand,
  resolverLines,
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
        "",
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
    expect(TARGET_SHELL_PROGRAM).toContain("lb_r=$1; shift");
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
    const r = spawnSync("/bin/sh", ["-c", TARGET_SHELL_PROGRAM, TARGET_SHELL_NAME, "", show, ...hostile], {
      encoding: "utf8",
      env: { PATH: "/usr/bin:/bin", __ETC_PROFILE_DONE: "1" },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(hostile.map((a) => `[${a}]\n`).join(""));
    const p = spawnSync("/bin/sh", ["-c", TARGET_SHELL_PROGRAM, TARGET_SHELL_NAME, "", "/usr/bin/env"], {
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
      ["-c", TARGET_SHELL_PROGRAM, TARGET_SHELL_NAME, "", "lifeboat-no-such-tool-xyz"],
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

describe("resolverLines", () => {
  it("keeps nameserver/search/domain/options lines of resolv.conf(5), drops comments and the rest", () => {
    const text = [
      "# Generated by resolvconf",
      "nameserver 10.0.2.3",
      "nameserver fe80::1%eth0",
      "search lan example.org",
      "options edns0 trust-ad",
      "nameserver $(touch /tmp/pwned)",
      "sortlist 130.155.160.0/255.255.240.0",
      "",
    ].join("\n");
    expect(resolverLines(text)).toBe(
      [
        "nameserver 10.0.2.3",
        "nameserver fe80::1%eth0",
        "search lan example.org",
        "options edns0 trust-ad",
      ].join("\\n"),
    );
    expect(resolverLines("")).toBe("");
    expect(resolverLines("nameserver 1.1.1.1\n".repeat(100)).split("\\n")).toHaveLength(16);
    expect(resolverLines("nameserver 10.0.2.3\\c")).toBe("");
  });
});

// The program's resolver step, run for real: this host's dash, readlink, mkdir and cat in a chroot laid
// out like a NixOS system (the tools at the system profile's sw/bin), /proc and a tmpfs /run mounted
// in a private mount namespace the way the target's activation mounts them under nixos-enter
// (nixpkgs nixos/modules/tasks/filesystems.nix: boot.specialFileSystems "/run" is a tmpfs). The
// resolved chain is what nixpkgs nixos/modules/system/boot/resolved.nix makes of /etc/resolv.conf.
const canChroot =
  process.getuid?.() === 0 && spawnSync("unshare", ["-m", "true"]).status === 0 && existsSync("/bin/dash");
describe.skipIf(!canChroot)("the resolver step inside a real chroot (root, unshare)", () => {
  const STORE_ETC = "/nix/store/8xq2v0r3k8d1n5s4w6y7z9a0b1c2d3e4-etc/etc";
  const RESOLVER = "nameserver 10.0.2.3\nsearch lan";
  const RESOLVER_ARG = resolverLines(RESOLVER);
  const made: string[] = [];
  afterAll(() => {
    for (const d of made) rmSync(d, { recursive: true, force: true });
  });

  function tree(opts: { resolv: "resolved-chain" | "file" | "escape" | "run-dotdot" }): string {
    const root = mkdtempSync(join(tmpdir(), "lifeboat-target-"));
    made.push(root);
    const sw = join(root, "nix/var/nix/profiles/system/sw/bin");
    mkdirSync(sw, { recursive: true });
    const libs = new Set<string>();
    for (const tool of ["/bin/dash", "/usr/bin/readlink", "/bin/mkdir", "/bin/cat"]) {
      copyFileSync(tool, join(sw, tool.split("/").pop() ?? ""));
      chmodSync(join(sw, tool.split("/").pop() ?? ""), 0o755);
      const ldd = spawnSync("ldd", [tool], { encoding: "utf8" }).stdout;
      for (const m of ldd.matchAll(/(\/\S+\.so[.\d]*)/g)) libs.add(m[1] ?? "");
    }
    for (const lib of libs) {
      mkdirSync(join(root, dirname(lib)), { recursive: true });
      copyFileSync(lib, join(root, lib));
    }
    symlinkSync("dash", join(sw, "sh"));
    for (const d of ["etc", "proc", "run", "tmp", `.${STORE_ETC}`])
      mkdirSync(join(root, d), { recursive: true });
    writeFileSync(join(root, "etc/NIXOS"), "");
    if (opts.resolv === "resolved-chain") {
      symlinkSync("/etc/static/resolv.conf", join(root, "etc/resolv.conf"));
      symlinkSync(STORE_ETC, join(root, "etc/static"));
      symlinkSync("/run/systemd/resolve/stub-resolv.conf", join(root, `.${STORE_ETC}/resolv.conf`));
    } else if (opts.resolv === "file")
      writeFileSync(join(root, "etc/resolv.conf"), "nameserver 192.0.2.53\n");
    else if (opts.resolv === "escape")
      symlinkSync("../../../../../tmp/escaped", join(root, "etc/resolv.conf"));
    else symlinkSync("/run/../etc/passwd", join(root, "etc/resolv.conf"));
    return root;
  }

  /**
   * nixos-enter as far as the resolver goes: private mounts, /dev bound (nixos-enter.sh), /proc and a
   * tmpfs /run (what the activation mounts), chroot.
   */
  function enter(root: string, runTmpfs: boolean, command: string[]) {
    const mounts = [
      `mkdir -p "$1/dev" && mount --rbind /dev "$1/dev"`,
      `mount -t proc proc "$1/proc"`,
      runTmpfs ? `mount -t tmpfs -o mode=755 tmpfs "$1/run"` : ":",
    ];
    return spawnSync(
      "unshare",
      [
        "-m",
        "--propagation",
        "private",
        "/bin/sh",
        "-c",
        `${mounts.join(" && ")} && shift && exec chroot "$0" "$@"`,
        root,
        root,
        TARGET_SHELL,
        "-c",
        TARGET_SHELL_PROGRAM,
        TARGET_SHELL_NAME,
        RESOLVER_ARG,
        ...command,
      ],
      { encoding: "utf8", env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" } },
    );
  }

  it("a systemd-resolved chain into /run gets the rescue side's resolver, on the tmpfs only", () => {
    const root = tree({ resolv: "resolved-chain" });
    const r = enter(root, true, [`${SYSTEM_PROFILE}/sw/bin/cat`, "/etc/resolv.conf"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${RESOLVER}\n`);
    // Nothing reached the tree on disk (the tmpfs went away with the namespace).
    expect(readdirSync(join(root, "run"))).toEqual([]);
  });

  it("without a tmpfs on /run nothing is written (the disk is never touched)", () => {
    const root = tree({ resolv: "resolved-chain" });
    const r = enter(root, false, [`${SYSTEM_PROFILE}/sw/bin/cat`, "/etc/resolv.conf"]);
    expect(r.status).not.toBe(0);
    expect(readdirSync(join(root, "run"))).toEqual([]);
  });

  it("a resolv.conf that is a file with content is left alone", () => {
    const root = tree({ resolv: "file" });
    const r = enter(root, true, [`${SYSTEM_PROFILE}/sw/bin/cat`, "/etc/resolv.conf"]);
    expect(r.stdout).toBe("nameserver 192.0.2.53\n");
  });

  it("links out of the chroot or back out of /run with `..` write nothing", () => {
    for (const resolv of ["escape", "run-dotdot"] as const) {
      const root = tree({ resolv });
      const before = readFileSync(join(root, "etc/NIXOS"), "utf8");
      const r = enter(root, true, [`${SYSTEM_PROFILE}/sw/bin/cat`, "/etc/resolv.conf"]);
      expect(r.status, resolv).not.toBe(0);
      expect(existsSync(join(root, "tmp/escaped")), resolv).toBe(false);
      expect(existsSync(join(root, "etc/passwd")), resolv).toBe(false);
      expect(readFileSync(join(root, "etc/NIXOS"), "utf8")).toBe(before);
    }
  });
});
