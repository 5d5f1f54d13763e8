import { humanBytes } from "../core/zfsSpace.js";
import type { AuditEntry } from "./audit.js";

/** How to undo one change: a sentence for people and, where one exists, the request that does it. */
export interface Undo {
  text: string;
  request: { method: "POST"; path: string; body: Record<string, unknown> } | null;
}

export interface ChangeLine {
  at: string;
  action: string;
  /** What changed, in words: "boot default: generation 3 → 2". */
  what: string;
  /** Where: the file or entry. */
  where: string | null;
  result: "ok" | "failed" | "started";
  /** The snapshot taken just before it (ZFS), null without one. */
  snapshot: string | null;
  undo: Undo | null;
}

export interface ChangeSummary {
  /** nothing-changed: no change to the installed system yet; changed: some, still mounted;
   *  ready-to-reboot: exported after the changes (or without any). */
  state: "nothing-changed" | "changed" | "ready-to-reboot";
  sentence: string;
  changes: ChangeLine[];
  /** Changes asked for that failed (and were rolled back or refused). */
  failed: ChangeLine[];
  /** Snapshots taken before the changes, oldest first. */
  snapshots: string[];
}

/** Actions that change the installed system (mounts and exports are not listed as changes). */
const CHANGES = new Set([
  "boot-default",
  "kernel-params",
  "kernel-params-revert",
  "config-write",
  "profile-switch",
  "rebuild",
  "snapshot-rollback",
  "esp-free",
  "snapshot-destroy",
]);

const generationOf = (file: unknown) =>
  typeof file === "string" ? Number(/generation-(\d+)/.exec(file)?.[1]) || null : null;

function line(e: AuditEntry): ChangeLine {
  const r = (e.detail.result ?? {}) as Record<string, unknown>;
  const snapshot = typeof e.detail.snapshot === "string" ? e.detail.snapshot : null;
  const short = snapshot?.split("@")[1] ?? null;
  const rollback: Undo | null =
    snapshot && short
      ? {
          text: `roll the pool back to ${snapshot} (undoes this and every later change)`,
          request: { method: "POST", path: `/v1/snapshots/${short}/rollback`, body: { confirm: short } },
        }
      : null;
  switch (e.action) {
    case "boot-default": {
      const prev = generationOf(r.previous);
      return {
        at: e.at,
        action: e.action,
        what: `boot default: ${prev !== null ? `generation ${prev} → ` : ""}${e.target ?? "?"}`,
        where: typeof r.backup === "string" ? r.backup.replace(/\.lifeboat-orig$/, "") : null,
        result: e.result,
        snapshot,
        undo:
          prev !== null
            ? {
                text: `set the boot default back to generation ${prev}`,
                request: { method: "POST", path: "/v1/boot/default", body: { generation: prev } },
              }
            : rollback,
      };
    }
    case "kernel-params": {
      const before = (r.before as string[] | undefined) ?? [];
      const after = (r.after as string[] | undefined) ?? [];
      const added = after.filter((p) => !before.includes(p));
      const removed = before.filter((p) => !after.includes(p));
      return {
        at: e.at,
        action: e.action,
        what: `kernel parameters of ${e.target}: ${[...added.map((p) => `+${p}`), ...removed.map((p) => `-${p}`)].join(" ") || "edited"}`,
        where: typeof r.backup === "string" ? r.backup.replace(/\.lifeboat-orig$/, "") : e.target,
        result: e.result,
        snapshot,
        undo: {
          text: `restore the entry from its backup (${typeof r.backup === "string" ? r.backup : "kept beside it"})`,
          request: {
            method: "POST",
            path: `/v1/boot/entries/${encodeURIComponent(e.target ?? "")}/revert`,
            body: {},
          },
        },
      };
    }
    case "config-write":
      return {
        at: e.at,
        action: e.action,
        what: `edited ${e.target}`,
        where: e.target,
        result: e.result,
        snapshot,
        undo:
          typeof r.backup === "string"
            ? { text: `the previous version is kept as ${r.backup}`, request: null }
            : rollback,
      };
    case "esp-free":
      // The ESP (vfat) is in no snapshot: the removed files are copied to the installed root first.
      return {
        at: e.at,
        action: e.action,
        what: `freed the ESP: removed the boot entries of ${e.target ?? "older generations"}`,
        where: e.target,
        result: e.result,
        snapshot,
        undo:
          typeof r.backup === "string"
            ? {
                text: `the removed files are kept in ${r.backup} on the installed system: copy them back to the ESP`,
                request: null,
              }
            : null,
      };
    case "snapshot-destroy": {
      // No snapshot before it (a full pool cannot take one, and it could not bring these back).
      const names = Array.isArray(r.snapshots) ? (r.snapshots as string[]) : [];
      const freed = typeof r.freed === "number" ? r.freed : null;
      return {
        at: e.at,
        action: e.action,
        what: `destroyed ${names.length} snapshot${names.length === 1 ? "" : "s"} of ${e.target ?? "the pool"}${freed !== null ? ` (${humanBytes(Math.max(0, freed))} freed)` : ""}: ${names.join(", ")}`,
        where: e.target,
        result: e.result,
        snapshot: null,
        undo: { text: "none: a destroyed snapshot cannot be brought back", request: null },
      };
    }
    default:
      return {
        at: e.at,
        action: e.action,
        what: `${e.action.replace(/-/g, " ")}${e.target ? `: ${e.target}` : ""}`,
        where: e.target,
        result: e.result,
        snapshot,
        undo: e.action === "snapshot-rollback" ? null : rollback,
      };
  }
}

/**
 * What this rescue changed, from the audit (newest first in, oldest first out): each change with
 * the snapshot taken before it and how to undo it; `exported`: the pools were handed back since.
 */
export function summarize(audit: readonly AuditEntry[], mounted: boolean): ChangeSummary {
  const oldestFirst = [...audit].reverse();
  const relevant = oldestFirst.filter((e) => CHANGES.has(e.action) && e.detail.unchanged !== true);
  const changes = relevant.filter((e) => e.result !== "failed").map(line);
  const failed = relevant.filter((e) => e.result === "failed").map(line);
  const lastExport = oldestFirst.filter((e) => e.action === "export" || e.action === "reboot").at(-1);
  const exported = !mounted && lastExport?.result === "ok";
  const snapshots = [...new Set(changes.map((c) => c.snapshot).filter((s): s is string => s !== null))];
  const n = changes.length;
  const what = n === 0 ? "nothing was changed" : `${n} change${n === 1 ? "" : "s"}`;
  return {
    state: exported ? "ready-to-reboot" : n === 0 ? "nothing-changed" : "changed",
    sentence: exported
      ? `Ready to reboot: the pools are exported; ${what}${n ? ` (${snapshots.length} snapshot${snapshots.length === 1 ? "" : "s"} before them)` : ""}.`
      : n === 0
        ? "Nothing has been changed on the disks by this rescue yet."
        : `This rescue made ${what} to the installed system.`,
    changes,
    failed,
    snapshots,
  };
}
