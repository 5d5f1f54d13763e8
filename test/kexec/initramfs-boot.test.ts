/**
 * The carry-over archive against a REAL Linux kernel: does `lifeboat-carry/` arrive in the
 * initramfs when it follows the rescue system's initrd?
 *
 * The kernel (init/initramfs.c, unpack_to_rootfs) reads the initrd as a sequence of members: a
 * compressed member anywhere, an uncompressed "070701" (newc) archive only at an offset that is a
 * multiple of 4 counted from the start of the previous compressed member; zero bytes between members
 * are skipped. A NixOS initrd is compressed and of any length, so a carry archive appended right
 * after it is refused ("invalid magic at start of compressed archive") and the rescue system boots
 * without its token, keys and network configuration.
 *
 * Here the rescue initrd is a tiny busybox system made in the test, gzip-compressed and of odd
 * length, whose /init prints what it finds under /lifeboat-carry to the serial console and powers
 * off. QEMU (TCG) boots a real kernel with it twice:
 *  - with the carry archive appended as systemd-boot appends a second initrd (no padding): lost,
 *    with the kernel's own message;
 *  - with the initrd that iso/kexec/run.sh hands to `kexec --load` (the real script, a recording
 *    kexec, a fake system root as in ./run.test.ts): the token run.sh printed arrives. The same
 *    bytes as the build's padding (`truncate --size=%4`, ESP entry and tarball) followed by the
 *    archive, which is what systemd-boot loads.
 *
 * Kernel: $LIFEBOAT_TEST_KERNEL, the VM lab guest's, /var/cache/lifeboat-kernel/vmlinuz (.ci/run
 * extracts Debian's there) or a readable /boot/vmlinuz-*. Skipped with the reason when a kernel,
 * qemu-system-x86_64, a static busybox, cpio, ip or root is missing.
 */
import { spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { registerSecret } from "../helpers/secrets.js";
import { have, repo, tempDirs } from "./shell.js";

const RUN = join(repo, "iso", "kexec", "run.sh");
const LIB = join(repo, "iso", "carry", "lib.sh");
const tempDir = tempDirs("lifeboat-initramfs-boot-");
const BOOT_TIMEOUT_MS = 150_000;

function readable(f: string): boolean {
  try {
    closeSync(openSync(f, "r"));
    return true;
  } catch {
    return false;
  }
}
function findKernel(): string | null {
  const candidates = [process.env.LIFEBOAT_TEST_KERNEL ?? ""];
  const lab = process.env.LIFEBOAT_VM_CACHE ?? "/var/cache/lifeboat-vm";
  if (existsSync(lab))
    for (const d of readdirSync(lab)
      .filter((d) => d.startsWith("guest-"))
      .sort())
      candidates.push(join(lab, d, "vmlinuz"));
  candidates.push("/var/cache/lifeboat-kernel/vmlinuz");
  if (existsSync("/boot"))
    for (const f of readdirSync("/boot")
      .filter((f) => f.startsWith("vmlinuz-"))
      .sort())
      candidates.push(join("/boot", f));
  return candidates.find((f) => f !== "" && readable(f)) ?? null;
}

/** A statically linked ELF has no PT_INTERP program header. */
function isStaticElf(f: string): boolean {
  if (!readable(f)) return false;
  const fd = openSync(f, "r");
  try {
    const h = Buffer.alloc(64);
    readSync(fd, h, 0, 64, 0);
    if (h.toString("latin1", 0, 4) !== "\x7fELF" || h[4] !== 2) return false;
    const phoff = Number(h.readBigUInt64LE(32));
    const phentsize = h.readUInt16LE(54);
    const phnum = h.readUInt16LE(56);
    const ph = Buffer.alloc(phentsize * phnum);
    readSync(fd, ph, 0, ph.length, phoff);
    for (let i = 0; i < phnum; i++) if (ph.readUInt32LE(i * phentsize) === 3) return false;
    return true;
  } finally {
    closeSync(fd);
  }
}
const busybox = ["/bin/busybox", "/usr/bin/busybox"].find(isStaticElf) ?? null;
const kernel = findKernel();
const isRoot = process.getuid?.() === 0;
const reason = !isRoot
  ? "not root (run.sh refuses)"
  : !have("qemu-system-x86_64")
    ? "qemu-system-x86_64 not installed"
    : !kernel
      ? "no Linux kernel (set LIFEBOAT_TEST_KERNEL or see .ci/run)"
      : !busybox
        ? "no static busybox (apt-get install busybox-static)"
        : !have("cpio") || !have("ip")
          ? "cpio or ip not installed"
          : null;
if (reason) console.warn(`[test/kexec/initramfs-boot] skipping: ${reason}`);

const INIT = `#!/bin/busybox sh
/bin/busybox mkdir -p /dev /proc
/bin/busybox mount -t devtmpfs dev /dev
exec >/dev/console 2>&1
if [ -f /lifeboat-carry/token ]; then
  echo "LIFEBOAT-CARRIED token=$(/bin/busybox cat /lifeboat-carry/token)"
  echo "LIFEBOAT-CARRIED files=$(/bin/busybox ls /lifeboat-carry | /bin/busybox tr '\\n' ' ')"
else
  echo "LIFEBOAT-NOT-CARRIED"
fi
/bin/busybox poweroff -f
`;

/** The stand-in rescue initrd: busybox + /init as newc, gzip-compressed, made odd in length. */
function rescueInitrd(dir: string): Buffer {
  const root = join(dir, "rescue-root");
  mkdirSync(join(root, "bin"), { recursive: true });
  copyFileSync(busybox as string, join(root, "bin", "busybox"));
  writeFileSync(join(root, "init"), INIT);
  chmodSync(join(root, "init"), 0o755);
  for (let filler = 1; filler < 64; filler++) {
    writeFileSync(join(root, "filler"), "x".repeat(filler));
    const list = "init\nbin\nbin/busybox\nfiller\n";
    const c = spawnSync("cpio", ["-o", "-H", "newc", "--quiet", "-R", "0:0"], {
      cwd: root,
      input: list,
      maxBuffer: 64 * 1024 * 1024,
    });
    if (c.status !== 0) throw new Error(`cpio: ${c.stderr}`);
    const gz = gzipSync(c.stdout, { level: 9 });
    if (gz.length % 2 === 1) return gz;
  }
  throw new Error("could not make an odd-length initrd");
}

/** Boots the kernel with `initrd`; resolves with the serial console output. */
function boot(dir: string, name: string, initrd: Buffer, cmdline: string): Promise<string> {
  const file = join(dir, `${name}.img`);
  writeFileSync(file, initrd);
  return new Promise((done, fail) => {
    const q = spawn(
      "qemu-system-x86_64",
      [
        ["-accel", "tcg"],
        ["-m", "256", "-smp", "1"],
        ["-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot"],
        ["-kernel", kernel as string, "-initrd", file],
        ["-append", `console=ttyS0 panic=-1 loglevel=4 no_timer_check ${cmdline}`],
      ].flat(),
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    q.stdout.on("data", (b: Buffer) => {
      out += b.toString("latin1");
    });
    q.stderr.on("data", (b: Buffer) => {
      out += b.toString("latin1");
    });
    const timer = setTimeout(() => {
      q.kill("SIGKILL");
      fail(new Error(`${name}: no poweroff within ${BOOT_TIMEOUT_MS} ms\n${out.slice(-4000)}`));
    }, BOOT_TIMEOUT_MS);
    q.on("close", () => {
      clearTimeout(timer);
      done(out);
    });
  });
}

/** iso/kexec/run.sh in an unpacked tarball whose initrd is `initrd`; returns what kexec loaded. */
function runScript(dir: string, initrd: Buffer): { initrd: Buffer; cmdline: string; token: string } {
  const tar = join(dir, "lifeboat-kexec");
  const sys = join(dir, "sysroot");
  for (const d of [tar, join(sys, "sys/kernel"), join(sys, "proc/sys/kernel"), join(sys, "etc")])
    mkdirSync(d, { recursive: true });
  writeFileSync(join(sys, "sys/kernel/kexec_loaded"), "0\n");
  writeFileSync(join(sys, "proc/sys/kernel/kexec_load_disabled"), "0\n");
  writeFileSync(join(sys, "proc/meminfo"), "MemTotal:       16384000 kB\n");
  writeFileSync(join(sys, "etc/resolv.conf"), "nameserver 192.0.2.53\n");
  copyFileSync(RUN, join(tar, "run"));
  copyFileSync(LIB, join(tar, "carry-lib.sh"));
  copyFileSync(kernel as string, join(tar, "bzImage"));
  writeFileSync(join(tar, "initrd"), initrd);
  writeFileSync(join(tar, "cmdline"), "loglevel=4\n");
  writeFileSync(
    join(tar, "kexec"),
    [
      "#!/bin/sh",
      `for a in "$@"; do case $a in --initrd=*) cp "\${a#--initrd=}" ${dir}/loaded-initrd ;; --command-line=*) printf '%s' "\${a#--command-line=}" >${dir}/loaded-cmdline ;; esac; done`,
      "",
    ].join("\n"),
  );
  chmodSync(join(tar, "kexec"), 0o755);
  chmodSync(join(tar, "run"), 0o755);
  const r = spawnSync("bash", [join(tar, "run"), "--foreground"], {
    encoding: "utf8",
    env: { ...process.env, LIFEBOAT_KEXEC_SYSROOT: sys, TMPDIR: dir },
  });
  const token = /API token: (\S+)/.exec(r.stdout)?.[1] ?? "";
  if (token) registerSecret(token);
  expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
  expect(token).not.toBe("");
  return {
    initrd: readFileSync(join(dir, "loaded-initrd")),
    cmdline: readFileSync(join(dir, "loaded-cmdline"), "utf8"),
    token,
  };
}

describe.skipIf(reason !== null)(
  `the carry archive after an odd-length rescue initrd, real kernel in QEMU${reason ? ` [SKIPPED: ${reason}]` : ""}`,
  () => {
    it(
      "is lost when appended without padding, arrives through run.sh's initrd",
      async () => {
        const dir = tempDir();
        const rescue = rescueInitrd(dir);
        expect(rescue.length % 4).not.toBe(0);

        // What systemd-boot does with two initrd lines (and run.sh did): the files back to back.
        const carryDir = join(dir, "carry");
        mkdirSync(carryDir);
        writeFileSync(join(carryDir, "token"), "appended-without-padding\n");
        const carry = spawnSync("bash", ["-c", `. "$0"; carry_cpio "$1"`, LIB, carryDir]);
        expect(carry.status, String(carry.stderr)).toBe(0);
        const plain = Buffer.concat([rescue, carry.stdout]);

        const loaded = runScript(dir, rescue);

        // The ESP entry and the kexec tarball ship the initrd padded at build (`truncate --size=%4`, as
        // iso/rescue-entry.nix and iso/kexec/tarball.nix run it); systemd-boot then appends the carry
        // archive as it is. That is byte for byte what run.sh loads, which the kernel takes below.
        const paddedFile = join(dir, "padded-initrd");
        writeFileSync(paddedFile, rescue);
        const t = spawnSync("truncate", ["--size=%4", paddedFile]);
        expect(t.status, String(t.stderr)).toBe(0);
        const carriedArchive = loaded.initrd.subarray(readFileSync(paddedFile).length);
        expect(carriedArchive.subarray(0, 6).toString("latin1")).toBe("070701");
        expect(Buffer.concat([readFileSync(paddedFile), carriedArchive]).equals(loaded.initrd)).toBe(true);
        expect(loaded.initrd.subarray(0, rescue.length).equals(rescue)).toBe(true);

        const [lost, carried] = await Promise.all([
          boot(dir, "plain", plain, ""),
          boot(dir, "run-sh", loaded.initrd, loaded.cmdline),
        ]);
        expect(lost, lost.slice(-4000)).toContain("LIFEBOAT-NOT-CARRIED");
        expect(lost).toContain("Initramfs unpacking failed: invalid magic at start of compressed archive");
        expect(carried, carried.slice(-4000)).toContain(`LIFEBOAT-CARRIED token=${loaded.token}`);
        expect(carried).toMatch(/LIFEBOAT-CARRIED files=.*addresses\.json .*routes4\.json .*token/);
        expect(carried).not.toContain("Initramfs unpacking failed");
      },
      2 * BOOT_TIMEOUT_MS,
    );
  },
);
