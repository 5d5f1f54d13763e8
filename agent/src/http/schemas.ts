import type { TSchema } from "@sinclair/typebox";
import { Type } from "./typebox.js";

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Str = Type.String();
const NStr = Nullable(Str);

export const Problem = Type.Object(
  {
    type: Str,
    title: Str,
    status: Type.Integer(),
    detail: Str,
    code: Str,
    instance: Type.Optional(Str),
  },
  {
    $id: "Problem",
    additionalProperties: true,
    description: "RFC 9457 problem details with a stable `code`",
  },
);

export const MountEntry = Type.Object(
  { source: Str, target: Str, fstype: Str, options: Type.Array(Str) },
  { $id: "MountEntry" },
);

export interface BlockDeviceShape {
  name: string;
}
export const BlockDevice = Type.Recursive(
  (Self) =>
    Type.Object({
      name: Str,
      path: Str,
      type: Str,
      fstype: NStr,
      label: NStr,
      uuid: NStr,
      parttype: NStr,
      partlabel: NStr,
      partuuid: NStr,
      size: NStr,
      mountpoints: Type.Array(Str),
      children: Type.Array(Self),
    }),
  { $id: "BlockDevice" },
);

export const ImportVdev = Type.Recursive(
  (Self) => Type.Object({ name: Str, state: NStr, message: NStr, section: Str, children: Type.Array(Self) }),
  { $id: "ImportVdev" },
);
export const StatusVdev = Type.Recursive(
  (Self) =>
    Type.Object({
      name: Str,
      type: Str,
      state: Str,
      path: NStr,
      guid: NStr,
      was: NStr,
      notPresent: Type.Boolean(),
      errors: Type.Object({ read: Str, write: Str, checksum: Str }),
      children: Type.Array(Self),
    }),
  { $id: "StatusVdev" },
);

export const ImportablePool = Type.Object({
  name: Str,
  id: Type.String({ description: "pool guid (decimal string: it does not fit a JSON number)" }),
  state: Str,
  status: NStr,
  action: NStr,
  see: NStr,
  comment: NStr,
  config: Type.Array(ImportVdev),
  lastAccessedByOtherSystem: Type.Boolean(),
  lastHost: Nullable(Type.Object({ hostname: Str, hostid: NStr })),
  importable: Type.Boolean(),
  unhealthy: Type.Array(Str, { description: "leaf vdevs that are not ONLINE" }),
});

export const ImportedPool = Type.Object({
  name: Str,
  guid: Str,
  state: Str,
  health: NStr,
  size: NStr,
  allocated: NStr,
  free: NStr,
  altroot: NStr,
  vdevs: Type.Array(StatusVdev),
  unhealthy: Type.Array(Str),
});

export const Dataset = Type.Object({
  name: Str,
  pool: Str,
  mountpoint: Str,
  canmount: Str,
  encryption: Str,
  keystatus: NStr,
  used: Type.String({ description: "bytes" }),
  encryptionRoot: NStr,
});

export const Candidate = Type.Object({
  id: Str,
  kind: Type.Union([Type.Literal("zfs"), Type.Literal("block")]),
  pool: Type.Optional(Str),
  device: Type.Optional(Str),
  fstype: Type.Optional(Str),
  state: Type.Optional(Str),
  imported: Type.Optional(Type.Boolean()),
  importable: Type.Optional(Type.Boolean()),
  disks: Type.Array(Str),
  score: Type.Integer(),
  reasons: Type.Array(Str),
});

export const Esp = Type.Object({
  device: Str,
  disk: NStr,
  uuid: NStr,
  label: NStr,
  evidence: Str,
  mounted: Type.Array(Str),
});
export const Luks = Type.Object({ device: Str, name: Str, uuid: NStr, opened: NStr });

export const ZfsState = Type.Object({ available: Type.Boolean(), version: NStr, reason: NStr });

export const SkippedEntry = Type.Object(
  {
    kind: Type.Union(
      ["fstab", "mount-unit", "dataset", "pool"].map((k) => Type.Literal(k)),
      {
        description:
          "where the entry comes from: an fstab line, a mount unit of the generation, a dataset, a pool",
      },
    ),
    path: Type.String({ description: "path inside the installed system (empty for a pool)" }),
    source: Type.String({ description: "fstab source, dataset, mount unit, or pool name" }),
    reason: Type.String({ description: "why it is not mounted" }),
    essential: Type.Boolean({ description: "/ or /nix: the system cannot be mounted without it" }),
  },
  { description: "an entry of the installed system that is not mounted" },
);

export const PoolReason = Type.Object(
  {
    pool: Str,
    importedBecause: Type.String({
      description:
        'why the pool is imported: "root", "fstab", "extraPools unit zfs-import-<pool>.service" or "request"',
    }),
    reason: Str,
    readonly: Type.Boolean({
      description: "imported read-only (pools only an import unit names always are)",
    }),
  },
  { description: "a pool of the system and why it is imported" },
);

export const Phase = Type.Union(
  ["nothing-found", "found", "imported", "locked", "mounted-ro", "mounted-rw"].map((p) => Type.Literal(p)),
  { description: "where the rescue stands" },
);

export const Status = Type.Object({
  version: Str,
  phase: Phase,
  summary: Type.String({ description: "one sentence for a human" }),
  root: Str,
  zfs: ZfsState,
  hostid: Type.Object({ live: NStr }),
  mounted: Nullable(
    Type.Object({ pool: NStr, source: Str, readonly: Type.Boolean(), mounts: Type.Array(MountEntry) }),
  ),
  candidates: Type.Array(Candidate),
  pools: Type.Object({ importable: Type.Array(Str), imported: Type.Array(Str) }),
  esps: Type.Array(Str),
  luks: Type.Array(Luks),
  locked: Type.Array(Str, { description: "encrypted datasets whose key is not loaded" }),
  warnings: Type.Array(Str),
  busy: Nullable(
    Type.Object(
      {
        name: Str,
        since: Str,
        kind: Type.Union([Type.Literal("change"), Type.Literal("reading")]),
        step: Type.Union([Str, Type.Null()], { description: "what it does now" }),
        steps: Type.Array(Str, { description: "steps it has finished, in order" }),
        waitingFor: Type.Array(Str, { description: "readers a change waits for before it starts" }),
      },
      {
        description:
          "what runs: a change (one at a time; with its steps as they happen) or, else, readers of the installed system",
      },
    ),
  ),
  reading: Type.Array(Type.Object({ name: Str, since: Str }), {
    description:
      "readers of the installed system now (diagnosis, journal, files): a change of the mounts waits for or cancels them",
  }),
  diagnosis: Type.Object(
    {
      state: Type.Union(["none", "running", "ready", "failed"].map((k) => Type.Literal(k))),
      since: NStr,
      step: NStr,
      computedAt: NStr,
      error: NStr,
    },
    { description: "the diagnosis is computed once per state of the installed system, in the background" },
  ),
  installed: Nullable(
    Type.Object(
      { journal: Type.Union([Type.Literal("persistent"), Type.Literal("none")]) },
      { description: "what the mounted system keeps (null: not mounted, or not looked at yet)" },
    ),
  ),
  autoMount: Type.Object({ mode: Str, state: Str, detail: NStr }),
  urls: Type.Array(Str),
  tls: Nullable(
    Type.Object({ fingerprint: Type.String({ description: "SHA-256 of the self-signed certificate" }) }),
  ),
  skipped: Type.Array(SkippedEntry, {
    description:
      "entries of the system the mount in place left out (unsafe, broken, locked) and why; everything else is mounted",
  }),
  systemPools: Type.Array(PoolReason, {
    description: "the pools of the mount in place and why each was imported",
  }),
  detectedAt: Str,
  detection: Type.Object(
    {
      at: Type.String({ description: "when this detection started" }),
      ageMs: Type.Integer({ description: "its age when the response was made" }),
      refreshing: Type.Boolean({ description: "a newer detection is being made in the background" }),
    },
    {
      description:
        "status answers at once with the last detection; one refresh runs in the background when it is a few seconds old, and every change refreshes it before the next reader (use ?refresh=1 to wait for a new one with a device scan)",
    },
  ),
});

export const PlanStep = Type.Object({
  kind: Str,
  pool: Type.Optional(Str),
  guid: Type.Optional(NStr),
  readonly: Type.Optional(Type.Boolean()),
  altroot: Type.Optional(Str),
  role: Type.Optional(Str),
  source: Type.Optional(Str),
  target: Type.Optional(Str),
  path: Type.Optional(Str),
  fstype: Type.Optional(Str),
  options: Type.Optional(Type.Array(Str)),
  method: Type.Optional(Str),
  origin: Type.Optional(Str),
  reason: Type.Optional(Str),
  importedBecause: Type.Optional(Str),
  unit: Type.Optional(Str),
  from: Type.Optional(
    Type.String({ description: "bind mounts: the directory inside the system shown at path" }),
  ),
  parent: Type.Optional(NStr),
});
export const MountPlan = Type.Object({
  candidate: Str,
  readonly: Type.Boolean(),
  root: Str,
  source: Str,
  complete: Type.Boolean(),
  pools: Type.Optional(Type.Array(Str, { description: "every pool the system needs, its root pool first" })),
  steps: Type.Array(PlanStep),
  refused: Type.Optional(
    Type.Array(SkippedEntry, {
      description:
        "entries not mounted: unsafe, not resolvable, or locked (children of them are skipped too)",
    }),
  ),
  poolReasons: Type.Optional(Type.Array(PoolReason)),
  locked: Type.Optional(Type.Array(Type.Object({ path: Str, dataset: Str, essential: Type.Boolean() }))),
  notes: Type.Array(Str),
  release: Type.Optional(
    Type.Array(
      Type.Object({
        kind: Type.Union([Type.Literal("unmount"), Type.Literal("export-pool")]),
        target: Type.String({ description: "the mount point, or the pool" }),
      }),
      {
        description:
          "read-only → read-write: what is unmounted and exported first (then the pools are imported read-write and mounted again)",
      },
    ),
  ),
});

export const HostIdReport = Type.Object({
  action: Str,
  previous: NStr,
  current: NStr,
  lastHost: NStr,
  lastHostId: NStr,
  splParameterWritten: Type.Optional(Type.Boolean()),
});

export const MountBody = Type.Object(
  {
    readonly: Type.Optional(
      Type.Boolean({ default: true, description: "import and mount read-only (nothing written)" }),
    ),
    force: Type.Optional(
      Type.Boolean({ description: "zpool import -f; only when the pool's last host is really off" }),
    ),
    pool: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 255,
        description:
          "pool name or block device path to mount, or one root dataset of a pool (`rpool/ROOT/b`: a boot environment, or a root the agent cannot tell by name)",
      }),
    ),
    adoptHostId: Type.Optional(
      Type.Boolean({
        default: true,
        description: "adopt the pool's last hostid on the live system instead of forcing",
      }),
    ),
    acceptSkipped: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 4096 }), {
        maxItems: 1000,
        description:
          "read-write: the skipped entries (paths inside the system, sources, pool names) to leave out; without them a read-write mount that would skip anything answers 409 skipped-entries",
      }),
    ),
  },
  { additionalProperties: false },
);

export const MountResult = Type.Object({
  result: Str,
  candidate: Str,
  pool: NStr,
  readonly: Type.Boolean(),
  forced: Type.Boolean(),
  hostid: HostIdReport,
  plan: Nullable(MountPlan),
  steps: Type.Array(Str),
  mounts: Type.Array(MountEntry),
  nixos: Nullable(
    Type.Object({ nixos: Type.Boolean(), markers: Type.Array(Str), version: NStr, system: NStr }),
  ),
  warnings: Type.Array(Str),
  skipped: Type.Array(SkippedEntry, {
    description: "entries not mounted, and why; everything else is mounted",
  }),
  pools: Type.Array(PoolReason, { description: "why each pool of the system was imported" }),
  notes: Type.Optional(Type.Array(Str, { description: "what was done on the way, for information" })),
});

export const UnmountBody = Type.Object(
  { export: Type.Optional(Type.Boolean({ description: "also zpool export the pools (clean hand-back)" })) },
  { additionalProperties: false },
);
export const UnmountResult = Type.Object({
  unmounted: Type.Array(Str),
  exported: Type.Array(Str),
  deactivated: Type.Optional(
    Type.Array(Str, { description: "LVM VGs deactivated and md arrays stopped at hand-back (export)" }),
  ),
});

export const PassphraseBody = Type.Object(
  { passphrase: Type.String({ minLength: 1, maxLength: 4096, description: "never logged or echoed" }) },
  { additionalProperties: false },
);

export const PoolParam = Type.Object({ pool: Type.String({ pattern: "^[A-Za-z][A-Za-z0-9_.:-]{0,254}$" }) });
export const DeviceParam = Type.Object({
  device: Type.String({ pattern: "^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$" }),
});

/**
 * @deprecated Routes no longer list problem responses: the OpenAPI document describes the one
 * problem+json shape once and refers every operation's 4XX/5XX to it (openapi.ts), and fastify
 * compiles no serializer per route and status for it. Spreading this (empty) object is harmless;
 * it stays for route files written before.
 */
export const problemResponses = {} as const;
