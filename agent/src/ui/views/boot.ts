import { applyKernelParams } from "../diff.js";
import { clear, h, kv } from "../dom.js";
import { act, btn, type ViewContext } from "./common.js";

interface BootEntry {
  id: string;
  title: string | null;
  version: string | null;
  options: string[];
  generation: number | null;
  isDefault: boolean;
  hasBackup: boolean;
}

function paramDiff(before: string[], after: string[]): HTMLElement {
  return h(
    "pre",
    { class: "diff" },
    ...before.filter((p) => !after.includes(p)).map((p) => h("div", { class: "del" }, `- ${p}`)),
    ...after.filter((p) => !before.includes(p)).map((p) => h("div", { class: "add" }, `+ ${p}`)),
  );
}

export async function boot(ctx: ViewContext): Promise<void> {
  const b = await ctx.api.get<{
    loader: string;
    default: string | null;
    entries: BootEntry[];
    notes?: string[];
  }>("/v1/boot");
  const editor = (e: BootEntry): HTMLElement => {
    const add = h("input", {
      type: "text",
      id: `add-${e.id}`,
      placeholder: "e.g. systemd.unit=rescue.target nomodeset",
      size: 40,
    });
    const removes = e.options.map((o) => h("input", { type: "checkbox", value: o }));
    const apply = (button: HTMLButtonElement) =>
      act(ctx, button, async () => {
        const toAdd = add.value.split(/\s+/).filter(Boolean);
        const toRemove = removes.filter((r) => r.checked).map((r) => r.value);
        if (!toAdd.length && !toRemove.length)
          return ctx.notice("Nothing to change: add a parameter or tick one to remove.");
        const after = applyKernelParams(e.options, toAdd, toRemove);
        const ok = await ctx.confirm({
          title: `Change kernel parameters of “${e.title ?? e.id}”?`,
          body: [
            h(
              "p",
              {},
              `Boot entry ${e.id} on the EFI partition. The original is kept and can be restored with “Revert”.`,
            ),
            paramDiff(e.options, after),
            h("p", { class: "muted" }, `Result: ${after.join(" ")}`),
          ],
          ok: "Change the boot entry",
        });
        if (!ok) return;
        await ctx.api.post(`/v1/boot/entries/${encodeURIComponent(e.id)}/kernel-params`, {
          add: toAdd,
          remove: toRemove,
        });
        ctx.rerender();
        ctx.notice(`Boot entry ${e.id} changed.`, "info");
      });
    return h(
      "details",
      {},
      h("summary", {}, "Kernel parameters hotfix"),
      h("div", { class: "row" }, h("label", { for: `add-${e.id}` }, "Add"), add),
      e.options.length
        ? h(
            "div",
            {},
            h("p", { class: "muted" }, "Remove:"),
            ...e.options.map((o, i) => h("label", {}, removes[i], h("code", {}, o))),
          )
        : null,
      h(
        "div",
        { class: "row" },
        btn("Preview and apply…", (ev) => void apply(ev.currentTarget as HTMLButtonElement), "primary"),
      ),
    );
  };
  const revert = (e: BootEntry, button: HTMLButtonElement) =>
    act(ctx, button, async () => {
      const ok = await ctx.confirm({
        title: `Restore the original boot entry ${e.id}?`,
        body: [h("p", {}, "The entry goes back to what it was before Lifeboat changed it.")],
        ok: "Restore",
      });
      if (!ok) return;
      await ctx.api.post(`/v1/boot/entries/${encodeURIComponent(e.id)}/revert`, {});
      ctx.rerender();
      ctx.notice(`Boot entry ${e.id} restored.`, "info");
    });
  clear(
    ctx.main,
    h("h1", {}, "Boot entries"),
    h("p", {}, `Boot loader: ${b.loader}${b.default ? `, default entry ${b.default}` : ""}.`),
    b.loader === "grub"
      ? h("p", { class: "warn" }, "GRUB entries are shown read-only: change the generation default instead.")
      : null,
    ...(b.notes ?? []).map((n) => h("p", { class: "muted" }, n)),
    ...b.entries.map((e) =>
      h(
        "section",
        { "aria-label": e.title ?? e.id },
        h("h2", {}, e.title ?? e.id, e.isDefault ? h("span", { class: "badge ok" }, " default") : null),
        kv([
          ["Entry", h("code", {}, e.id)],
          ["Version", e.version ?? ""],
          ["Options", h("code", {}, e.options.join(" "))],
        ]),
        b.loader === "systemd-boot" ? editor(e) : null,
        e.hasBackup
          ? btn("Revert to the original…", (ev) => void revert(e, ev.currentTarget as HTMLButtonElement))
          : null,
      ),
    ),
  );
}
