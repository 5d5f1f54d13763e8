import type { PackageDiff, UnitDiff } from "../closure.js";
import type { ConsoleFacts } from "../consoleLog.js";
import type { ChangedLine, GitCommit } from "../gitlog.js";
import type { InitrdInfo } from "../initrd.js";
import type { BootMilestones, FailedUnit, JournalRecord, Located } from "../journalBoots.js";

/** The diagnosis's facts (what app/diagnosis.ts gathers) and its answer (what GET /v1/diagnosis returns). */

/** Where a claim comes from: a journal entry (cursor), a file or store path, a snapshot, a commit. */
export interface Evidence {
  kind: "journal" | "file" | "store-path" | "snapshot" | "git" | "boot-entry" | "console";
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
  /**
   * The records the failure classes read (core/diagnosis/classes/): errors and warnings, sshd's own
   * lines (logins), emergency/rescue targets reached, the kernel's interface renames. Absent: not read.
   */
  notable?: JournalRecord[];
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
  /** Its etc/fstab (what its stage 1 and systemd mount); absent/null: not read or unreadable. */
  fstab?: string | null;
  /** Its etc/hostid (networking.hostId) as 8 hex digits; absent/null: none or not read. */
  hostid?: string | null;
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
  configFiles: { path: string; text: string; etag?: string }[];
  git: GitFacts;
  /** Block devices the rescue system sees now (lsblk/blkid); absent/null: unknown. */
  devices?: DeviceFacts[] | null;
  /**
   * What the root pool's label said of its last host before the rescue imported the pool (the
   * detection's `zpool import` listing and the first import without -f); absent/null: not seen.
   */
  poolLabel?: PoolLabelFacts | null;
  /**
   * What the root file system itself holds under the ESP's mount point, hidden by the mounted ESP
   * (read only when a generation has no boot-loader entry); absent/null: not read.
   */
  underEsp?: UnderMountFacts | null;
  /** The operator's console capture of a failed boot (core/consoleLog.ts); absent/null: none given. */
  console?: ConsoleFacts | null;
}

export interface UnderMountFacts {
  /** In-root path of the mount point (/boot). */
  mountPoint: string;
  /** The boot loaders' files there on the root file system; null: it could not be read (notes say why). */
  files: { path: string; size: number; mtime: string }[] | null;
  notes: string[];
}

export interface PoolLabelFacts {
  pool: string;
  seenAt: string;
  /** The rescue's zpool said the pool was last accessed (not exported) by another system. */
  otherSystem: boolean;
  lastHost: string | null;
  lastHostId: string | null;
  lastAccessed: string | null;
  /** The rescue system's hostid at the time. */
  liveHostId: string | null;
  /** zpool's own line: the refused import's "Last accessed by …", else the listing's status. */
  message: string | null;
}

export interface DeviceFacts {
  path: string;
  fstype: string | null;
  uuid: string | null;
  label: string | null;
  partuuid: string | null;
  partlabel: string | null;
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
  /** Could it be reached and logged into: multi-user reached and no reason against it (sshd or the network failed, emergency mode, logins refused). */
  reachable: boolean;
  unreachable: string[];
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
  method: "GET" | "POST" | "PUT";
  path: string;
  body?: Record<string, unknown>;
  headers?: Record<string, string>;
}

export interface Proposal {
  id: string;
  kind:
    | "loader-default"
    | "kernel-param"
    | "snapshot-rollback"
    | "open-config"
    | "config-edit"
    | "rebuild"
    | "esp-free"
    | "hand-back";
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
  /** For config-edit: the change as a unified diff (the request's body holds the whole new file). */
  diff?: string;
}

/** The failure classes of docs/diagnosis.md, each a module under core/diagnosis/classes/. */
export type FailureClass =
  | "stage1-module"
  | "root-device-missing"
  | "mount-failed"
  | "sshd-failed"
  | "network-missing"
  | "logins-refused"
  | "bootloader-not-updated"
  | "hostid-changed"
  | "pool-in-use-elsewhere"
  | "storage-driver-missing"
  | "zfs-module-missing"
  | "firewall-blocks-ssh"
  | "space-full"
  | "generations-gone"
  | "undecided";

/** One explanation of the failure: the cause in a sentence, how sure, what shows it, what fixes it. */
export interface Finding {
  class: FailureClass;
  /** The generation that failed (null: not one generation). */
  generation: number | null;
  cause: string;
  confidence: "high" | "medium" | "low";
  evidence: Evidence[];
  /** In the order to try them; each an API request, nothing done yet. */
  fixes: Proposal[];
  /** What evidence would decide, when this does not. */
  needs: string[];
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
  /** Most likely first; the first one's cause is `cause`. */
  findings: Finding[];
  cause: string | null;
  notes: string[];
}
