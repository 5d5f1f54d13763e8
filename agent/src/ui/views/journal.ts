import { clear, h } from "../dom.js";
import { btn, type ViewContext } from "./common.js";

interface JournalEntry {
  cursor: string;
  time: string | null;
  priority: number | null;
  unit: string | null;
  identifier: string | null;
  message: string;
}
const PRIORITIES = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"];

export async function journal(ctx: ViewContext): Promise<void> {
  const boots = await ctx.api
    .get<{ boots: Record<string, unknown>[] }>("/v1/journal/boots")
    .catch(() => ({ boots: [] as Record<string, unknown>[] }));
  const bootSel = h(
    "select",
    { id: "journal-boot" },
    ...(boots.boots.length
      ? boots.boots.map((b) => {
          const idx = String(b.index ?? b.offset ?? "");
          const when = String(b.first ?? b.firstEntry ?? b.start ?? "");
          return h(
            "option",
            { value: idx, selected: idx === "-1" },
            `${idx === "0" ? "last boot" : idx === "-1" ? "previous boot" : `boot ${idx}`}${when ? ` (${when})` : ""}`,
          );
        })
      : [h("option", { value: "-1" }, "previous boot"), h("option", { value: "0" }, "last boot")]),
  );
  const prio = h(
    "select",
    { id: "journal-priority" },
    h("option", { value: "" }, "everything"),
    ...PRIORITIES.slice(0, 7).map((p, i) =>
      h("option", { value: String(i), selected: i === 4 }, `${p} and worse`),
    ),
  );
  const unit = h("input", { type: "text", id: "journal-unit", placeholder: "e.g. sshd.service", size: 20 });
  const rows = h("tbody", {});
  const more = btn("Load more", () => void load(false), "", "journal-more");
  more.hidden = true;
  let cursor: string | null = null;
  const load = async (fresh: boolean) => {
    const q = new URLSearchParams({ boot: bootSel.value || "-1", limit: "200" });
    if (prio.value) q.set("priority", prio.value);
    if (unit.value.trim()) q.set("unit", unit.value.trim());
    if (!fresh && cursor) q.set("cursor", cursor);
    try {
      const r = await ctx.api.get<{ entries: JournalEntry[]; nextCursor: string | null }>(`/v1/journal?${q}`);
      if (fresh) rows.replaceChildren();
      for (const e of r.entries)
        rows.append(
          h(
            "tr",
            {},
            h("td", {}, e.time ? new Date(e.time).toLocaleString() : ""),
            h(
              "td",
              { class: e.priority === null ? "" : e.priority <= 3 ? "bad" : e.priority === 4 ? "warn" : "" },
              e.priority === null ? "" : (PRIORITIES[e.priority] ?? String(e.priority)),
            ),
            h("td", {}, e.unit ?? e.identifier ?? ""),
            h("td", {}, h("pre", {}, e.message)),
          ),
        );
      if (fresh && !r.entries.length) rows.append(h("tr", {}, h("td", { colspan: 4 }, "No entries.")));
      cursor = r.nextCursor;
      more.hidden = !cursor;
    } catch (err) {
      ctx.error(err);
    }
  };
  clear(
    ctx.main,
    h("h1", {}, "Journal of the installed system"),
    h(
      "form",
      {
        class: "row",
        onsubmit: (e: Event) => {
          e.preventDefault();
          void load(true);
        },
      },
      h("label", { for: "journal-boot" }, "Boot"),
      bootSel,
      h("label", { for: "journal-priority" }, "Show"),
      prio,
      h("label", { for: "journal-unit" }, "Unit"),
      unit,
      h("button", { class: "primary" }, "Show"),
    ),
    h(
      "div",
      { class: "scroll" },
      h(
        "table",
        { "aria-label": "Journal" },
        h("thead", {}, h("tr", {}, ...["Time", "Level", "Unit", "Message"].map((t) => h("th", {}, t)))),
        rows,
      ),
    ),
    more,
  );
  await load(true);
}
