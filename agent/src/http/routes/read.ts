import type { Detection } from "../../app/detect.js";
import { buildStatus, busyView, poolsView } from "../../app/status.js";
import { LifeboatError } from "../../core/errors.js";
import {
  BlockDevice,
  Dataset,
  Esp,
  ImportablePool,
  ImportedPool,
  Luks,
  MountPlan,
  PoolParam,
  Status,
} from "../schemas.js";
import type { App, Services } from "../server.js";
import { Type } from "../typebox.js";

/** What the mounted system keeps (its journal): looked at once per detection, never while the mounts change. */
const installedOf = new WeakMap<Detection, { journal: "persistent" | "none" }>();
async function installedFacts(s: Services, d: Detection) {
  if (!d.mounts.some((m) => m.target === d.root)) return null;
  const known = installedOf.get(d);
  if (known || s.readers.holding || s.lock.busy) return known ?? null;
  const kept = await s.readers.read("status", () => s.journal.kept()).catch(() => null);
  if (kept === null) return null;
  const facts = { journal: kept ? ("persistent" as const) : ("none" as const) };
  installedOf.set(d, facts);
  return facts;
}

export function registerReadRoutes(app: App, s: Services): void {
  app.get(
    "/v1/status",
    {
      schema: {
        summary: "Where the rescue stands: phase, what was found, what is mounted, warnings",
        querystring: Type.Object({ refresh: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
        response: { 200: Status },
      },
    },
    async (req) => {
      const d = await s.detection.current(req.query.refresh ?? false);
      const diagnosis = s.diagnoses.state;
      const reading = s.readers.readers;
      return buildStatus(d, {
        version: s.version,
        busy: busyView(s.lock.busy, reading, diagnosis.step),
        reading,
        diagnosis,
        installed: await installedFacts(s, d),
        autoMount: s.autoMount(),
        urls: s.urls(),
        tls: s.tls,
        detection: s.detection.age(d),
        mount: s.mounts.lastReport,
      });
    },
  );

  app.get(
    "/v1/disks",
    {
      schema: {
        summary: "Block devices (lsblk + blkid), EFI system partitions, LUKS containers",
        response: {
          200: Type.Object({ disks: Type.Array(BlockDevice), esps: Type.Array(Esp), luks: Type.Array(Luks) }),
        },
      },
    },
    async () => {
      const d = await s.detection.current();
      return { disks: d.devices, esps: d.esps, luks: d.luks };
    },
  );

  app.get(
    "/v1/pools",
    {
      schema: {
        summary: "Pools that can be imported (zpool import listing) and pools that are imported",
        response: {
          200: Type.Object({ importable: Type.Array(ImportablePool), imported: Type.Array(ImportedPool) }),
        },
      },
    },
    async () => poolsView(await s.detection.current()),
  );

  app.get(
    "/v1/pools/:pool/datasets",
    {
      schema: {
        summary: "Datasets of an imported pool with mountpoint, canmount, encryption and key status",
        params: PoolParam,
        response: { 200: Type.Object({ pool: Type.String(), datasets: Type.Array(Dataset) }) },
      },
    },
    async (req) => {
      const d = await s.detection.current();
      const { pool } = req.params;
      if (!d.imported.some((p) => p.name === pool)) {
        const importable = d.importable.some((p) => p.name === pool);
        throw new LifeboatError(
          importable ? "not-mounted" : "pool-not-found",
          importable
            ? `pool ${pool} is not imported: its datasets are listed once it is (POST /v1/mount)`
            : `no pool named ${pool}`,
          { pool },
        );
      }
      return { pool, datasets: d.datasets.filter((x) => x.pool === pool) };
    },
  );

  app.get(
    "/v1/plan",
    {
      schema: {
        summary: "The ordered steps a mount would run now (nothing is executed)",
        querystring: Type.Object(
          {
            readonly: Type.Optional(Type.Boolean({ default: true })),
            pool: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: MountPlan },
      },
    },
    async (req) =>
      s.mounts.preview({
        readonly: req.query.readonly ?? true,
        ...(req.query.pool ? { pool: req.query.pool } : {}),
      }),
  );
}
