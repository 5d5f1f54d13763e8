import type { Evidence, Proposal, ApiRequest as Request } from "../../core/diagnosis.js";
import { ApiError } from "../api.js";
import { clear, h } from "../dom.js";
import { act, type Status, type ViewContext } from "./common.js";

/** What this rescue already did about a proposal (from the audit). */
interface Done {
  at: string;
  action: string;
  target: string | null;
  snapshot: string | null;
}

export interface DiagnosisView {
  summary: string;
  sentence: string;
  journal: { state: string; detail: string | null };
  proposals: (Proposal & { done?: Done | null })[];
  findings?: { evidence: Evidence[] }[];
  notes: string[];
  computedAt?: string;
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

function proposalCard(
  ctx: ViewContext,
  p: Proposal & { done?: Done | null },
  readonly: boolean,
): HTMLElement {
  const blocked = readonly && p.needsReadWrite;
  return h(
    "li",
    { class: "proposal", "data-kind": p.kind, "data-done": p.done ? "yes" : "no" },
    h("strong", {}, p.title),
    p.basis === "guess" ? h("span", { class: "badge warn", title: "no journal evidence" }, " guess") : null,
    h("p", {}, p.why),
    p.caution ? h("p", { class: "muted" }, p.caution) : null,
    p.diff ? h("pre", { class: "diff" }, p.diff) : null,
    h("pre", { class: "request" }, p.requests.map(requestText).join("\n")),
    evidenceList(p.evidence),
    p.done
      ? h(
          "p",
          { class: "done-already" },
          `Already done at ${new Date(p.done.at).toLocaleTimeString()}${p.done.snapshot ? ` (snapshot taken before: ${p.done.snapshot})` : ""}.`,
        )
      : h(
          "div",
          { class: "row" },
          h(
            "button",
            {
              type: "button",
              class: p.kind === "snapshot-rollback" ? "" : "primary",
              disabled: blocked,
              onclick: (e: Event) => void apply(ctx, p, e.currentTarget as HTMLButtonElement),
            },
            p.kind === "open-config" ? "Open the configuration" : "Review and do it…",
          ),
          blocked ? h("span", { class: "muted" }, "needs read-write (re-mount above)") : null,
        ),
  );
}

/** While the diagnosis is computed: how long, and what it reads now (from /v1/status). */
async function progress(ctx: ViewContext, line: HTMLElement, done: () => boolean): Promise<void> {
  while (!done() && !ctx.signal.aborted) {
    const s = await ctx.api.get<Status>("/v1/status").catch(() => null);
    if (done()) return;
    const d = s?.diagnosis;
    if (d?.state === "running" && d.since) {
      const secs = Math.max(0, Math.round((Date.now() - Date.parse(d.since)) / 1000));
      clear(line, `Diagnosing for ${secs} s: ${d.step ?? "reading the installed system"}…`);
    } else if (s?.busy?.kind === "change") clear(line, `Waiting for ${s.busy.name} to finish…`);
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

/**
 * A boot that stops in stage 1 writes no journal: the operator can give what its console showed
 * (POST /v1/diagnosis/console); the diagnosis then cites the lines it recognises.
 */
function consoleBox(ctx: ViewContext, cited: Evidence[]): HTMLElement {
  const text = h("textarea", {
    id: "console-text",
    rows: "6",
    "aria-label": "Console text of the failed boot",
    placeholder: "Paste what the console showed (a serial log, the text of a photo of the screen)",
  });
  const button = h("button", { type: "button" }, "Read it");
  button.addEventListener("click", () =>
    act(ctx, button, async () => {
      const r = await ctx.api.post<{ lines: number; found: unknown[] }>("/v1/diagnosis/console", {
        text: text.value,
      });
      // the overview again (its diagnosis computed with the capture), the notice kept
      ctx.rerender();
      ctx.notice(`${r.lines} lines read, ${r.found.length} the diagnosis can cite.`, "info");
    }),
  );
  return h(
    "details",
    { id: "diagnosis-console", ...(cited.length ? { open: "" } : {}) },
    h("summary", {}, cited.length ? `Console lines cited (${cited.length})` : "Console of the failed boot"),
    cited.length
      ? h("ul", { class: "evidence" }, ...cited.map((e) => h("li", {}, h("code", {}, e.detail), ` ${e.ref}`)))
      : null,
    text,
    button,
  );
}

/** The overview's first section: the diagnosis sentence, its summary and the proposed fixes. */
export function diagnosisSection(ctx: ViewContext, s: Status): HTMLElement {
  const line = h(
    "p",
    { class: "muted", id: "diagnosis-progress" },
    "Reading the installed system's journal and generations…",
  );
  const box = h("section", { "aria-label": "Diagnosis", id: "diagnosis" }, h("h2", {}, "Diagnosis"), line);
  const readonly = s.mounted?.readonly === true;
  let finished = false;
  void progress(ctx, line, () => finished);
  void ctx.api
    .get<DiagnosisView>("/v1/diagnosis")
    .finally(() => {
      finished = true;
    })
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
              h(
                "ol",
                { "aria-label": "Proposed fixes" },
                ...d.proposals.map((p) => proposalCard(ctx, p, readonly)),
              ),
            )
          : h("p", {}, "No fix to propose from what the disk shows."),
        ...d.notes.map((n) => h("p", { class: "muted" }, n)),
        consoleBox(
          ctx,
          (d.findings?.[0]?.evidence ?? []).filter((e) => e.kind === "console"),
        ),
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
