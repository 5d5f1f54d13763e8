/**
 * The hostile-disk corpus (test/helpers/hostile-disk.ts) on real disks: for every row, an ext4
 * root laid out as nixos-install would (makeNixosTree) with the attack planted, made into an image
 * by mke2fs -d (never mounted read-write by the test: the first mount is the agent's), on a loop
 * device; then the REAL agent code (services on RealSystem, over HTTP with inject) mounts it and
 * answers the row's request. Each row asserts: the answer (problem+json with its
 * code), a rescue-side canary tree hashed before/after is unchanged, /proc/self/mountinfo shows
 * the disks mounted nowhere but under the root, /v1/status answers and the next change is
 * accepted, and in read-only mode the images' bytes are unchanged (sha256).
 * Root only (loop devices, mount, mknod); skipped with the reason otherwise.
 */
import { createHash, randomUUID } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RealSystem } from "../../agent/src/system/real.js";
import { hostileAgent } from "../app/harness.js";
import { decoderEntry } from "../helpers/decoder-entry.js";
import { makeNixosTree } from "../helpers/fixtures.js";
import {
  CANARY_TEXT,
  CASES,
  currentSystem,
  type HostileCase,
  hashTree,
  layCanary,
  NEXT_CHANGE,
  planter,
} from "../helpers/hostile-disk.js";
import { registerSecret } from "../helpers/secrets.js";

const TOKEN = "hostile-host-token-0123456789abcdef";
const auth = { authorization: `Bearer ${TOKEN}` };
registerSecret(TOKEN, CANARY_TEXT);

const isRoot = process.getuid?.() === 0;
const TOOLS = ["losetup", "mkfs.ext4", "mount", "umount", "mknod", "mkfifo", "lsblk", "blkid"];
const missing = isRoot
  ? (
      await Promise.all(
        TOOLS.map(async (t) =>
          (await execa("sh", ["-c", `command -v ${t}`], { reject: false })).exitCode === 0 ? null : t,
        ),
      )
    ).filter(Boolean)
  : [];
const why = !isRoot
  ? "needs root (loop devices, mount, mknod)"
  : missing.length > 0
    ? `needs ${missing.join(", ")}`
    : "";
if (why) console.warn(`hostile-disk host corpus SKIPPED: ${why}`);

/**
 * Rows on the ESP (a FAT image needs vfat in the kernel, which this host's lacks; FAT cannot hold
 * links or FIFOs anyway) and fault injection run on the fake only (test/app/hostile.test.ts).
 */
const HOST_CASES = CASES.filter((c) => !c.needs?.some((n) => ["esp", "non-fat-esp", "fault"].includes(n)));
/** A FAT ESP needs vfat in the kernel (not every CI kernel has it: those rows then run on the fake only). */
const vfat = (await readFile("/proc/filesystems", "utf8").catch(() => "")).includes("vfat");
if (!why && !vfat)
  console.warn("hostile-disk host corpus: no vfat in this kernel, ESP rows skipped (the fake runs them)");

async function sha256(file: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest("hex");
}

/** /proc/self/mountinfo: mount point and source of every mount (octal escapes decoded). */
async function mountinfo(): Promise<{ target: string; source: string }[]> {
  const un = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(Number.parseInt(o, 8)));
  return (await readFile("/proc/self/mountinfo", "utf8"))
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const f = l.split(" ");
      const dash = f.indexOf("-");
      return { target: un(f[4] as string), source: un(f[dash + 2] as string) };
    });
}

describe.skipIf(!!why)("hostile disk, file side: real ext4 on loop devices, real agent", () => {
  let dir = "";
  let canary = "";

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "lifeboat-hostile-"));
    canary = join(dir, "canary");
    await layCanary(canary);
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function run(c: HostileCase) {
    const at = join(dir, c.id);
    const tree = join(at, "tree");
    const mnt = join(at, "mnt");
    const img = join(at, "root.img");
    const uuid = randomUUID();
    // The installed system as nixos-install lays it out, the attack planted, then the image.
    await makeNixosTree(tree, { fstab: `/dev/disk/by-uuid/${uuid} / ext4 defaults 0 1\n`, esp: false });
    const system = await currentSystem(tree);
    await c.plant(planter(tree, canary, system));
    await execa("mkfs.ext4", ["-q", "-U", uuid, "-L", "lbt-hostile", "-d", tree, img, "64M"]);
    await rm(tree, { recursive: true, force: true });
    const before = { image: await sha256(img), canary: await hashTree(canary) };
    const loop = (await execa("losetup", ["-f", "--show", img])).stdout.trim();
    try {
      const { app, services, logs } = await hostileAgent(
        (log) => new RealSystem(log, decoderEntry()),
        TOKEN,
        { root: mnt },
      );
      try {
        const mounted = await app.inject({
          method: "POST",
          url: "/v1/mount",
          headers: auth,
          payload: { pool: loop, readonly: c.mode === "ro" },
        });
        expect(mounted.statusCode, mounted.body).toBe(200);

        const res = await app.inject({
          method: c.request.method ?? "GET",
          url: c.request.url,
          headers: { ...auth, ...c.request.headers },
          payload: c.request.payload as object | undefined,
        });
        expect(res.statusCode, res.body).toBe(c.status);
        const body = res.json();
        if (c.status >= 400) {
          expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
          expect(body.code).toBe(c.code);
        }
        await c.check?.(body, planter(mnt, canary, system));

        // The disk is mounted under the root and nowhere else; nothing is mounted over the canary.
        const mine = (await mountinfo()).filter((m) => m.source === loop);
        expect(mine.length).toBeGreaterThan(0);
        for (const m of mine) expect(m.target === mnt || m.target.startsWith(`${mnt}/`), m.target).toBe(true);
        expect((await mountinfo()).filter((m) => m.target.startsWith(canary))).toEqual([]);

        const status = await app.inject({ url: "/v1/status", headers: auth });
        expect(status.statusCode).toBe(200);
        expect(services.lock.busy).toBeNull();
        await c.cleanup?.(planter(mnt, canary, system));
        if (c.mode === "rw") {
          const next = await app.inject({
            method: NEXT_CHANGE.method,
            url: NEXT_CHANGE.url,
            headers: { ...auth, ...NEXT_CHANGE.headers },
            payload: NEXT_CHANGE.payload as object,
          });
          expect(next.statusCode, next.body).toBe(200);
        }
        for (const j of services.jobs.list()) await services.jobs.wait(j.id); // jobs end before the unmount
        const un = await app.inject({ method: "POST", url: "/v1/unmount", headers: auth, payload: {} });
        expect(un.statusCode, un.body).toBe(200);
      } finally {
        await app.close();
        await execa("umount", ["-R", mnt], { reject: false });
      }
      expect((await mountinfo()).filter((m) => m.source === loop)).toEqual([]);
      expect(await hashTree(canary)).toBe(before.canary);
      expect(logs.text).not.toContain(CANARY_TEXT);
      if (c.mode === "ro")
        expect(await sha256(img), "the image changed in read-only mode").toBe(before.image);
    } finally {
      await execa("losetup", ["-d", loop], { reject: false });
      await rm(at, { recursive: true, force: true });
    }
  }

  for (const c of HOST_CASES) it(`${c.id} (${c.attack}, ${c.mode})`, () => run(c), 120_000);

  it("the rows on real disks cover every attack family but the dead disk (fault injection, fake only)", () => {
    expect(new Set(HOST_CASES.map((c) => c.attack)).size).toBe(new Set(CASES.map((c) => c.attack)).size - 1);
    expect(HOST_CASES.length).toBeGreaterThanOrEqual(35);
  });
});
