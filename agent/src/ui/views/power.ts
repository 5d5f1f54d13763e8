import { clear, h } from "../dom.js";
import { type ChangeSummary, changesSection } from "./changes.js";
import { act, btn, type Status, type ViewContext } from "./common.js";
import { withProgress } from "./progress.js";

export async function power(ctx: ViewContext): Promise<void> {
  const [s, sum] = await Promise.all([
    ctx.api.get<Status>("/v1/status"),
    ctx.api.get<ChangeSummary>("/v1/changes"),
  ]);
  const progress = h("div", {});
  const exportNow = (button: HTMLButtonElement) =>
    act(ctx, button, async () => {
      const ok = await ctx.confirm({
        title: "Unmount and export?",
        body: [
          h(
            "p",
            {},
            `Everything under ${s.root} is unmounted and the pools (${s.pools.imported.join(", ") || "none imported"}) are exported, so that the server can import them cleanly when it boots.`,
          ),
        ],
        ok: "Unmount and export",
      });
      if (!ok) return;
      await withProgress(ctx, progress, () => ctx.api.post("/v1/export", {}));
      await ctx.refreshPhase();
      ctx.go("overview");
      ctx.notice("Unmounted and exported: ready to reboot into the server's own system.", "info");
    });
  const reboot = (button: HTMLButtonElement) =>
    act(ctx, button, async () => {
      const ok = await ctx.confirm({
        title: "Reboot the machine?",
        body: [
          h("p", {}, "The installed system is unmounted and its pools exported, then the machine restarts."),
          h(
            "p",
            { class: "warn" },
            "This page stops working: if the server boots its own system, Lifeboat is gone. If it boots the rescue medium again, there is a new token on the console.",
          ),
        ],
        ok: "Reboot now",
        danger: true,
      });
      if (!ok) return;
      await ctx.api.post("/v1/reboot", { export: true });
      ctx.notice("Rebooting.", "info");
    });
  clear(
    ctx.main,
    h("h1", {}, "Export and reboot"),
    h(
      "section",
      {},
      h("h2", {}, "Hand the pools back"),
      h("p", {}, "Do this when you are done, before the server boots its own system."),
      btn("Unmount and export…", (e) => void exportNow(e.currentTarget as HTMLButtonElement), "", "export"),
      progress,
    ),
    changesSection(sum),
    h(
      "section",
      {},
      h("h2", {}, "Reboot"),
      btn("Reboot…", (e) => void reboot(e.currentTarget as HTMLButtonElement), "danger", "reboot"),
    ),
  );
}
