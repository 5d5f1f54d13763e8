import { applyKernelParams } from "../diff.js";
import { clear, h, kv } from "../dom.js";
import { act, btn, type Status, type ViewContext } from "./common.js";
import { readWriteNotice } from "./progress.js";

interface BootEntry {
  id: string;
  /** As the boot menu shows it. */
  name: string;
  /** Parameters the system cannot boot without: shown, never offered for removal. */
  protected: string[];
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
  const [b, s] = await Promise.all([
    ctx.api.get<{
      loader: string;
      default: string | null;
      entries: BootEntry[];
      notes?: string[];
    }>("/v1/boot"),
    ctx.api.get<Status>("/v1/status"),
  ]);
  const readonly = s.mounted?.readonly === true;
  const editor = (e: BootEntry): HTMLElement => {
    const add = h("input", {
      type: "text",
      id: `add-${e.id}`,
      placeholder: "e.g. systemd.unit=rescue.target nomodeset",
      size: 40,
    });
    const removes = e.options.map((o) =>
      h("input", {
        type: "checkbox",
        value: o,
        disabled: e.protected.includes(o),
        title: e.protected.includes(o) ? "the system cannot boot without it" : undefined,
      }),
    );
    const apply = (button: HTMLButtonElement) =>
      act(ctx, button, async () => {
        const toAdd = add.value.split(/\s+/).filter(Boolean);
        const toRemove = removes.filter((r) => r.checked).map((r) => r.value);
        if (!toAdd.length && !toRemove.length)
          return ctx.notice("Nothing to change: add a parameter or tick one to remove.");
        const after = applyKernelParams(e.options, toAdd, toRemove);
        const ok = await ctx.confirm({
          title: "Change the kernel parameters of this boot entry?",
          body: [
            h("p", {}, h("strong", {}, e.name)),
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
        const r = await ctx.api.post<{ unchanged?: boolean; snapshot?: string | null }>(
          `/v1/boot/entries/${encodeURIComponent(e.id)}/kernel-params`,
          { add: toAdd, remove: toRemove },
        );
        ctx.rerender();
        ctx.notice(
          r.unchanged
            ? `${e.name}: the parameters already were so; nothing changed, no snapshot taken.`
            : `${e.name} changed.${r.snapshot ? ` Snapshot taken before: ${r.snapshot}.` : ""}`,
          "info",
        );
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
            ...e.options.map((o, i) =>
              h(
                "label",
                {},
                removes[i],
                h("code", {}, o),
                e.protected.includes(o) ? h("span", { class: "muted" }, " (needed to boot: kept)") : null,
              ),
            ),
          )
        : null,
      h(
        "div",
        { class: "row" },
        h(
          "button",
          {
            type: "button",
            class: "primary",
            disabled: readonly,
            title: readonly ? "needs the installed system mounted read-write" : undefined,
            onclick: (ev: Event) => void apply(ev.currentTarget as HTMLButtonElement),
          },
          "Preview and apply…",
        ),
      ),
    );
  };
  const revert = (e: BootEntry, button: HTMLButtonElement) =>
    act(ctx, button, async () => {
      const ok = await ctx.confirm({
        title: "Restore the original boot entry?",
        body: [
          h("p", {}, h("strong", {}, e.name)),
          h("p", {}, "The entry goes back to what it was before Lifeboat changed it."),
        ],
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
    readWriteNotice(ctx, s),
    h("p", {}, `Boot loader: ${b.loader}${b.default ? `, default entry ${b.default}` : ""}.`),
    b.loader === "grub"
      ? h("p", { class: "warn" }, "GRUB entries are shown read-only: change the generation default instead.")
      : null,
    ...(b.notes ?? []).map((n) => h("p", { class: "muted" }, n)),
    ...b.entries.map((e) =>
      h(
        "section",
        { "aria-label": e.name, "data-entry": e.id },
        h("h2", {}, e.name, e.isDefault ? h("span", { class: "badge ok" }, " default") : null),
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
