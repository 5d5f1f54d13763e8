import pino from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { OperationLock } from "../../agent/src/app/lock.js";
import { ParseError } from "../../agent/src/core/errors.js";
import { parseJobRecord } from "../../agent/src/core/jobrecord.js";
import { RealSystem } from "../../agent/src/system/real.js";
import type { OutputLine } from "../../agent/src/system/system.js";
import { rejection } from "../helpers/assert.js";
import { jobRecord } from "../helpers/hostile-disk.js";

const ID = "11111111-1111-4111-8111-111111111111";

describe("job records read back from the disk (parseJobRecord)", () => {
  it("a record the agent wrote round-trips; unknown fields are dropped", () => {
    const text = jobRecord(ID);
    const r = parseJobRecord(text.replace(/}$/, ',"extra":{"deep":[1,2]}}'));
    expect(r).toEqual(JSON.parse(text));
    expect("extra" in r).toBe(false);
  });

  it("anything else is a ParseError that does not quote the disk's text", () => {
    const base = JSON.parse(jobRecord(ID)) as Record<string, unknown>;
    const bad: [string, string][] = [
      ["root:$6$secret-hash:19000::::::", "not JSON"],
      ["[]", "not an object"],
      ["null", "not an object"],
      [JSON.stringify({ ...base, id: "../../etc" }), "UUID"],
      [JSON.stringify({ ...base, state: "pwned" }), "state"],
      [JSON.stringify({ ...base, steps: "x" }), "steps"],
      [JSON.stringify({ ...base, steps: [{ label: "a", command: [1] }] }), "command"],
      [JSON.stringify({ ...base, exitCode: 1.5 }), "exitCode"],
      [JSON.stringify({ ...base, createdAt: "yesterday" }), "createdAt"],
      [JSON.stringify({ ...base, lines: -1 }), "lines"],
      [JSON.stringify({ ...base, title: "x".repeat(5000) }), "title"],
      [JSON.stringify({ ...base, durationMs: "1" }), "durationMs"],
      ["[".repeat(100_000), "not JSON"],
    ];
    for (const [text, what] of bad) {
      let err: unknown;
      try {
        parseJobRecord(text);
      } catch (e) {
        err = e;
      }
      expect(err, text.slice(0, 40)).toBeInstanceOf(ParseError);
      expect((err as Error).message).toContain(what);
      expect((err as Error).message).not.toContain("secret-hash");
    }
  });
});

describe("the change lock", () => {
  afterEach(() => vi.useRealTimers());

  it("busy names the holder; past its bound it is reported stuck; a job has no bound", async () => {
    vi.useFakeTimers({ now: new Date("2026-11-25T00:00:00Z") });
    const lock = new OperationLock();
    let finish: () => void = () => undefined;
    const running = lock.run("config-write", () => new Promise<void>((r) => (finish = r)), 60_000);
    const early = await rejection(Promise.resolve().then(() => lock.assertFree()));
    expect(early.extras).toMatchObject({ running: "config-write", stuck: false, heldSeconds: 0 });
    vi.setSystemTime(new Date("2026-11-25T00:02:00Z"));
    const late = await rejection(Promise.resolve().then(() => lock.assertFree()));
    expect(late.extras).toMatchObject({ stuck: true, heldSeconds: 120 });
    expect(late.message).toContain("does not answer");
    finish();
    await running;
    expect(lock.busy).toBeNull();
    const release = lock.acquire("rebuild job");
    vi.setSystemTime(new Date("2026-11-26T00:00:00Z"));
    expect((await rejection(Promise.resolve().then(() => lock.assertFree()))).extras.stuck).toBe(false);
    release();
  });
});

describe("spawned output lines are bounded (RealSystem)", () => {
  it("a 3 MiB line arrives cut to 1 MiB and flagged; other lines are whole; CRLF handled", async () => {
    const sys = new RealSystem(pino({ level: "silent" }));
    const p = sys.spawn("node", [
      "-e",
      'process.stdout.write("first\\r\\n" + "x".repeat(3 * 1024 * 1024) + "\\nlast")',
    ]);
    const lines: OutputLine[] = [];
    p.onLine((l) => lines.push(l));
    expect((await p.done).exitCode).toBe(0);
    expect(lines.map((l) => [l.text.length, l.truncated ?? false])).toEqual([
      [5, false],
      [1024 * 1024, true],
      [4, false],
    ]);
  });
});
