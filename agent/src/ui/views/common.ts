import type { Api } from "../api.js";
import { type Child, h } from "../dom.js";

export interface Status {
  version: string;
  phase: string;
  summary: string;
  root: string;
  zfs: { available: boolean; version: string | null; reason: string | null };
  mounted: {
    pool: string | null;
    source: string;
    readonly: boolean;
    mounts: { source: string; target: string; fstype: string }[];
  } | null;
  candidates: {
    id: string;
    kind: string;
    pool?: string;
    device?: string;
    state?: string;
    reasons: string[];
    disks: string[];
  }[];
  pools: { importable: string[]; imported: string[] };
  esps: string[];
  luks: { device: string; name: string; opened: string | null }[];
  locked: string[];
  warnings: string[];
  busy: {
    name: string;
    since: string;
    kind: "change" | "reading";
    step: string | null;
    steps: string[];
    waitingFor: string[];
  } | null;
  diagnosis: { state: string; since: string | null; step: string | null; computedAt: string | null };
  installed: { journal: "persistent" | "none" } | null;
  autoMount: { mode: string; state: string; detail: string | null };
  urls: string[];
  tls?: { fingerprint: string } | null;
  /** Entries of the system the mount in place left out, and why. */
  skipped?: SkippedEntry[];
  /** The pools of the mount in place and why each was imported. */
  systemPools?: { pool: string; importedBecause: string; readonly: boolean }[];
}

export interface SkippedEntry {
  kind: string;
  path: string;
  source: string;
  reason: string;
  essential: boolean;
}

const KIND_WORDS: Record<string, string> = {
  fstab: "fstab line",
  "mount-unit": "mount unit",
  dataset: "dataset",
  pool: "pool",
};

/** What a mount left out (unsafe, broken, locked), one line each: where, what, why. */
export function skippedList(
  list: readonly SkippedEntry[] | undefined,
  label = "Not mounted (skipped)",
): Child {
  if (!list?.length) return null;
  return h(
    "section",
    { "aria-label": label, id: "skipped" },
    h("h2", {}, label),
    h(
      "p",
      {},
      "Everything else is mounted. These entries of the installed system were left out; a read-write mount needs each of them fixed or acknowledged.",
    ),
    h(
      "ul",
      { class: "warnings" },
      ...list.map((e) =>
        h(
          "li",
          {},
          h("strong", {}, e.path || e.source),
          ` (${KIND_WORDS[e.kind] ?? e.kind}${e.path && e.source ? ` ${e.source}` : ""}): ${e.reason}`,
        ),
      ),
    ),
  );
}

export interface ViewContext {
  api: Api;
  main: HTMLElement;
  signal: AbortSignal;
  confirm: (o: { title: string; body: Child[]; ok: string; danger?: boolean }) => Promise<boolean>;
  notice: (text: string | null, kind?: "error" | "info") => void;
  error: (err: unknown) => void;
  refreshPhase: () => Promise<Status | null>;
  go: (view: string) => void;
  rerender: () => void;
}

export const PHASE_WORDS: Record<string, [string, string]> = {
  "nothing-found": ["Nothing found", "bad"],
  found: ["Found, not mounted", "warn"],
  imported: ["Pool imported, not mounted", "warn"],
  locked: ["Locked: needs a passphrase", "warn"],
  "mounted-ro": ["Mounted read-only", "ok"],
  "mounted-rw": ["Mounted read-write", "ok"],
};

/** Runs an action from a button: disables it meanwhile, reports errors in plain words. */
export async function act(
  ctx: ViewContext,
  button: HTMLButtonElement | null,
  fn: () => Promise<void>,
): Promise<void> {
  if (button) button.disabled = true;
  ctx.notice(null);
  try {
    await fn();
  } catch (err) {
    ctx.error(err);
  } finally {
    if (button) button.disabled = false;
  }
}

export const btn = (label: string, onclick: (e: Event) => void, cls = "", id?: string) =>
  h("button", { type: "button", class: cls, onclick, id }, label);

export function warnings(list: string[]): Child {
  return list.length
    ? h("ul", { class: "warnings", "aria-label": "Warnings" }, ...list.map((w) => h("li", {}, w)))
    : null;
}
