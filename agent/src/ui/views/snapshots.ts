import { bytes, clear, h, table } from "../dom.js";
import { act, btn, type ViewContext } from "./common.js";

interface Snapshot {
  name: string;
  dataset: string;
  snapshot: string;
  created: string;
  used: string;
  /** The change this snapshot was taken before (this rescue's audit). */
  before: { at: string; action: string; target: string | null; result: string } | null;
}

export function when(v: string | null | undefined): string {
  if (!v) return "";
  const d = /^\d+$/.test(v) ? new Date(Number(v) * 1000) : new Date(v);
  return Number.isNaN(d.getTime()) ? v : d.toLocaleString();
}

export async function snapshots(ctx: ViewContext): Promise<void> {
  const r = await ctx.api.get<{ pool: string; snapshots: Snapshot[] }>("/v1/snapshots");
  const create = (button: HTMLButtonElement) =>
    act(ctx, button, async () => {
      const ok = await ctx.confirm({
        title: "Take a snapshot?",
        body: [
          h(
            "p",
            {},
            `A recursive ZFS snapshot of pool ${r.pool}. It costs no space until data changes, and the system can be rolled back to it.`,
          ),
        ],
        ok: "Take snapshot",
      });
      if (!ok) return;
      const s = await ctx.api.post<{ snapshot: string | null }>("/v1/snapshots", {});
      ctx.rerender();
      ctx.notice(`Snapshot ${s.snapshot ?? ""} taken.`, "info");
    });
  const rollback = (snap: Snapshot, button: HTMLButtonElement) =>
    act(ctx, button, async () => {
      const typed = h("input", { type: "text", id: "rollback-confirm", autocomplete: "off", size: 30 });
      const ok = await ctx.confirm({
        title: `Roll back to ${snap.snapshot}?`,
        body: [
          h(
            "p",
            { class: "bad" },
            `Every dataset of pool ${r.pool} goes back to how it was at ${when(snap.created)}. Everything written since is lost, and so are later snapshots.`,
          ),
          h("label", { for: "rollback-confirm" }, `Type ${snap.snapshot} to confirm`),
          typed,
        ],
        ok: "Roll back",
        danger: true,
      });
      if (!ok) return;
      await ctx.api.post(`/v1/snapshots/${encodeURIComponent(snap.snapshot)}/rollback`, {
        confirm: typed.value,
      });
      ctx.rerender();
      ctx.notice(`Rolled back to ${snap.snapshot}.`, "info");
    });
  // One row per recursive snapshot (taken on the pool's top dataset), not one per dataset.
  const top = r.snapshots.filter((x) => x.dataset === r.pool);
  clear(
    ctx.main,
    h("h1", {}, `Snapshots of ${r.pool}`),
    h(
      "div",
      { class: "row" },
      btn("Take a snapshot now…", (e) => void create(e.currentTarget as HTMLButtonElement), "primary"),
    ),
    top.length
      ? table(
          ["Snapshot", "Taken before", "Created", "Used", ""],
          top.map((x) => [
            h("code", {}, x.snapshot),
            x.before
              ? `${x.before.action.replace(/-/g, " ")}${x.before.target ? `: ${x.before.target}` : ""}${x.before.result === "failed" ? " (failed, rolled back)" : ""}`
              : "",
            when(x.created),
            bytes(x.used),
            btn("Roll back…", (e) => void rollback(x, e.currentTarget as HTMLButtonElement)),
          ]),
          "Snapshots",
        )
      : h("p", {}, "No snapshots."),
  );
}
