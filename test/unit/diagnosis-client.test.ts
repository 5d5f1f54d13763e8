// `lifeboat client diagnose` on the answer the agent gave in QEMU scenario 12 (saved by the capture run).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { diagnoseCommand } from "../../agent/src/client/diagnose.js";
import type { Connection } from "../../agent/src/client/http.js";

const D = JSON.parse(
  readFileSync(
    join(import.meta.dirname, "..", "fixtures", "vm-captured", "diag", "good", "diagnosis.json"),
    "utf8",
  ),
);

function fake(): { c: Connection; calls: [string, string, unknown][] } {
  const calls: [string, string, unknown][] = [];
  const c = {
    json: async (method: string, path: string, body?: unknown) => {
      calls.push([method, path, body]);
      return method === "GET" ? D : { result: {}, snapshot: null };
    },
  } as unknown as Connection;
  return { c, calls };
}

function io(answer: boolean) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: { out: (s: string) => out.push(s), err: (s: string) => err.push(s), confirm: async () => answer },
  };
}

describe("lifeboat client diagnose", () => {
  it("prints the summary, the generations and the numbered proposals with their requests", async () => {
    const { c, calls } = fake();
    const t = io(true);
    expect(await diagnoseCommand(c, t.io, { json: false, yes: false, apply: undefined })).toBe(0);
    const text = t.out.join("");
    expect(text.startsWith(D.sentence)).toBe(true);
    expect(text).toContain("  1. Boot generation 4 by default\n");
    expect(text).toContain('     POST /v1/boot/default {"generation":4}\n');
    expect(calls).toEqual([["GET", "/v1/diagnosis", undefined]]);
  });

  it("--apply N shows the requests, asks, and sends exactly them; no answer, nothing sent", async () => {
    const no = fake();
    const n = io(false);
    expect(await diagnoseCommand(no.c, n.io, { json: false, yes: false, apply: "2" })).toBe(1);
    expect(no.calls).toHaveLength(1);
    const yes = fake();
    const y = io(true);
    expect(await diagnoseCommand(yes.c, y.io, { json: false, yes: false, apply: "2" })).toBe(0);
    expect(yes.calls.slice(1)).toEqual(
      D.proposals[1].requests.map((r: { method: string; path: string; body: unknown }) => [
        r.method,
        r.path,
        r.body,
      ]),
    );
    expect(y.err.join("")).toContain("module_blacklist=vfio_pci,vfio,vfio_iommu_type1");
    await expect(diagnoseCommand(yes.c, y.io, { json: false, yes: true, apply: "99" })).rejects.toThrow(
      /proposal number/,
    );
  });
});
