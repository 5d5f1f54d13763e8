/**
 * Decoders off the event loop (agent/src/system/decoders.ts): an initrd is read in a worker thread
 * with a heap cap and a deadline. A zstd bomb made by the real cpio and zstd (13 KB that inflate to
 * 400 MiB) ends as `too-large` from the inflated-bytes cap, three at once, with the worker's heap
 * capped at 32 MiB (the inflated bytes are never held: before, the agent held all of them, twice,
 * on its own event loop); the process's memory stays far below one inflation. The real initrd
 * fixtures decode in the worker exactly as in-process; a job past its deadline is stopped.
 */
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readInitrd } from "../../agent/src/core/initrd.js";
import { Decoders } from "../../agent/src/system/decoders.js";
import { decoderEntry } from "../helpers/decoder-entry.js";

const D = join(import.meta.dirname, "..", "fixtures", "diagnosis");
const MiB = 1024 * 1024;
const tools = await Promise.all(
  ["cpio", "zstd"].map(
    async (t) => (await execa("sh", ["-c", `command -v ${t}`], { reject: false })).exitCode === 0,
  ),
);
const why = tools.every(Boolean) ? "" : "needs cpio and zstd";
if (why) console.warn(`decoder bomb test SKIPPED: ${why}`);

describe("initrds are decoded in a worker with a heap cap and a deadline", () => {
  let work = "";
  let bomb: Buffer = Buffer.alloc(0);
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "lifeboat-decoders-"));
    if (why) return;
    await mkdir(join(work, "stage"));
    await writeFile(join(work, "stage", "firmware.bin"), "");
    await truncate(join(work, "stage", "firmware.bin"), 400 * MiB);
    await execa("sh", ["-c", "echo firmware.bin | cpio -o -H newc --quiet | zstd -q -c > ../bomb.initrd"], {
      cwd: join(work, "stage"),
    });
    bomb = await readFile(join(work, "bomb.initrd"));
  }, 120_000);
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it("the real fixtures: the same answer as in-process", async () => {
    const dec = new Decoders(decoderEntry());
    for (const f of [
      "scripted-zstd-ucode.initrd",
      "scripted-gzip.initrd",
      "systemd-zstd.initrd",
      "scripted-xz.initrd",
    ]) {
      const bytes = readFileSync(join(D, f));
      expect(await dec.initrd(bytes), f).toEqual(readInitrd(bytes));
    }
  });

  it.skipIf(!!why)(
    "a 13 KB zstd bomb of 400 MiB: too-large, three at once, heap capped at 32 MiB, memory bounded",
    async () => {
      expect(bomb.length).toBeLessThan(64 * 1024);
      const dec = new Decoders(decoderEntry(), { heapMb: 32, deadlineMs: 120_000, workers: 2 });
      const base = process.memoryUsage().rss;
      let peak = base;
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 5);
      const results = await Promise.allSettled([dec.initrd(bomb), dec.initrd(bomb), dec.initrd(bomb)]);
      clearInterval(sampler);
      for (const r of results) {
        expect(r.status).toBe("rejected");
        const e = (r as PromiseRejectedResult).reason;
        expect(e).toMatchObject({ code: "too-large" });
        expect(e.message).toMatch(/inflates past 256 MiB/);
      }
      // one inflation held would be 400 MiB; three, before, over 2 GiB
      expect(peak - base).toBeLessThan(200 * MiB);
    },
    120_000,
  );

  it("a job past its deadline is stopped (command-timeout)", async () => {
    const dec = new Decoders(decoderEntry(), { heapMb: 32, deadlineMs: 1, workers: 1 });
    await expect(dec.initrd(readFileSync(join(D, "scripted-gzip.initrd")))).rejects.toMatchObject({
      code: "command-timeout",
    });
  });
});
