import { LifeboatError } from "../core/errors.js";
import { parseSnapshotSpace, snapshotSpaceArgs } from "../core/zfsSpace.js";
import type { RescueContext } from "./context.js";

const SNAP = /^[A-Za-z0-9_.:-]{1,200}$/;

/** Recursive snapshots of the root pool: taken before every change, listed, and (explicitly) rolled back. */
export class SnapshotService {
  constructor(private readonly ctx: RescueContext) {}

  private async pool(): Promise<string> {
    const m = await this.ctx.mounted();
    if (!m.pool)
      throw new LifeboatError("zfs-unavailable", "the installed system's root is not on ZFS: no snapshots");
    return m.pool;
  }

  async list() {
    const pool = await this.pool();
    // Each snapshot with the change it was taken before (this rescue's audit names it).
    const before = new Map<string, { at: string; action: string; target: string | null; result: string }>();
    for (const e of this.ctx.audit.list())
      if (typeof e.detail.snapshot === "string" && !before.has(e.detail.snapshot))
        before.set(e.detail.snapshot, { at: e.at, action: e.action, target: e.target, result: e.result });
    const named = (name: string) => before.get(name) ?? before.get(`${pool}@${name.split("@")[1]}`) ?? null;
    return {
      pool,
      snapshots: (await this.ctx.listSnapshots(pool)).reverse().map((x) => ({ ...x, before: named(x.name) })),
    };
  }

  async create(who: string) {
    return this.ctx.lock.run("snapshot", async () => {
      const m = await this.ctx.writable();
      const name = await this.ctx.snapshot(m.pool, "requested");
      await this.ctx.audit.record({
        who,
        action: "snapshot",
        target: name,
        result: "ok",
        detail: { snapshot: name },
      });
      return { snapshot: name };
    });
  }

  /**
   * Destructive: every dataset of the pool that has `<snapshot>` goes back to it, with `zfs rollback
   * -r`, which also destroys the snapshots taken after it (ZFS rolls back only to a dataset's newest
   * snapshot). So no snapshot taken before the rollback could survive it: the answer and the audit
   * name what was discarded instead. Everything `zfs rollback -r` refuses part-way (a later snapshot
   * held or cloned, which needs -R) is checked on every dataset first, so that the datasets are not
   * left half rolled back; if one still fails, the answer names the datasets already rolled back.
   */
  async rollback(snapshot: string, confirm: string | undefined, who: string) {
    if (!SNAP.test(snapshot)) throw new LifeboatError("validation-failed", "bad snapshot name");
    if (confirm !== snapshot)
      throw new LifeboatError(
        "confirm-mismatch",
        `rolling back discards every change since ${snapshot}: send {"confirm": "${snapshot}"} to proceed`,
      );
    return this.ctx.lock.run("snapshot-rollback", async () => {
      const m = await this.ctx.writable();
      const pool = m.pool as string;
      const all = await this.listWithSpace(pool);
      const targets = all.filter((s) => s.snapshot === snapshot);
      if (targets.length === 0)
        throw new LifeboatError("not-found", `no snapshot named ${snapshot} in ${pool}`);
      const later = all.filter((s) =>
        targets.some((t) => t.dataset === s.dataset && s.createtxg > t.createtxg),
      );
      const held = later.filter((s) => s.holds > 0).map((s) => s.name);
      if (held.length)
        throw new LifeboatError(
          "snapshot-held",
          `rolling back to ${snapshot} would destroy ${held.join(", ")}, which ${held.length === 1 ? "has" : "have"} a user hold: nothing was rolled back`,
          { held },
        );
      const clones = later.flatMap((s) => s.clones);
      if (clones.length)
        throw new LifeboatError(
          "snapshot-has-clones",
          `rolling back to ${snapshot} would destroy snapshots that ${clones.join(", ")} ${clones.length === 1 ? "is a clone" : "are clones"} of (zfs rollback -R): nothing was rolled back`,
          { clones },
        );
      const destroyed = later.map((s) => s.name);
      const done: string[] = [];
      for (const t of targets) {
        const r = await this.ctx.sys.run("zfs", ["rollback", "-r", t.name]);
        if (r.exitCode !== 0) {
          await this.ctx.audit.record({
            who,
            action: "snapshot-rollback",
            target: snapshot,
            result: "failed",
            detail: { done, failed: t.name },
          });
          throw new LifeboatError(
            "command-failed",
            `rollback of ${t.name} failed: ${r.stderr.trim().split("\n")[0]}; already rolled back (a rollback cannot be undone): ${done.join(", ") || "nothing"}`,
            {
              done,
              failedStep: `rollback ${t.name}`,
            },
          );
        }
        done.push(t.name);
      }
      await this.ctx.audit.record({
        who,
        action: "snapshot-rollback",
        target: snapshot,
        result: "ok",
        detail: { datasets: done, destroyed },
      });
      this.ctx.changed();
      return { snapshot, rolledBack: done, destroyed };
    });
  }

  private async listWithSpace(pool: string) {
    const r = await this.ctx.sys.run("zfs", snapshotSpaceArgs(pool));
    if (r.exitCode !== 0)
      throw new LifeboatError("command-failed", `listing snapshots of ${pool} failed: ${r.stderr.trim()}`);
    return parseSnapshotSpace(r.stdout);
  }
}
