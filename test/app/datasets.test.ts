/**
 * The listing of a big pool is made in parts side by side (app/datasets.ts): a whole listing still
 * running after a while gives way to the names alone and their properties in parts, joined in
 * order: the same datasets as the whole listing. On the recording fake with the seed's capture;
 * the whole listing is held by a gate that only its stop (AbortSignal) or a release ends.
 */
import pino from "pino";
import { describe, expect, it } from "vitest";
import { listDatasets } from "../../agent/src/app/datasets.js";
import type { CommandResult, RunOptions, System } from "../../agent/src/system/system.js";
import { FakeSystem } from "../helpers/fake-system.js";
import { fakeConfig, sandbox } from "../helpers/fixtures.js";

const stopped: CommandResult = {
  exitCode: 143,
  stdout: "",
  stderr: "",
  timedOut: false,
  notFound: false,
  durationMs: 0,
};

async function machine(opts: { hold?: boolean; failPart?: number } = {}) {
  const sys = new FakeSystem(fakeConfig("single", await sandbox(), { hostid: "8425e349" }));
  await sys.run("zpool", ["import", "-N", "-R", "/mnt", "-o", "readonly=on", "nvmepool"]);
  let held = opts.hold ?? false;
  let parts = 0;
  let release = () => {};
  const log: string[] = [];
  const gated = new Proxy(sys, {
    get(target, prop, receiver) {
      if (prop !== "run") return Reflect.get(target, prop, receiver);
      return async (file: string, args: readonly string[], o?: RunOptions) => {
        log.push([file, ...args].join(" "));
        const whole = file === "zfs" && args[0] === "list" && args.includes("-r") && !args.includes("name");
        if (whole && held)
          return new Promise<CommandResult>((resolve) => {
            o?.signal?.addEventListener("abort", () => {
              held = false;
              resolve(stopped);
            });
            release = () => {
              held = false;
              resolve(target.run(file, args, o));
            };
          });
        const part = file === "zfs" && args[0] === "list" && !args.includes("-r");
        if (part && ++parts === opts.failPart)
          return {
            ...stopped,
            exitCode: 1,
            stderr: `cannot open '${args.at(-1)}': dataset does not exist\n`,
          };
        return target.run(file, args, o);
      };
    },
  }) as System;
  const lists = () => log.filter((l) => l.startsWith("zfs list"));
  return { sys: gated, lists, release: () => release() };
}

describe("the listing of a big pool, in parts side by side", () => {
  it("a whole listing still running gives way to the names and their properties in parts: the same datasets", async () => {
    const plain = await machine();
    const expected = await listDatasets(plain.sys, ["nvmepool"], []);
    expect(expected.length).toBeGreaterThan(2);
    const big = await machine({ hold: true });
    const warnings: string[] = [];
    const got = await listDatasets(big.sys, ["nvmepool"], warnings, { splitAfterMs: 0, splitMin: 2 });
    expect(got).toEqual(expected);
    expect(warnings).toEqual([]);
    const lists = big.lists();
    expect(lists[0]).toMatch(/^zfs list -H -p -r -t filesystem,volume -o \S+ nvmepool$/);
    expect(lists[1]).toBe("zfs list -H -r -t filesystem,volume -o name nvmepool");
    // every name in exactly one part, in order, none recursive
    const parts = lists.slice(2);
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts) expect(p.split(" ")).not.toContain("-r");
    const named = parts.flatMap((p) => p.split(" ").slice(8));
    expect(named).toEqual(expected.map((d) => d.name));
  });

  it("a part that fails makes it one whole listing again", async () => {
    const m = await machine({ hold: true, failPart: 2 });
    const expected = await listDatasets((await machine()).sys, ["nvmepool"], []);
    const got = await listDatasets(m.sys, ["nvmepool"], [], { splitAfterMs: 0, splitMin: 2 });
    expect(got).toEqual(expected);
    expect(m.lists().at(-1)).toMatch(/^zfs list -H -p -r -t filesystem,volume -o \S+ nvmepool$/);
  });

  it("a listing done in time, or of fewer datasets than the minimum, is the whole one", async () => {
    const quick = await machine();
    await listDatasets(quick.sys, ["nvmepool"], []);
    expect(quick.lists()).toHaveLength(1);
    const small = await machine({ hold: true });
    const pending = listDatasets(small.sys, ["nvmepool"], [], { splitAfterMs: 0 });
    // the names came (fewer than 64): the whole listing is awaited, not stopped
    while (small.lists().length < 2) await new Promise((r) => setImmediate(r));
    small.release();
    const got = await pending;
    expect(got.length).toBeGreaterThan(2);
    expect(small.lists()).toHaveLength(2);
  });
});
