import type { Evidence, Proposal, ApiRequest as Request } from "../../core/diagnosis.js";
import { ApiError } from "../api.js";
import { clear, h } from "../dom.js";
import { act, btn, type ViewContext } from "./common.js";

export interface DiagnosisView {
  summary: string;
  sentence: string;
  journal: { state: string; detail: string | null };
  proposals: Proposal[];
  notes: string[];
}

/** A request as the operator confirms it; a config edit's whole new file is shown as its diff instead. */
const requestText = (r: Request) =>
  `${r.method} ${r.path}${r.body ? ` ${r.method === "PUT" ? "(the edited file, diff above)" : JSON.stringify(r.body)}` : ""}`;

function evidenceList(ev: Evidence[]): HTMLElement {
  return h(
    "details",
    {},
    h("summary", {}, `Evidence (${ev.length})`),
    h(
      "ul",
      { class: "evidence" },
      ...ev.map((e) =>
        h(
          "li",
          {},
          h("span", { class: "badge" }, e.kind),
          " ",
          e.detail,
          " ",
          h("code", { class: "muted" }, e.ref),
        ),
      ),
    ),
  );
}

/** Runs a proposal's requests after the operator confirmed exactly those requests. */
async function apply(ctx: ViewContext, p: Proposal, button: HTMLButtonElement): Promise<void> {
  await act(ctx, button, async () => {
    if (p.kind === "open-config") {
      ctx.go("config");
      if (p.config) ctx.notice(`Open ${p.config.path} and look at line ${p.config.line}.`, "info");
      return;
    }
    const ok = await ctx.confirm({
      title: `${p.title}?`,
      body: [
        h("p", {}, p.why),
        p.caution ? h("p", { class: p.kind === "snapshot-rollback" ? "bad" : "warn" }, p.caution) : null,
        p.diff ? h("pre", { class: "diff" }, p.diff) : null,
        h("p", {}, "These requests are sent, in this order:"),
        h("pre", {}, p.requests.map(requestText).join("\n")),
      ],
      ok: p.kind === "snapshot-rollback" ? "Roll back" : "Do it",
      danger: p.kind === "snapshot-rollback",
    });
    if (!ok) return;
    try {
      for (const r of p.requests) await ctx.api.request(r.method, r.path, r.body ?? {}, r.headers ?? {});
    } catch (err) {
      if (err instanceof ApiError && err.code === "read-only-mount")
        return ctx.notice(`${err.message} — use the Mount view to re-mount read-write, then come back.`);
      throw err;
    }
    ctx.rerender();
    ctx.notice(`Done: ${p.title}.`, "info");
  });
}

function proposalCard(ctx: ViewContext, p: Proposal): HTMLElement {
  return h(
    "li",
    { class: "proposal", "data-kind": p.kind },
    h("strong", {}, p.title),
    p.basis === "guess" ? h("span", { class: "badge warn", title: "no journal evidence" }, " guess") : null,
    h("p", {}, p.why),
    p.caution ? h("p", { class: "muted" }, p.caution) : null,
    p.diff ? h("pre", { class: "diff" }, p.diff) : null,
    h("pre", { class: "request" }, p.requests.map(requestText).join("\n")),
    evidenceList(p.evidence),
    h(
      "div",
      { class: "row" },
      btn(
        p.kind === "open-config" ? "Open the configuration" : "Review and do it…",
        (e) => void apply(ctx, p, e.currentTarget as HTMLButtonElement),
        p.kind === "snapshot-rollback" ? "" : "primary",
      ),
    ),
  );
}

/** The overview's first section: the diagnosis sentence, its summary and the proposed fixes. */
export function diagnosisSection(ctx: ViewContext): HTMLElement {
  const box = h(
    "section",
    { "aria-label": "Diagnosis", id: "diagnosis" },
    h("h2", {}, "Diagnosis"),
    h("p", { class: "muted" }, "Reading the installed system's journal and generations…"),
  );
  void ctx.api
    .get<DiagnosisView>("/v1/diagnosis")
    .then((d) =>
      clear(
        box,
        h("h2", {}, "Diagnosis"),
        h("p", { id: "diagnosis-sentence" }, h("strong", {}, d.sentence)),
        h("p", { class: "muted", id: "diagnosis-summary" }, d.summary.slice(d.sentence.length).trim()),
        d.proposals.length
          ? h(
              "div",
              {},
              h("h3", {}, "Proposed fixes (nothing runs until you confirm)"),
              h("ol", { "aria-label": "Proposed fixes" }, ...d.proposals.map((p) => proposalCard(ctx, p))),
            )
          : h("p", {}, "No fix to propose from what the disk shows."),
        ...d.notes.map((n) => h("p", { class: "muted" }, n)),
      ),
    )
    .catch((err) => {
      if (ctx.signal.aborted) return;
      clear(
        box,
        h("h2", {}, "Diagnosis"),
        h("p", { class: "warn" }, `Not available: ${(err as Error).message}`),
      );
    });
  return box;
}
