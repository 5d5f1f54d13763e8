import { ApiError } from "../api.js";
import { type Child, clear, h } from "../dom.js";
import { act, btn, type SkippedEntry, type Status, skippedList, type ViewContext } from "./common.js";
import type { Importable, Imported } from "./disks.js";
import { type Plan, planView, postMount, withProgress } from "./progress.js";

export async function mount(ctx: ViewContext): Promise<void> {
  const [s, pools] = await Promise.all([
    ctx.api.get<Status>("/v1/status"),
    ctx.api.get<{ importable: Importable[]; imported: Imported[] }>("/v1/pools"),
  ]);
  const choices = s.candidates.map((c) => c.pool ?? c.device ?? c.id);
  const mode = (ro: boolean) =>
    h("input", {
      type: "radio",
      name: "mode",
      value: ro ? "ro" : "rw",
      id: ro ? "mode-ro" : "mode-rw",
      checked: ro ? s.phase !== "mounted-ro" : s.phase === "mounted-ro",
    });
  const ro = mode(true);
  const rw = mode(false);
  const pick = h(
    "select",
    { id: "candidate", "aria-label": "System to mount" },
    ...choices.map((c) => h("option", { value: c }, c)),
  );
  const force = h("input", { type: "checkbox", id: "force" });
  const lastHostNote = h("p", { class: "warn", id: "last-host" });
  const forceRow = h(
    "div",
    { class: "row", hidden: true },
    h("label", {}, force, "Force the import (zpool import -f)"),
  );
  const planBox = h("div", { id: "plan", "aria-live": "polite" });
  const updateForce = () => {
    const p = pools.importable.find((x) => x.name === pick.value);
    const other = Boolean(p?.lastAccessedByOtherSystem);
    forceRow.hidden = !other;
    clear(
      lastHostNote,
      other
        ? `Pool ${p?.name} was last used by ${p?.lastHost?.hostname ?? "another system"}${p?.lastHost?.hostid ? ` (host ID ${p.lastHost.hostid})` : ""}. That is normal when the server died. Lifeboat adopts that host ID instead of forcing. Force only if the import still fails, and only if that machine is really switched off: two machines writing one pool destroy it.`
        : "",
    );
    clear(planBox);
  };
  pick.addEventListener("change", updateForce);
  const readonly = () => ro.checked;
  const showPlan = async (): Promise<Plan> => {
    const q = new URLSearchParams({ readonly: String(readonly()) });
    if (pick.value) q.set("pool", pick.value);
    const plan = await ctx.api.get<Plan>(`/v1/plan?${q}`);
    clear(planBox, h("h2", {}, "What will happen"), planView(plan));
    return plan;
  };
  const doMount = async (button: HTMLButtonElement) =>
    act(ctx, button, async () => {
      const plan = await showPlan();
      const body: Child[] = [planView(plan)];
      if (!readonly())
        body.push(
          h(
            "p",
            { class: "warn" },
            "Read-write: Lifeboat may change the installed system from now on (each change takes a snapshot first).",
          ),
        );
      if (force.checked)
        body.push(
          h(
            "p",
            { class: "bad" },
            "Forced import: make sure the machine that last used this pool is switched off.",
          ),
        );
      const ok = await ctx.confirm({
        title: readonly() ? "Mount read-only?" : "Mount read-write?",
        body,
        ok: readonly() ? "Mount read-only" : "Mount read-write",
        danger: force.checked,
      });
      if (!ok) return;
      const r = await postMount(ctx, planBox, {
        readonly: readonly(),
        ...(pick.value ? { pool: pick.value } : {}),
        ...(force.checked ? { force: true } : {}),
      });
      if (!r) return;
      ctx.notice(
        `${r.result === "already-mounted" ? "Already mounted" : "Mounted"} ${readonly() ? "read-only" : "read-write"}.${r.skipped?.length ? ` Left out: ${r.skipped.map((e) => e.path || e.source).join(", ")}.` : ""}${r.warnings.length ? ` ${r.warnings.join(" ")}` : ""}`,
        "info",
      );
      await ctx.refreshPhase();
      ctx.go("overview");
    });
  const exportBox = h("input", { type: "checkbox", id: "unmount-export" });
  const progressBox = h("div", {});
  const doUnmount = (button: HTMLButtonElement) =>
    act(ctx, button, async () => {
      const ok = await ctx.confirm({
        title: "Unmount the installed system?",
        body: [
          h(
            "p",
            {},
            `Everything under ${s.root} is unmounted${exportBox.checked ? ", then the pools are exported so that the server can import them when it boots" : ""}.`,
          ),
        ],
        ok: exportBox.checked ? "Unmount and export" : "Unmount",
      });
      if (!ok) return;
      const r = await withProgress(ctx, progressBox, () =>
        ctx.api.post<{ unmounted: string[]; exported: string[] }>("/v1/unmount", {
          export: exportBox.checked,
        }),
      );
      ctx.notice(
        `Unmounted ${r.unmounted.length} file systems${r.exported.length ? `; exported ${r.exported.join(", ")}` : ""}.`,
        "info",
      );
      ctx.rerender();
    });
  clear(
    ctx.main,
    h("h1", {}, "Mount the installed system"),
    s.mounted
      ? h(
          "p",
          {},
          `Now mounted: ${s.mounted.source} at ${s.root}, ${s.mounted.readonly ? "read-only" : "read-write"}.`,
        )
      : null,
    choices.length === 0
      ? h("p", {}, "No installed system was found to mount. See the disks view.")
      : h(
          "section",
          { "aria-label": "Mount" },
          h("div", { class: "row" }, h("label", { for: "candidate" }, "System"), pick),
          h(
            "fieldset",
            {},
            h("legend", {}, "How"),
            h("label", {}, ro, "Read-only: look and copy, nothing is written (safe)"),
            h("br"),
            h(
              "label",
              {},
              rw,
              "Read-write: needed to change the boot default, the configuration or to rebuild",
            ),
          ),
          lastHostNote,
          forceRow,
          h(
            "div",
            { class: "row" },
            btn(
              "Show what will happen",
              (e) => void act(ctx, e.currentTarget as HTMLButtonElement, async () => void (await showPlan())),
              "",
              "show-plan",
            ),
            btn("Mount…", (e) => void doMount(e.currentTarget as HTMLButtonElement), "primary", "mount"),
          ),
          planBox,
        ),
    s.mounted || s.pools.imported.length
      ? h(
          "section",
          { "aria-label": "Unmount" },
          h("h2", {}, "Unmount"),
          h("label", {}, exportBox, "Also export the pools (hand them back cleanly so the server can boot)"),
          h(
            "div",
            { class: "row" },
            btn("Unmount…", (e) => void doUnmount(e.currentTarget as HTMLButtonElement), "", "unmount"),
          ),
          progressBox,
        )
      : null,
  );
  updateForce();
}
