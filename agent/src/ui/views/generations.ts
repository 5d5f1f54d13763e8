import { ApiError } from "../api.js";
import { clear, h, table } from "../dom.js";
import { act, type ViewContext } from "./common.js";

interface Generation {
  number: number;
  current: boolean;
  bootDefault: boolean;
  date: string | null;
  nixosVersion: string | null;
  kernelVersion: string | null;
  kernelParams: string[];
  closurePresent: boolean;
}

const needsRw = (err: unknown) =>
  err instanceof ApiError && (err.code === "read-only-mount" || err.code === "not-mounted");

export async function generations(ctx: ViewContext): Promise<void> {
  const { generations: gens } = await ctx.api.get<{ generations: Generation[] }>("/v1/generations");
  const current = gens.find((g) => g.bootDefault);
  const setDefault = (g: Generation, button: HTMLButtonElement) =>
    act(ctx, button, async () => {
      const ok = await ctx.confirm({
        title: `Boot generation ${g.number} by default?`,
        body: [
          h(
            "p",
            {},
            `The boot menu will start generation ${g.number} (NixOS ${g.nixosVersion ?? "?"}, kernel ${g.kernelVersion ?? "?"}) by default${current ? ` instead of generation ${current.number}` : ""}.`,
          ),
          h(
            "p",
            {},
            "A snapshot of the pool is taken first. Nothing else changes; older generations stay in the menu.",
          ),
        ],
        ok: `Boot generation ${g.number} by default`,
      });
      if (!ok) return;
      try {
        const r = await ctx.api.post<{ snapshot?: string | null }>("/v1/boot/default", {
          generation: g.number,
        });
        ctx.rerender();
        ctx.notice(
          `Generation ${g.number} is now the boot default.${r?.snapshot ? ` Snapshot: ${r.snapshot}.` : ""}`,
          "info",
        );
      } catch (err) {
        if (needsRw(err))
          ctx.notice(`${(err as Error).message} — use the Mount view to re-mount read-write.`);
        else throw err;
      }
    });
  clear(
    ctx.main,
    h("h1", {}, "Generations"),
    h(
      "p",
      { class: "muted" },
      "Each rebuild of the server made a generation. If the newest one broke the boot, make an older one the default.",
    ),
    table(
      ["#", "Date", "NixOS", "Kernel", "", ""],
      gens.map((g) => [
        h("strong", {}, String(g.number)),
        g.date ? new Date(g.date).toLocaleString() : "",
        g.nixosVersion ?? "",
        g.kernelVersion ?? "",
        h(
          "span",
          {},
          g.current ? h("span", { class: "badge" }, "current") : null,
          " ",
          g.bootDefault ? h("span", { class: "badge ok" }, "boot default") : null,
          g.closurePresent
            ? null
            : h(
                "span",
                { class: "badge bad", title: "its store paths are missing: it cannot boot" },
                "incomplete",
              ),
        ),
        g.bootDefault
          ? ""
          : h(
              "button",
              {
                type: "button",
                class: "set-default",
                "data-generation": g.number,
                disabled: !g.closurePresent,
                onclick: (e: Event) => void setDefault(g, e.currentTarget as HTMLButtonElement),
              },
              "Boot this by default…",
            ),
      ]),
      "Generations",
    ),
  );
}
