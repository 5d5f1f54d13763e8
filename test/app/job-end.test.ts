// A follower sees `end` only once the job's lock is free: between a job's final state and the lock's
// release (the record and the audit are written in between) the next change would still meet 409 busy,
// which QEMU scenario 9 hit ("export, then the pool imports again" answered 409 right after `end`).
import pino from "pino";
import { describe, expect, it } from "vitest";
import { type JobEvent, JobManager } from "../../agent/src/app/jobs.js";
import { OperationLock } from "../../agent/src/app/lock.js";
import { FakeSystem } from "../helpers/fake-system.js";
import { fakeConfig, sandbox } from "../helpers/fixtures.js";

describe("job end and the change lock", () => {
  it("a follower that comes after the final state but before the release waits for the release", async () => {
    const sys = new FakeSystem({
      ...fakeConfig("single", await sandbox()),
      spawnScript: () => ({ lines: [{ stream: "stdout", text: "done" }], exitCode: 0 }),
    });
    const lock = new OperationLock();
    let recorded!: () => void;
    const slowAudit = new Promise<void>((r) => (recorded = r));
    let ended!: () => void;
    const finalState = new Promise<void>((r) => (ended = r));
    const jobs = new JobManager(sys, lock, pino({ level: "silent" }), {
      onEnd: async () => {
        ended();
        await slowAudit; // the audit record is still being written: the lock is held
      },
    });
    const view = jobs.start(
      "rebuild",
      "test",
      [{ label: "build", file: "nixos-rebuild", args: ["boot"] }],
      "t",
    );
    await finalState;
    expect(jobs.get(view.id).state).toBe("succeeded");
    const events: JobEvent[] = [];
    jobs.follow(view.id, 0, (e) => events.push(e));
    expect(events.some((e) => e.type === "end")).toBe(false);
    expect(() => lock.assertFree()).toThrow();
    recorded();
    await jobs.wait(view.id);
    expect(events[events.length - 1]).toEqual({ type: "end", state: "succeeded", exitCode: 0 });
    expect(() => lock.assertFree()).not.toThrow();
  });
});
