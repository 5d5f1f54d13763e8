import { createHash } from "node:crypto";
import {
  chmod,
  link,
  mkdir,
  readdir,
  readFile,
  readlink,
  rename,
  stat,
  symlink,
  truncate,
  writeFile,
} from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RootFs } from "../../agent/src/system/rootfs.js";
import { NodeDirFs } from "../../agent/src/system/rootfs-node.js";
import type { DirFs } from "../../agent/src/system/system.js";
import { rejection } from "../helpers/assert.js";
import { sandbox } from "../helpers/fixtures.js";

/**
 * The confined door (agent/src/system/rootfs.ts) on real files: symlinks at every depth, absolute,
 * relative and looping links, "..", device nodes (mknod, root only), FIFOs, sockets, huge and
 * sparse files, /dev/zero links, odd names. A canary tree outside the root is hashed before and
 * after every test: nothing outside the root may be read into a result or changed.
 */

const isRoot = process.getuid?.() === 0;
let dir = "";
let root = "";
let canary = "";
let fs: RootFs;
const SECRET = "CANARY-rescue-side-secret";

async function hashTree(p: string): Promise<string> {
  const h = createHash("sha256");
  const walk = async (d: string) => {
    for (const name of (await readdir(d)).sort()) {
      const full = join(d, name);
      const s = await stat(full).catch(() => null);
      h.update(`${full}\0${s?.mode}\0`);
      if (s?.isDirectory()) await walk(full);
      else if (s?.isFile()) h.update(await readFile(full));
    }
  };
  await walk(p);
  return h.digest("hex");
}

async function w(p: string, text: string) {
  await mkdir(join(root, p, ".."), { recursive: true });
  await writeFile(join(root, p), text);
}
async function l(p: string, target: string) {
  await mkdir(join(root, p, ".."), { recursive: true });
  await symlink(target, join(root, p));
}
/** Open descriptors of this process that point into the test's directory. */
async function fdList(): Promise<string[]> {
  const out: string[] = [];
  for (const fd of await readdir("/proc/self/fd"))
    out.push(await readlink(`/proc/self/fd/${fd}`).catch(() => "?"));
  return out.filter((t) => t.startsWith(dir));
}

let before = "";
let fdsBefore = 0;
let server: Server | null = null;

beforeAll(async () => {
  dir = await sandbox();
  root = join(dir, "root");
  canary = join(dir, "canary");
  await mkdir(join(canary, "etc"), { recursive: true });
  await writeFile(join(canary, "etc", "shadow"), SECRET);
  await writeFile(join(canary, "authorized_keys"), SECRET);
  await mkdir(root);
  fs = new RootFs(new NodeDirFs(), root, { timeoutMs: 5_000 });
  // A store-like tree: absolute links that only make sense inside the root.
  await w("nix/store/aaaa-system/nixos-version", "25.11\n");
  await w("nix/store/bbbb-etc/etc/fstab", "/dev/sda1 / ext4 defaults 0 1\n");
  await l("nix/store/aaaa-system/etc", "/nix/store/bbbb-etc/etc");
  await l("nix/var/nix/profiles/system", "system-1-link");
  await l("nix/var/nix/profiles/system-1-link", "/nix/store/aaaa-system");
  await l("etc/static", "/nix/var/nix/profiles/system/etc");
  await l("etc/fstab", "/etc/static/fstab");
  await w("a/b/c/d/file", "deep");
  before = await hashTree(canary);
  fdsBefore = (await fdList()).length;
});

afterAll(async () => {
  server?.close();
  expect(await hashTree(canary)).toBe(before);
  const fds = await fdList();
  // Operations left hanging by the dead-disk test keep theirs (under root-dead), nothing else.
  expect(fds.filter((f) => f === root || f.startsWith(`${root}/`))).toEqual([]);
  expect(fds.filter((f) => !f.startsWith(`${dir}/root-dead`)).length).toBeLessThanOrEqual(fdsBefore);
});

describe("resolving inside the root (chase)", () => {
  it("absolute store links are re-rooted: /etc/fstab → /etc/static → profile → store", async () => {
    expect(await fs.realpath("/etc/fstab")).toBe("/nix/store/bbbb-etc/etc/fstab");
    expect(await fs.readText("/etc/fstab")).toContain("/dev/sda1");
    expect(await fs.readText("/nix/var/nix/profiles/system/nixos-version")).toBe("25.11\n");
    expect(await fs.readlink("/nix/var/nix/profiles/system")).toBe("system-1-link");
    expect(await fs.readlink("/etc/NIXOS")).toBeNull();
  });

  it("a symlink out of the root at every depth lands inside the root (absolute and relative)", async () => {
    const parts = ["a", "b", "c", "d", "file"];
    for (let depth = 0; depth < parts.length; depth++) {
      for (const target of [canary, `${"../".repeat(12)}${canary.slice(1)}`]) {
        const at = parts.slice(0, depth + 1).join("/");
        const saved = join(dir, "saved");
        await rename(join(root, at), saved);
        await symlink(depth === parts.length - 1 ? `${target}/etc/shadow` : target, join(root, at));
        const path = `/${parts.join("/")}`;
        // The link leads to <root><canary…>: nothing there, nothing read from the canary.
        expect(await fs.readFile(path), `${at} -> ${target}`).toBeNull();
        expect(await fs.readFile(`/${at}${depth === parts.length - 1 ? "" : "/etc/shadow"}`)).toBeNull();
        await execa("rm", [join(root, at)]);
        await rename(saved, join(root, at));
      }
    }
    expect(await fs.readText("/a/b/c/d/file")).toBe("deep");
  });

  it("'..' stops at the root, inside links and in request paths", async () => {
    await l("x/up", "../../../../../../..");
    expect(await fs.realpath("/x/up")).toBe("/");
    expect(await fs.realpath("/../../../a/b")).toBe("/a/b");
    expect(await fs.realpath("/x/up/a/b/../../etc/fstab")).toBe("/nix/store/bbbb-etc/etc/fstab");
    expect(await fs.readFile("/x/up/../../etc/shadow")).toBeNull();
  });

  it("looping links end with a clear unsafe-file", async () => {
    await l("loop/one", "two");
    await l("loop/two", "/loop/one");
    const err = await rejection(fs.readFile("/loop/one"));
    expect(err.code).toBe("unsafe-file");
    expect(err.message).toContain("too many levels of symbolic links");
  });

  it("a file in the middle of a path is 'not found', not an error", async () => {
    expect(await fs.readFile("/a/b/c/d/file/more")).toBeNull();
    expect(await fs.stat("/etc/fstab/x")).toBeNull();
  });

  it("within: a path leading out of the base is path-escape", async () => {
    await w("etc/nixos/configuration.nix", "{ }\n");
    await l("etc/nixos/out", "/etc/fstab");
    await l("etc/nixos/in", "/etc/nixos/configuration.nix");
    expect(await fs.readText("/etc/nixos/in", { within: "/etc/nixos" })).toBe("{ }\n");
    expect((await rejection(fs.readText("/etc/nixos/out", { within: "/etc/nixos" }))).code).toBe(
      "path-escape",
    );
    expect((await rejection(fs.replace("/etc/nixos/out", "x", { within: "/etc/nixos" }))).code).toBe(
      "path-escape",
    );
    expect((await rejection(fs.readFile("/etc/a\0b"))).code).toBe("path-escape");
  });
});

describe("only regular files and directories are opened", () => {
  it("FIFOs: refused at once for read, append, replace (no hang, no blocked thread)", async () => {
    await mkdir(join(root, "var/log/lifeboat"), { recursive: true });
    await execa("mkfifo", [join(root, "var/log/lifeboat/audit.jsonl"), join(root, "etc/fifo.conf")]);
    for (const op of [
      () => fs.readFile("/etc/fifo.conf"),
      () => fs.append("/var/log/lifeboat/audit.jsonl", "x\n"),
      () => fs.replace("/etc/fifo.conf", "x"),
      () => fs.list("/etc/fifo.conf"),
    ]) {
      const err = await rejection(op());
      expect(err.code).toBe("unsafe-file");
      expect(err.extras.found).toBe("fifo");
    }
    expect(await fs.createNew("/etc/fifo.conf", "x")).toMatchObject({ created: false, existing: "fifo" });
    expect((await fs.stat("/etc/fifo.conf"))?.kind).toBe("fifo");
  });

  it("a socket is refused", async () => {
    server = createServer();
    await new Promise<void>((r) => server?.listen(join(root, "etc/sock"), () => r()));
    expect((await rejection(fs.readFile("/etc/sock"))).extras.found).toBe("socket");
  });

  it.skipIf(!isRoot)("device nodes (mknod) are refused, also through a /dev/zero link", async () => {
    await mkdir(join(root, "dev"), { recursive: true });
    await execa("mknod", [join(root, "dev/zero"), "c", "1", "5"]);
    await execa("mknod", [join(root, "dev/sda"), "b", "7", "200"]);
    await l("etc/nixos/zero.nix", "/dev/zero");
    await l("etc/host-zero", "../../../../../../../dev/zero");
    for (const [p, kind] of [
      ["/dev/zero", "char"],
      ["/etc/nixos/zero.nix", "char"],
      ["/etc/host-zero", "char"],
      ["/dev/sda", "block"],
    ] as const) {
      const err = await rejection(fs.readFile(p));
      expect(err.code, p).toBe("unsafe-file");
      expect(err.extras.found).toBe(kind);
    }
    expect((await rejection(fs.append("/dev/sda", "x"))).code).toBe("unsafe-file");
    expect((await rejection(fs.replace("/dev/sda", "x", { follow: false }))).code).toBe("unsafe-file");
  });

  it("/dev/zero link with no device in the root: simply absent", async () => {
    await l("etc/zero-abs", "/dev/null-does-not-exist");
    expect(await fs.readFile("/etc/zero-abs")).toBeNull();
  });
});

describe("sizes are capped", () => {
  it("a sparse 10 GiB file is refused without being read; truncate reads only the head", async () => {
    await w("var/huge", "");
    await truncate(join(root, "var/huge"), 10 * 1024 ** 3);
    const err = await rejection(fs.readFile("/var/huge"));
    expect(err.code).toBe("file-too-large");
    expect(err.extras.size).toBe(10 * 1024 ** 3);
    const head = await fs.read("/var/huge", { max: 4096, truncate: true });
    expect(head).toMatchObject({ truncated: true });
    expect(head?.data.length).toBe(4096);
  });

  it("the cap is per call", async () => {
    await w("etc/small", "12345678");
    expect((await rejection(fs.readFile("/etc/small", { max: 4 }))).code).toBe("file-too-large");
    expect((await fs.readFile("/etc/small", { max: 8 }))?.toString()).toBe("12345678");
  });

  it("a directory with more entries than the cap is listed truncated", async () => {
    for (let i = 0; i < 30; i++) await w(`many/f${i}`, "");
    const list = await fs.list("/many", { max: 10 });
    expect(list?.entries).toHaveLength(10);
    expect(list?.truncated).toBe(true);
  });
});

describe("odd names", () => {
  it("newlines and non-UTF-8 bytes: listed safely or skipped, never mangled into another file", async () => {
    await w("odd/line\nbreak.nix", "nl");
    await writeFile(Buffer.concat([Buffer.from(`${root}/odd/`), Buffer.from([0xff, 0xfe, 0x2e])]), "bin");
    const list = await fs.list("/odd");
    expect(list?.entries.map((e) => e.name)).toEqual(["line\nbreak.nix"]);
    expect(list?.skipped).toHaveLength(1);
    expect(list?.skipped[0]).toContain("not UTF-8");
    expect(await fs.readText("/odd/line\nbreak.nix")).toBe("nl");
  });
});

describe("writes never follow a planted link", () => {
  it("replace: temp file under a random name, renamed in place; mode kept; no temp left", async () => {
    await w("etc/nixos/host.nix", "old");
    await chmod(join(root, "etc/nixos/host.nix"), 0o600);
    expect(await fs.replace("/etc/nixos/host.nix", "new")).toBe("/etc/nixos/host.nix");
    expect(await readFile(join(root, "etc/nixos/host.nix"), "utf8")).toBe("new");
    expect((await stat(join(root, "etc/nixos/host.nix"))).mode & 0o777).toBe(0o600);
    expect((await readdir(join(root, "etc/nixos"))).filter((n) => n.includes("lifeboat-tmp"))).toEqual([]);
  });

  it("replace follows a link inside the root, or refuses it (follow: false)", async () => {
    await w("boot/real.conf", "a");
    await l("boot/link.conf", "/boot/real.conf");
    expect(await fs.replace("/boot/link.conf", "b")).toBe("/boot/real.conf");
    expect(await readFile(join(root, "boot/real.conf"), "utf8")).toBe("b");
    const err = await rejection(fs.replace("/boot/link.conf", "c", { follow: false }));
    expect(err.extras.found).toBe("link");
  });

  it("a link to a rescue-side file at a write path: re-rooted (absolute) or refused (final link)", async () => {
    await l("var/log/lifeboat/jobs-link.json", `${canary}/authorized_keys`);
    expect((await rejection(fs.append("/var/log/lifeboat/jobs-link.json", "x"))).extras.found).toBe("link");
    expect(
      (await rejection(fs.replace("/var/log/lifeboat/jobs-link.json", "x", { follow: false }))).extras.found,
    ).toBe("link");
    expect(await fs.createNew("/var/log/lifeboat/jobs-link.json", "x")).toMatchObject({
      created: false,
      existing: "link",
    });
    // Followed, it is re-rooted: the write lands inside the root, at <root><canary>/authorized_keys.
    await expect(fs.replace("/var/log/lifeboat/jobs-link.json", "x")).rejects.toMatchObject({
      code: "not-found",
    });
    expect(await readFile(join(canary, "authorized_keys"), "utf8")).toBe(SECRET);
  });

  it("a hard-linked file is not written through", async () => {
    await w("var/log/lifeboat/real.log", "a");
    await link(join(root, "var/log/lifeboat/real.log"), join(root, "var/log/lifeboat/hard.log"));
    expect((await rejection(fs.append("/var/log/lifeboat/hard.log", "x"))).extras.found).toBe("hardlinked");
    expect((await rejection(fs.replace("/var/log/lifeboat/hard.log", "x"))).extras.found).toBe("hardlinked");
  });

  it("append creates the file 0600 and appends", async () => {
    await fs.mkdirs("/var/log/lifeboat/new");
    await fs.append("/var/log/lifeboat/new/a.log", "1\n");
    await fs.append("/var/log/lifeboat/new/a.log", "2\n");
    expect(await readFile(join(root, "var/log/lifeboat/new/a.log"), "utf8")).toBe("1\n2\n");
    expect((await stat(join(root, "var/log/lifeboat/new/a.log"))).mode & 0o777).toBe(0o600);
  });

  it("mkdirs: component by component; a link on the way is followed inside the root, a FIFO refused", async () => {
    await l("persist-link", canary);
    expect(await fs.mkdirs("/persist-link/var/log")).toBe(`${canary}/var/log`);
    expect((await stat(join(root, canary, "var/log"))).isDirectory()).toBe(true);
    await execa("mkfifo", [join(root, "var/pipe")]);
    expect((await rejection(fs.mkdirs("/var/pipe/x"))).extras.found).toBe("fifo");
    expect((await rejection(fs.mkdirs("/etc/nixos/out/x", { within: "/etc/nixos" }))).code).toMatch(
      /path-escape|unsafe-file/,
    );
  });

  it("createNew is exclusive; remove unlinks the link, never its target", async () => {
    expect(await fs.createNew("/etc/nixos/bak", "1")).toMatchObject({ created: true });
    expect(await fs.createNew("/etc/nixos/bak", "2")).toMatchObject({ created: false, existing: "file" });
    expect(await readFile(join(root, "etc/nixos/bak"), "utf8")).toBe("1");
    await l("etc/nixos/rm-link", "/etc/nixos/bak");
    expect(await fs.remove("/etc/nixos/rm-link")).toBe(true);
    expect(await readFile(join(root, "etc/nixos/bak"), "utf8")).toBe("1");
    expect(await fs.remove("/etc/nixos/absent")).toBe(false);
    expect((await rejection(fs.remove("/etc/nixos"))).code).toBe("unsafe-file");
  });
});

describe("every operation is bounded and checks what it opened", () => {
  /** A DirFs whose chosen call never returns (a dead disk). */
  function hanging(on: keyof DirFs): DirFs {
    const real = new NodeDirFs();
    return new Proxy(real, {
      get(t, k) {
        const v = Reflect.get(t, k) as (...a: unknown[]) => unknown;
        if (k === on) return () => new Promise(() => undefined);
        return typeof v === "function" ? v.bind(t) : v;
      },
    });
  }

  it("a call that never returns ends in file-timeout", async () => {
    const dead = join(dir, "root-dead");
    await mkdir(join(dead, "etc"), { recursive: true });
    await writeFile(join(dead, "etc/fstab"), "x");
    for (const on of ["read", "lstatAt", "write"] as const) {
      const slow = new RootFs(hanging(on), dead, { timeoutMs: 100 });
      const p = on === "write" ? slow.append("/etc/t.log", "x") : slow.readFile("/etc/fstab");
      expect((await rejection(p)).code, on).toBe("file-timeout");
    }
  });

  it("an entry swapped between lstat and open is refused (dev:ino check): the file read, the directory listed", async () => {
    await w("swap/dir/file", "inside");
    await w("swap/dir/spare", "other");
    await mkdir(join(root, "swap/other"), { recursive: true });
    const real = new NodeDirFs();
    /** Before the first open of `victim` (as `how`): `victim` and `by` change places. */
    const racy = (victim: string, how: "dir" | "read", by: string): DirFs => {
      let swapped = false;
      return Object.assign(Object.create(real), {
        openAt: async (d: number, name: string, h: "dir" | "read" | "create" | "append", mode?: number) => {
          if (name === victim.split("/").pop() && h === how && !swapped) {
            swapped = true;
            await rename(join(root, victim), join(root, "swap/was"));
            await rename(join(root, by), join(root, victim));
            await rename(join(root, "swap/was"), join(root, by));
          }
          return real.openAt(d, name, h, mode);
        },
      });
    };
    const file = await rejection(
      new RootFs(racy("swap/dir/file", "read", "swap/dir/spare"), root).readFile("/swap/dir/file"),
    );
    expect(file.code).toBe("unsafe-file");
    expect(file.message).toContain("changed while it was");
    const dir = await rejection(new RootFs(racy("swap/dir", "dir", "swap/other"), root).list("/swap/dir"));
    expect(dir.code).toBe("unsafe-file");
    expect(dir.message).toContain("changed while it was resolved");
  });

  it("a directory on the way is entered by one open (no lstat, no fstat); a link on the way is still followed inside the root", async () => {
    await w("deep/a/b/c/file", "x");
    await mkdir(join(root, "deep/a/b/d"), { recursive: true });
    await symlink("/deep/a/b/c", join(root, "deep/a/b/d/up"));
    const real = new NodeDirFs();
    const calls: string[] = [];
    const counted: DirFs = Object.assign(Object.create(real), {
      lstatAt: (d: number, n: string) => (calls.push(`lstat ${n}`), real.lstatAt(d, n)),
      openAt: (d: number, n: string, h: "dir" | "read" | "create" | "append", m?: number) => (
        calls.push(`open ${n} ${h}`), real.openAt(d, n, h, m)
      ),
      fstat: (fd: number) => (calls.push("fstat"), real.fstat(fd)),
    });
    const fs = new RootFs(counted, root);
    expect((await fs.readFile("/deep/a/b/c/file"))?.toString()).toBe("x");
    expect(calls).toEqual([
      "fstat", // the root's kind
      "open deep dir",
      "open a dir",
      "open b dir",
      "open c dir",
      "lstat file",
      "open file read",
      "fstat",
    ]);
    calls.length = 0;
    expect((await fs.readFile("/deep/a/b/d/up/file"))?.toString()).toBe("x");
    // the link: refused by the open (O_NOFOLLOW), then looked at and followed from the root
    const at = calls.indexOf("open up dir");
    expect(calls.slice(at, at + 3)).toEqual(["open up dir", "lstat up", "open deep dir"]);
  });

  it("errors of the disk are typed, never raw (EROFS → read-only-mount)", async () => {
    const ro: DirFs = Object.assign(Object.create(new NodeDirFs()), {
      openAt: async () => {
        throw Object.assign(new Error("EROFS: read-only file system"), { code: "EROFS" });
      },
    });
    const err = await rejection(new RootFs(ro, root).append("/var/log/lifeboat/x.log", "x"));
    expect(err.code).toBe("read-only-mount");
    expect(err.message).not.toContain(root);
  });
});
