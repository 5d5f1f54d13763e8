import { clear, h, table } from "../dom.js";
import { act, type Status, type ViewContext } from "./common.js";
import { readWriteNotice } from "./progress.js";

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

interface BootEntry {
  generation: number | null;
  name: string;
  id: string;
}

export async function generations(ctx: ViewContext): Promise<void> {
  const [{ generations: gens }, s, boot] = await Promise.all([
    ctx.api.get<{ generations: Generation[] }>("/v1/generations"),
    ctx.api.get<Status>("/v1/status"),
    ctx.api.get<{ entries: BootEntry[] }>("/v1/boot").catch(() => ({ entries: [] as BootEntry[] })),
  ]);
  const readonly = s.mounted?.readonly === true;
  const current = gens.find((g) => g.bootDefault);
  // As the boot menu names it: "NixOS (Generation 3 NixOS 24.11…, Linux Kernel 6.6.69, Built on …)".
  const menuName = (g: Generation) =>
    boot.entries.find((e) => e.generation === g.number && !e.id.includes("specialisation"))?.name ??
    `Generation ${g.number} (NixOS ${g.nixosVersion ?? "?"}, Linux ${g.kernelVersion ?? "?"})`;
  const setDefault = (g: Generation, button: HTMLButtonElement) =>
    act(ctx, button, async () => {
      const ok = await ctx.confirm({
        title: `Boot generation ${g.number} by default?`,
        body: [
          h("p", {}, "The boot menu will start this entry by default:"),
          h("p", {}, h("strong", {}, menuName(g))),
          current ? h("p", {}, `instead of: ${menuName(current)}`) : null,
          h(
            "p",
            {},
            "A snapshot of the pool is taken first. Nothing else changes; older generations stay in the menu.",
          ),
        ],
        ok: `Boot generation ${g.number} by default`,
      });
      if (!ok) return;
      const r = await ctx.api.post<{ snapshot?: string | null; unchanged?: boolean }>("/v1/boot/default", {
        generation: g.number,
      });
      ctx.rerender();
      ctx.notice(
        r.unchanged
          ? `Generation ${g.number} already was the boot default: nothing changed, no snapshot taken.`
          : `Generation ${g.number} is now the boot default.${r?.snapshot ? ` Snapshot taken before: ${r.snapshot}.` : ""}`,
        "info",
      );
    });
  clear(
    ctx.main,
    h("h1", {}, "Generations"),
    readWriteNotice(ctx, s),
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
                disabled: !g.closurePresent || readonly,
                title: readonly ? "needs the installed system mounted read-write" : undefined,
                onclick: (e: Event) => void setDefault(g, e.currentTarget as HTMLButtonElement),
              },
              "Boot this by default…",
            ),
      ]),
      "Generations",
    ),
  );
}
