import { ApiError } from "../api.js";
import { type Child, clear, h } from "../dom.js";
import { act, btn, type SkippedEntry, type Status, skippedList, type ViewContext } from "./common.js";

export interface PlanStep {
  kind: string;
  pool?: string;
  readonly?: boolean;
  altroot?: string;
  source?: string;
  target?: string;
  path?: string;
  fstype?: string;
  options?: string[];
  importedBecause?: string;
}
export interface Plan {
  candidate: string;
  readonly: boolean;
  root: string;
  complete: boolean;
  steps: PlanStep[];
  notes: string[];
  /** Entries of the system that will not be mounted, and why. */
  refused?: SkippedEntry[];
  /** Read-only → read-write: what is released first. */
  release?: { kind: "unmount" | "export-pool"; target: string }[];
}

function stepText(s: PlanStep): string {
  if (s.kind === "import-pool")
    return `Import pool ${s.pool} ${s.readonly ? "read-only" : "read-write"} under ${s.altroot}${s.importedBecause ? ` (because: ${s.importedBecause})` : ""}`;
  if (s.kind === "mount")
    return `Mount ${s.source} on ${s.path} (${s.target}, ${s.fstype}${s.options?.length ? `, ${s.options.join(",")}` : ""})`;
  return `${s.kind} ${[s.pool, s.source, s.target].filter(Boolean).join(" ")}`;
}

export function planView(p: Plan): HTMLElement {
  const release = (p.release ?? []).map((r) =>
    r.kind === "unmount" ? `Unmount ${r.target}` : `Export pool ${r.target} (to import it again read-write)`,
  );
  return h(
    "div",
    { class: "plan" },
    h("p", {}, `${p.readonly ? "Read-only" : "Read-write"} mount of ${p.candidate} at ${p.root}:`),
    h(
      "ol",
      { class: "plan" },
      ...release.map((t) => h("li", {}, t)),
      ...p.steps.map((s) => h("li", {}, stepText(s))),
    ),
    skippedList(p.refused, "Left out"),
    p.notes.length ? h("ul", { class: "warnings" }, ...p.notes.map((n) => h("li", {}, n))) : null,
    p.complete
      ? null
      : h(
          "p",
          { class: "warn" },
          "Not final yet: the rest is decided once more is known (see the notes above).",
        ),
  );
}

/**
 * Run a long request (a mount, a re-mount, an export) while showing, in `box`, what it does: the
 * readers it waits for, each step as it finishes and the one it is on (from /v1/status `busy`).
 */
export async function withProgress<T>(ctx: ViewContext, box: HTMLElement, fn: () => Promise<T>): Promise<T> {
  let running = true;
  const poll = async () => {
    while (running) {
      const s = await ctx.api.get<Status>("/v1/status").catch(() => null);
      const b = s?.busy;
      if (running && b && b.kind === "change") {
        const items: Child[] = [
          ...b.steps.map((t) => h("li", { class: "done" }, t)),
          b.waitingFor.length
            ? h("li", { class: "now" }, `waiting for ${b.waitingFor.join(", ")} to finish…`)
            : b.step
              ? h("li", { class: "now" }, `${b.step}…`)
              : null,
        ];
        clear(box, h("ol", { class: "progress", "aria-live": "polite", id: "progress" }, ...items));
      }
      await new Promise((r) => setTimeout(r, 400));
    }
  };
  const polling = poll();
  try {
    return await fn();
  } finally {
    running = false;
    await polling;
  }
}

/** Re-mount read-write: the plan (unmount, export, import, mounts) confirmed, then done with progress. */
export async function remountReadWrite(ctx: ViewContext, button: HTMLButtonElement | null, box: HTMLElement) {
  await act(ctx, button, async () => {
    const plan = await ctx.api.get<Plan>("/v1/plan?readonly=false");
    const ok = await ctx.confirm({
      title: "Re-mount read-write?",
      body: [
        planView(plan),
        h(
          "p",
          { class: "warn" },
          "Read-write: Lifeboat may change the installed system from now on (each change takes a snapshot first).",
        ),
      ],
      ok: "Re-mount read-write",
    });
    if (!ok) return;
    if (!(await postMount(ctx, box, { readonly: false }))) return;
    await ctx.refreshPhase();
    ctx.rerender();
    ctx.notice("Re-mounted read-write: changes can be made now.", "info");
  });
}

/**
 * Above every change form while the system is mounted read-only: it says so before anything is
 * filled in, with the re-mount one click away.
 */
export function readWriteNotice(ctx: ViewContext, s: Status): HTMLElement | null {
  if (!s.mounted?.readonly) return null;
  const box = h("div", { class: "progress-box" });
  return h(
    "div",
    { class: "needs-rw", id: "needs-rw", role: "note" },
    h(
      "p",
      {},
      "Mounted read-only: the changes on this page need read-write. Re-mounting unmounts, exports and imports the pools again (about a minute on a big pool).",
    ),
    h(
      "div",
      { class: "row" },
      btn(
        "Re-mount read-write…",
        (e) => void remountReadWrite(ctx, e.currentTarget as HTMLButtonElement, box),
        "primary",
        "remount-rw",
      ),
    ),
    box,
  );
}

export interface MountAnswer {
  result: string;
  warnings: string[];
  notes?: string[];
  steps: string[];
  skipped?: SkippedEntry[];
}

/**
 * POST /v1/mount with its progress shown in `box`. A read-write mount that would leave entries out
 * (409 skipped-entries) asks the operator, naming them, and is sent again acknowledging them; null
 * when the operator declines.
 */
export async function postMount(
  ctx: ViewContext,
  box: HTMLElement,
  body: Record<string, unknown>,
): Promise<MountAnswer | null> {
  const send = (acceptSkipped?: string[]) =>
    withProgress(ctx, box, () =>
      ctx.api.post<MountAnswer>("/v1/mount", { ...body, ...(acceptSkipped ? { acceptSkipped } : {}) }),
    );
  try {
    return await send();
  } catch (err) {
    if (!(err instanceof ApiError) || err.code !== "skipped-entries") throw err;
    const left = (err.problem.skipped as SkippedEntry[] | undefined) ?? [];
    const again = await ctx.confirm({
      title: "Mount read-write without these?",
      body: [
        skippedList(left, "Would be left out"),
        h(
          "p",
          { class: "warn" },
          "A rebuild or a change may then depend on what is missing. Fix them on the disk, or go on without them.",
        ),
      ],
      ok: "Mount read-write without them",
      danger: true,
    });
    if (!again) return null;
    return send(left.map((e) => e.path || e.source));
  }
}
