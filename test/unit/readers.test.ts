import { describe, expect, it } from "vitest";
import { ReaderGate } from "../../agent/src/app/readers.js";

const gate = () => {
  let open = () => {};
  const p = new Promise<void>((r) => {
    open = r;
  });
  return { p, open };
};

describe("readers and changes of the mounts (app/readers.ts)", () => {
  it("a change waits for a reader it cannot cancel; readers arriving meanwhile run after it", async () => {
    const g = new ReaderGate();
    const order: string[] = [];
    const reading = gate();
    const r1 = g.read("journal", async () => {
      await reading.p;
      order.push("journal done");
    });
    const waits: string[][] = [];
    const change = g.exclusive(
      "export",
      async () => {
        order.push("export");
      },
      (names) => waits.push(names),
    );
    const r2 = g.read("generations", async () => {
      order.push("generations");
    });
    await new Promise((r) => setImmediate(r));
    expect(g.holding).toBe("export");
    reading.open();
    await Promise.all([r1, change, r2]);
    expect(order).toEqual(["journal done", "export", "generations"]);
    expect(waits[0]).toEqual(["journal"]);
    expect(waits.at(-1)).toEqual([]);
  });

  it("a cancelled reader that never ends holds a change back only for the bound; a waited-for one still is waited for", async () => {
    const g = new ReaderGate(20);
    let cancelled = false;
    void g.read(
      "diagnosis",
      () => new Promise(() => {}),
      () => {
        cancelled = true;
      },
    );
    const journal = gate();
    let journalDone = false;
    const r = g.read("journal", async () => {
      await journal.p;
      journalDone = true;
    });
    let ran = false;
    const change = g.exclusive("mount", async () => {
      ran = true;
      return journalDone;
    });
    // the bound passes while the journal is still read: the change keeps waiting for it
    await new Promise((res) => setTimeout(res, 60));
    expect(cancelled).toBe(true);
    expect(ran).toBe(false);
    journal.open();
    await r;
    expect(await change).toBe(true);
  });
});
