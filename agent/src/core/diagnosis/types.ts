import type { PackageDiff, UnitDiff } from "../closure.js";
import type { ChangedLine, GitCommit } from "../gitlog.js";
import type { InitrdInfo } from "../initrd.js";
import type { BootMilestones, FailedUnit, Located } from "../journalBoots.js";

/** The diagnosis's facts (what app/diagnosis.ts gathers) and its answer (what GET /v1/diagnosis returns). */

/** Where a claim comes from: a journal entry (cursor), a file or store path, a snapshot, a commit. */
export interface Evidence {
  kind: "journal" | "file" | "store-path" | "snapshot" | "git" | "boot-entry";
  ref: string;
  detail: string;
}

export interface BootFacts {
  bootId: string;
  index: number;
  first: string | null;
  last: string | null;
  cmdline: Located<string> | null;
  milestones: BootMilestones;
  failedUnits: FailedUnit[];
  kernelErrors: Located<string>[];
  lastEntry: Located<string> | null;
}

export interface InitrdFacts {
  path: string | null;
  info: InitrdInfo | null;
  note: string | null;
}

export interface GenerationFacts {
  number: number;
  date: string | null;
  toplevel: string | null;
  closurePresent: boolean;
  current: boolean;
  bootDefault: boolean;
  nixosVersion: string | null;
  kernelVersion: string | null;
  kernelParams: string[];
  /** Toplevels of its specialisations (a boot of one counts for the generation). */
  specialisations: string[];
  /** systemd-boot entry id (`nixos-generation-N`), null without one. */
  bootEntry: string | null;
  initrd: InitrdFacts;
  /** etc/systemd/system: unit → link target; null when unreadable. */
  units: Map<string, string> | null;
  /** Store paths the generation links to (toplevel links + sw); null when unreadable. */
  packages: string[] | null;
}

export type JournalState = "ok" | "missing" | "volatile" | "unreadable" | "empty";

export interface JournalFacts {
  state: JournalState;
  dir: string | null;
  detail: string | null;
  bootsTotal: number;
  bootsExamined: number;
  firstEntry: string | null;
}

export interface GitFacts {
  state: "ok" | "no-repository" | "unavailable" | "refused" | "failed";
  detail: string | null;
  commits: GitCommit[];
  changes: ChangedLine[];
}

export interface DiagnosisInput {
  journal: JournalFacts;
  boots: BootFacts[];
  generations: GenerationFacts[];
  loader: "systemd-boot" | "grub" | "unknown";
  /** Recursive snapshots of the root pool (null: not ZFS or unreadable). */
  snapshots: { snapshot: string; created: string | null }[] | null;
  configFiles: { path: string; text: string }[];
  git: GitFacts;
}

export type BootOutcome = "multi-user" | "stage-2";

export interface BootView {
  bootId: string;
  index: number;
  first: string | null;
  last: string | null;
  generation: number | null;
  toplevel: string | null;
  cmdline: string | null;
  reached: BootOutcome;
  ended: "shutdown" | "abrupt";
  failedUnits: { unit: string; message: string; count: number }[];
  kernelErrors: string[];
  evidence: Evidence[];
}

export type GenerationStatus = "booted" | "failed" | "no-boot" | "before-journal" | "unknown";

export interface GenerationView {
  number: number;
  date: string | null;
  status: GenerationStatus;
  closurePresent: boolean;
  current: boolean;
  bootDefault: boolean;
  boots: string[];
  lastBoot: string | null;
  words: string;
}

export interface Changes {
  from: number;
  to: number;
  kernel: { before: string | null; after: string | null } | null;
  kernelParams: { added: string[]; removed: string[] };
  initrd: {
    loadedAdded: string[];
    loadedRemoved: string[];
    modulesAdded: string[];
    modulesRemoved: string[];
    notes: string[];
  };
  units: UnitDiff | null;
  packages: (PackageDiff & { method: string }) | null;
  commits: GitCommit[];
  configChanges: ChangedLine[];
  evidence: Evidence[];
  notes: string[];
}

export interface ApiRequest {
  method: "GET" | "POST";
  path: string;
  body?: Record<string, unknown>;
}

export interface Proposal {
  id: string;
  kind: "loader-default" | "kernel-param" | "snapshot-rollback" | "open-config";
  title: string;
  why: string;
  /** "evidence": the journal and the closures support it; "guess": they cannot (no journal). */
  basis: "evidence" | "guess";
  needsReadWrite: boolean;
  caution: string | null;
  evidence: Evidence[];
  requests: ApiRequest[];
  /** For open-config: the file (under /etc/nixos) and line to look at. */
  config?: { path: string; line: number };
}

export interface Diagnosis {
  summary: string;
  sentence: string;
  journal: JournalFacts;
  lastGood: number | null;
  firstBad: number | null;
  bad: number[];
  gone: { generation: number | null; toplevel: string; detail: string }[];
  boots: BootView[];
  generations: GenerationView[];
  changes: Changes | null;
  proposals: Proposal[];
  notes: string[];
}
