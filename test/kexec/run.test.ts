/**
 * iso/kexec/run.sh, the kexec tarball's run script, on this machine with a fake `kexec` that records
 * its arguments (and keeps the initrd it was given), in an unpacked-tarball directory with stand-in
 * kernel and initrd files. What the running system offers (kexec support, sysctls, lockdown, memory,
 * DNS, root's keys) comes from a fake root (LIFEBOAT_KEXEC_SYSROOT); the network is this machine's
 * real `ip -j` output. Checked: the network capture, the key carry-over, the fresh token (printed,
 * written for the caller, carried in), the extra initramfs (extracted with GNU cpio), the kexec calls,
 * and every refusal path: exit 1, a clear message, nothing changed, kexec never called.
 */
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { registerSecret } from "../helpers/secrets.js";
import { have, repo, tempDirs } from "./shell.js";

const RUN = join(repo, "iso", "kexec", "run.sh");
const isRoot = process.getuid?.() === 0;
const tempDir = tempDirs("lifeboat-kexec-test-");

const KERNEL = Buffer.from("MZ stand-in bzImage for the kexec tests\n");
// Odd length, as a compressed NixOS initrd usually is: the carry archive must start 4-aligned
// (./initramfs-boot.test.ts boots a real kernel with it).
const INITRD = Buffer.from(
  "\x1f\x8b stand-in initrd: the rescue system's own archive comes first!\n",
  "latin1",
);
const CMDLINE =
  "init=/nix/store/4w0k8m6cl2m1dcf3n3lgdv0ml7xv5fxb-nixos-system-lifeboat-25.11/init loglevel=4";
// run.sh asks for kexec_file_load first (--kexec-syscall-auto) on kernels from 6.1 on.
const release = /^(\d+)\.(\d+)/.exec(spawnSync("uname", ["-r"], { encoding: "utf8" }).stdout);
const syscallAuto =
  release !== null && (Number(release[1]) > 6 || (Number(release[1]) === 6 && Number(release[2]) >= 1));
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKexecTestKeyOnlyForTheseTests operator@laptop";

interface Rig {
  dir: string;
  tar: string;
  sys: string;
  log: string;
  tmp: string;
}

/** An unpacked tarball (run, bzImage, initrd, cmdline, a recording kexec) and a fake system root. */
function rig(): Rig {
  const dir = tempDir();
  chmodSync(dir, 0o755);
  const tar = join(dir, "lifeboat-kexec");
  const sys = join(dir, "sysroot");
  const tmp = join(dir, "tmp");
  const log = join(dir, "kexec.log");
  for (const d of [
    tar,
    tmp,
    join(sys, "sys/kernel"),
    join(sys, "proc/sys/kernel"),
    join(sys, "etc"),
    join(sys, "root/.ssh"),
  ])
    mkdirSync(d, { recursive: true });
  copyFileSync(RUN, join(tar, "run"));
  copyFileSync(join(repo, "iso", "carry", "lib.sh"), join(tar, "carry-lib.sh"));
  chmodSync(join(tar, "run"), 0o755);
  writeFileSync(join(tar, "bzImage"), KERNEL);
  writeFileSync(join(tar, "initrd"), INITRD);
  writeFileSync(join(tar, "cmdline"), `${CMDLINE}\n`);
  // The fake kexec (the tarball's bundled one): one line per call; keeps the initrd it was given.
  writeFileSync(
    join(tar, "kexec"),
    [
      "#!/bin/bash",
      `printf '%s\\n' "$*" >>${log}`,
      `for a in "$@"; do case $a in --initrd=*) cp "\${a#--initrd=}" ${dir}/loaded-initrd ;; esac; done`,
      'if [ "$1" = --load ]; then exit "${FAKE_KEXEC_LOAD_RC:-0}"; fi',
      "exit 0",
      "",
    ].join("\n"),
    { mode: 0o755 },
  );
  writeFileSync(join(sys, "sys/kernel/kexec_loaded"), "0\n");
  writeFileSync(join(sys, "proc/sys/kernel/kexec_load_disabled"), "0\n");
  writeFileSync(join(sys, "proc/meminfo"), "MemTotal:        4030464 kB\nMemFree:         1000000 kB\n");
  writeFileSync(
    join(sys, "etc/resolv.conf"),
    "# test\nsearch example.org\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n",
  );
  writeFileSync(join(sys, "root/.ssh/authorized_keys"), `# root's keys\n${KEY}\n`);
  return { dir, tar, sys, log, tmp };
}

function run(r: Rig, args: string[] = ["--foreground"], env: Record<string, string> = {}) {
  const res = spawnSync(join(r.tar, "run"), args, {
    encoding: "utf8",
    env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LIFEBOAT_KEXEC_SYSROOT: r.sys, TMPDIR: r.tmp, ...env },
  });
  const token = /API token: (\S+)/.exec(res.stdout)?.[1];
  if (token) registerSecret(token);
  return { ...res, token };
}
const kexecCalls = (r: Rig) =>
  existsSync(r.log) ? readFileSync(r.log, "utf8").split("\n").filter(Boolean) : [];

/** The entries of the extra initramfs (after the rescue initrd), extracted with GNU cpio. */
function carried(r: Rig): Record<string, string> {
  const all = readFileSync(join(r.dir, "loaded-initrd"));
  expect(all.subarray(0, INITRD.length).equals(INITRD)).toBe(true);
  // zero bytes up to a multiple of 4, then the archive
  const start = Math.ceil(INITRD.length / 4) * 4;
  expect(start).toBeGreaterThan(INITRD.length);
  expect([...all.subarray(INITRD.length, start)].every((b) => b === 0)).toBe(true);
  expect(all.subarray(start, start + 6).toString("latin1")).toBe("070701");
  const out = join(r.dir, "extract");
  mkdirSync(out);
  const x = spawnSync("cpio", ["-idm", "--quiet", "--no-absolute-filenames"], {
    cwd: out,
    input: all.subarray(start),
  });
  expect(x.status, String(x.stderr)).toBe(0);
  const files: Record<string, string> = {};
  for (const f of readdirSync(join(out, "lifeboat-carry")))
    files[f] = readFileSync(join(out, "lifeboat-carry", f), "utf8");
  return files;
}

describe.skipIf(!isRoot || !have("cpio") || !have("ip"))(
  "kexec run script (fake kexec, fake system root)",
  () => {
    it("captures network, DNS and root's keys, makes a fresh token, loads and executes the rescue kernel", () => {
      const r = rig();
      const res = run(r);
      expect(res.status, res.stderr).toBe(0);
      const calls = kexecCalls(r);
      expect(calls).toHaveLength(2);
      expect(calls[1]).toBe("-e");
      const [load] = kexecCalls(r);
      expect(load).toMatch(
        new RegExp(
          `^--load ${r.tar}/bzImage ${syscallAuto ? "--kexec-syscall-auto " : ""}--initrd=${r.tmp}/lifeboat-kexec\\.\\w+/initrd --command-line=`,
        ),
      );
      expect(load?.endsWith(`--command-line=${CMDLINE} lifeboat.kexec=1`)).toBe(true);
      // The token: printed, written for the caller (0600), and carried into the rescue system.
      expect(res.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(readFileSync(join(r.tar, "token"), "utf8")).toBe(`${res.token}\n`);
      expect(
        (spawnSync("stat", ["-c", "%a", join(r.tar, "token")], { encoding: "utf8" }).stdout ?? "").trim(),
      ).toBe("600");
      const c = carried(r);
      expect(Object.keys(c).sort()).toEqual([
        "addresses.json",
        "authorized_keys",
        "nameservers",
        "routes4.json",
        "routes6.json",
        "token",
      ]);
      expect(c.token).toBe(`${res.token}\n`);
      expect(c.authorized_keys).toContain(KEY);
      expect(c.nameservers).toBe("192.0.2.53\n2001:db8::53\n");
      // The network capture is this machine's own `ip -j` view.
      const live = JSON.parse(spawnSync("ip", ["-j", "address", "show"], { encoding: "utf8" }).stdout) as {
        ifname: string;
      }[];
      expect((JSON.parse(c["addresses.json"] ?? "[]") as { ifname: string }[]).map((i) => i.ifname)).toEqual(
        live.map((i) => i.ifname),
      );
      expect(JSON.parse(c["routes4.json"] ?? "null")).toEqual(
        JSON.parse(
          spawnSync("ip", ["-j", "-4", "route", "show", "table", "main"], { encoding: "utf8" }).stdout,
        ),
      );
      expect(res.stdout).toContain(
        "Carried over: addresses and routes of every interface, 2 DNS server(s), 1 SSH key(s) of root",
      );
      // Its scratch directory is gone once the kernel holds the image.
      expect(readdirSync(r.tmp)).toEqual([]);
    });

    it("takes systemd-resolved's upstream servers instead of its 127.0.0.53 stub; no keys, no key file", () => {
      const r = rig();
      writeFileSync(join(r.sys, "etc/resolv.conf"), "nameserver 127.0.0.53\noptions edns0 trust-ad\n");
      mkdirSync(join(r.sys, "run/systemd/resolve"), { recursive: true });
      writeFileSync(join(r.sys, "run/systemd/resolve/resolv.conf"), "nameserver 198.51.100.1\n");
      rmSync(join(r.sys, "root/.ssh/authorized_keys"));
      const res = run(r);
      expect(res.status, res.stderr).toBe(0);
      const c = carried(r);
      expect(c.nameservers).toBe("198.51.100.1\n");
      expect(c.authorized_keys).toBeUndefined();
      expect(res.stdout).toContain("0 SSH key(s) of root");
    });

    it("--dry-run prints the token and calls no kexec", () => {
      const r = rig();
      const res = run(r, ["--dry-run"]);
      expect(res.status, res.stderr).toBe(0);
      expect(res.stdout).toContain("(dry run: kexec not called)");
      expect(kexecCalls(r)).toEqual([]);
    });

    const refusals: [string, (r: Rig) => void, RegExp, Record<string, string>?][] = [
      ["no kexec in the kernel", (r) => rmSync(join(r.sys, "sys/kernel/kexec_loaded")), /no kexec support/],
      [
        "kexec disabled by sysctl",
        (r) => writeFileSync(join(r.sys, "proc/sys/kernel/kexec_load_disabled"), "1\n"),
        /kexec_load_disabled = 1/,
      ],
      [
        "kernel lockdown",
        (r) => {
          mkdirSync(join(r.sys, "sys/kernel/security"), { recursive: true });
          writeFileSync(join(r.sys, "sys/kernel/security/lockdown"), "none [integrity] confidentiality\n");
        },
        /locked down/,
      ],
      ["no kexec binary", (r) => rmSync(join(r.tar, "kexec")), /no kexec binary/, { PATH: "/usr/bin:/bin" }],
      ["a file of the tarball missing", (r) => rmSync(join(r.tar, "initrd")), /missing .*\/initrd/],
      [
        "not enough memory",
        (r) => writeFileSync(join(r.sys, "proc/meminfo"), "MemTotal:          65536 kB\n"),
        /not enough memory/,
      ],
      ["unknown argument", () => {}, /unknown argument: --bogus/],
    ];
    it.each(refusals)("refuses cleanly: %s", (_what, breakIt, message, env) => {
      const r = rig();
      breakIt(r);
      const res = run(r, _what === "unknown argument" ? ["--bogus"] : ["--foreground"], env ?? {});
      expect(res.status).toBe(1);
      expect(res.stderr).toMatch(message);
      expect(res.stderr).toContain("nothing was changed");
      expect(kexecCalls(r)).toEqual([]);
      expect(existsSync(join(r.tar, "token"))).toBe(false);
      expect(readdirSync(r.tmp)).toEqual([]);
    });

    it("refuses cleanly when kexec --load fails: unloads, no token left, nothing executed", () => {
      const r = rig();
      const res = run(r, ["--foreground"], { FAKE_KEXEC_LOAD_RC: "1" });
      expect(res.status).toBe(1);
      expect(res.stderr).toMatch(/kexec --load failed/);
      expect(res.stderr).toContain("nothing was changed");
      const calls = kexecCalls(r);
      expect(calls[0]).toMatch(/^--load /);
      expect(calls.slice(1)).toEqual(["--unload"]);
      expect(existsSync(join(r.tar, "token"))).toBe(false);
      expect(readdirSync(r.tmp)).toEqual([]);
    });

    it.skipIf(!have("setpriv"))("refuses cleanly when not run as root", () => {
      const r = rig();
      spawnSync("chmod", ["-R", "a+rX", r.dir]);
      const res = spawnSync(
        "setpriv",
        ["--reuid=65534", "--regid=65534", "--clear-groups", join(r.tar, "run")],
        {
          encoding: "utf8",
          env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LIFEBOAT_KEXEC_SYSROOT: r.sys, TMPDIR: r.tmp },
        },
      );
      expect(res.status).toBe(1);
      expect(res.stderr).toMatch(/run this as root/);
      expect(kexecCalls(r)).toEqual([]);
    });
  },
);

// This machine's own kernel, without a fake root: the refusal a real run would give here.
const hostHasKexec = existsSync("/sys/kernel/kexec_loaded");
describe.skipIf(!isRoot || hostHasKexec)("kexec run script on this machine's real kernel", () => {
  it("refuses: this kernel has no kexec support, nothing changed", () => {
    const r = rig();
    const res = spawnSync(join(r.tar, "run"), ["--foreground"], {
      encoding: "utf8",
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", TMPDIR: r.tmp },
    });
    expect(res.status).toBe(1);
    expect(res.stderr).toMatch(/no kexec support/);
    expect(kexecCalls(r)).toEqual([]);
    expect(existsSync(join(r.tar, "token"))).toBe(false);
  });
});
