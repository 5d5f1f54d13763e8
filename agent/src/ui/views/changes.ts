import type { ChangeSummary } from "../../app/summary.js";
import { h, table } from "../dom.js";

export type { ChangeSummary };

const time = (iso: string) => new Date(iso).toLocaleTimeString();

/** What this rescue changed (GET /v1/changes): each change, where, the snapshot before it, the undo. */
export function changesSection(sum: ChangeSummary): HTMLElement {
  return h(
    "section",
    { "aria-label": "What this rescue changed", id: "changes", "data-state": sum.state },
    h("h2", {}, "What this rescue changed"),
    h("p", { id: "changes-sentence" }, sum.sentence),
    sum.changes.length
      ? table(
          ["When", "What", "Where", "Snapshot before", "To undo"],
          sum.changes.map((c) => [
            time(c.at),
            c.what,
            c.where ? h("code", {}, c.where) : "",
            c.snapshot ? h("code", {}, c.snapshot) : "none",
            c.undo?.text ?? "",
          ]),
          "Changes",
        )
      : null,
    sum.failed.length
      ? h(
          "details",
          {},
          h("summary", {}, `${sum.failed.length} change(s) failed and were not made`),
          h("ul", {}, ...sum.failed.map((c) => h("li", {}, `${time(c.at)} ${c.what}`))),
        )
      : null,
  );
}
