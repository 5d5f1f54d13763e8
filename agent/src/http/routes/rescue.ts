import type { TProperties, TSchema } from "@sinclair/typebox";
import type { JobEvent } from "../../app/jobs.js";
import { summarize } from "../../app/summary.js";
import { RUNS_INSTALLED_CODE } from "../../core/notices.js";
import type { App, Services } from "../server.js";
import { Type } from "../typebox.js";
import { requester } from "../who.js";

const S = Type.String();
const NS = Type.Union([S, Type.Null()]);
const Obj = <T extends TProperties>(props: T) => Type.Object(props, { additionalProperties: false });
const Changed = <T extends TSchema>(result: T) =>
  Type.Object({
    result,
    snapshot: NS,
    unchanged: Type.Boolean({ description: "nothing needed changing: nothing written, no snapshot taken" }),
  });

const Generation = Type.Object({
  number: Type.Integer(),
  current: Type.Boolean(),
  bootDefault: Type.Boolean(),
  date: NS,
  storePath: NS,
  nixosVersion: NS,
  kernelVersion: NS,
  kernelParams: Type.Array(S),
  closurePresent: Type.Boolean(),
  label: NS,
});
const BootEntry = Type.Object({
  id: S,
  file: S,
  name: Type.String({ description: "as the boot menu shows it (title and version line)" }),
  protected: Type.Array(S, { description: "parameters the system cannot boot without (never removed)" }),
  title: NS,
  version: NS,
  linux: NS,
  options: Type.Array(S),
  generation: Type.Union([Type.Integer(), Type.Null()]),
  isDefault: Type.Boolean(),
  hasBackup: Type.Boolean(),
});
const Job = Type.Object({
  id: S,
  kind: S,
  title: S,
  state: S,
  exitCode: Type.Union([Type.Integer(), Type.Null()]),
  createdAt: S,
  endedAt: NS,
  durationMs: Type.Union([Type.Number(), Type.Null()]),
  steps: Type.Array(
    Type.Object({
      label: S,
      command: Type.Array(S),
      shown: Type.Optional(Type.String({ description: "the command as an operator would type it" })),
    }),
  ),
  currentStep: Type.Integer(),
  lines: Type.Integer(),
  droppedLines: Type.Integer(),
  who: S,
});
const JobId = Type.Object({ id: Type.String({ format: "uuid" }) });
const EntryId = Type.Object({ id: Type.String({ pattern: "^[A-Za-z0-9@%+=:,._-]{1,200}$" }) });
const Param = Type.String({ minLength: 1, maxLength: 256, pattern: "^[\\x21-\\x7e]+$" });

const Undo = Type.Object({
  text: S,
  request: Type.Union([
    Type.Object({ method: Type.Literal("POST"), path: S, body: Type.Record(S, Type.Unknown()) }),
    Type.Null(),
  ]),
});
const ChangeLine = Type.Object({
  at: S,
  action: S,
  what: S,
  where: NS,
  result: S,
  snapshot: Type.Union([S, Type.Null()], { description: "the snapshot taken just before it" }),
  undo: Type.Union([Undo, Type.Null()]),
});
const ChangeSummarySchema = Type.Object({
  state: Type.Union([
    Type.Literal("nothing-changed"),
    Type.Literal("changed"),
    Type.Literal("ready-to-reboot"),
  ]),
  sentence: S,
  changes: Type.Array(ChangeLine),
  failed: Type.Array(ChangeLine),
  snapshots: Type.Array(S),
});

export function registerRescueRoutes(app: App, s: Services, token: string): void {
  const who = requester(token);

  app.get(
    "/v1/generations",
    {
      schema: {
        summary: "System generations of the installed system (newest first)",
        response: {
          200: Type.Object({
            generations: Type.Array(Generation),
            profile: NS,
            /** What on the disk could not be read safely (closure files, boot entries). */
            warnings: Type.Array(S),
          }),
        },
      },
    },
    async () => s.readers.read("generations", () => s.boot.generations()),
  );

  app.get(
    "/v1/boot",
    {
      schema: {
        summary: "Boot loader, default entry and entries with their kernel command line",
        response: {
          200: Type.Object({
            loader: S,
            esp: NS,
            default: NS,
            timeout: NS,
            entries: Type.Array(BootEntry),
            notes: Type.Array(S),
          }),
        },
      },
    },
    async () => s.readers.read("boot entries", () => s.boot.boot()),
  );

  app.post(
    "/v1/boot/default",
    {
      schema: {
        summary:
          "Boot this generation by default: loader.conf (fast, reversible) or a profile switch job (mode: profile)",
        body: Obj({
          generation: Type.Integer({ minimum: 1 }),
          mode: Type.Optional(Type.Union([Type.Literal("loader"), Type.Literal("profile")])),
        }),
        response: {
          200: Changed(Type.Object({ loader: S, default: S, previous: NS, backup: S })),
          202: Type.Object({ job: Job, notice: S }),
        },
      },
    },
    async (req, reply) => {
      if (req.body.mode === "profile")
        return reply.code(202).send({
          job: await s.boot.switchProfile(req.body.generation, who(req)),
          notice: RUNS_INSTALLED_CODE,
        });
      return s.boot.setDefault(req.body.generation, who(req));
    },
  );

  app.post(
    "/v1/boot/entries/:id/kernel-params",
    {
      schema: {
        summary: "Add/remove kernel parameters on a boot entry (backup kept; revert restores it)",
        params: EntryId,
        body: Obj({
          add: Type.Optional(Type.Array(Param, { maxItems: 32 })),
          remove: Type.Optional(Type.Array(Param, { maxItems: 32 })),
        }),
        response: {
          200: Changed(
            Type.Object({
              entry: S,
              before: Type.Array(S),
              after: Type.Array(S),
              changed: Type.Boolean(),
              backup: S,
            }),
          ),
        },
      },
    },
    async (req) => s.boot.kernelParams(req.params.id, req.body.add ?? [], req.body.remove ?? [], who(req)),
  );

  app.post(
    "/v1/boot/esp/free",
    {
      schema: {
        summary:
          "Free a full ESP: remove the boot entries of these generations and the kernels/initrds only they use (copied to the installed root first; never the default)",
        body: Obj({ generations: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1, maxItems: 200 }) }),
        response: {
          200: Changed(Type.Object({ removed: Type.Array(S), freedBytes: Type.Integer(), backup: S })),
        },
      },
    },
    async (req) => s.boot.freeEsp(req.body.generations, who(req)),
  );

  app.post(
    "/v1/boot/entries/:id/revert",
    {
      schema: {
        summary: "Restore a boot entry from its backup",
        params: EntryId,
        response: {
          200: Changed(Type.Object({ entry: S, restored: Type.Boolean(), options: Type.Array(S) })),
        },
      },
    },
    async (req) => s.boot.revert(req.params.id, who(req)),
  );

  app.get(
    "/v1/config",
    {
      schema: {
        summary: "Files of the installed system's /etc/nixos, whether it is a flake, and its host names",
        response: {
          200: Type.Object({
            root: S,
            flake: Type.Boolean(),
            hosts: Type.Array(S),
            files: Type.Array(Type.Object({ path: S, size: Type.Integer() })),
            skipped: Type.Array(S),
          }),
        },
      },
    },
    async () => s.readers.read("configuration", () => s.config.tree()),
  );

  app.get(
    "/v1/config/*",
    {
      schema: {
        summary: "Read one file of /etc/nixos (ETag for a later PUT)",
        response: { 200: Type.Object({ path: S, content: S, etag: S, size: Type.Integer() }) },
      },
    },
    async (req, reply) => {
      const f = await s.readers.read("configuration", () =>
        s.config.read((req.params as { "*": string })["*"]),
      );
      reply.header("etag", f.etag);
      return f;
    },
  );

  app.put(
    "/v1/config/*",
    {
      schema: {
        summary: "Write one file of /etc/nixos: If-Match required, backup kept, snapshot first",
        headers: Type.Object({ "if-match": Type.Optional(Type.String({ maxLength: 200 })) }),
        body: Obj({ content: Type.String({ maxLength: 1024 * 1024 }) }),
        response: { 200: Changed(Type.Object({ path: S, etag: S, backup: NS })) },
      },
      bodyLimit: 2 * 1024 * 1024,
    },
    async (req, reply) => {
      const r = await s.config.write(
        (req.params as { "*": string })["*"],
        req.body.content,
        req.headers["if-match"],
        who(req),
      );
      reply.header("etag", r.result.etag);
      return r;
    },
  );

  app.post(
    "/v1/rebuild",
    {
      schema: {
        summary: "Run nixos-rebuild inside nixos-enter as a job (network check first; snapshot first)",
        body: Obj({
          action: Type.Union([Type.Literal("boot"), Type.Literal("build")]),
          flake: Type.Optional(Type.String({ minLength: 1, maxLength: 300 })),
          extraArgs: Type.Optional(Type.Array(Type.String({ maxLength: 200 }), { maxItems: 16 })),
          acceptSkipped: Type.Optional(
            Type.Array(Type.String({ minLength: 1, maxLength: 4096 }), {
              maxItems: 1000,
              description:
                "entries the mount in place skipped that the rebuild may go without (else 409 skipped-entries, unless the read-write mount acknowledged them)",
            }),
          ),
        }),
        response: { 202: Type.Object({ job: Job, notice: S }) },
      },
    },
    async (req, reply) =>
      reply.code(202).send({ job: await s.rebuild.start(req.body, who(req)), notice: RUNS_INSTALLED_CODE }),
  );

  app.get(
    "/v1/jobs",
    {
      schema: {
        summary: "Jobs, newest first",
        response: {
          200: Type.Object({
            jobs: Type.Array(Job),
            /** Job records on the rescued system that were skipped (unreadable, not job records). */
            warnings: Type.Array(S),
          }),
        },
      },
    },
    async () => s.readers.read("jobs", () => s.jobs.listAll()),
  );
  app.get(
    "/v1/jobs/:id",
    { schema: { summary: "One job", params: JobId, response: { 200: Job } } },
    async (req) => s.jobs.get(req.params.id),
  );
  app.post(
    "/v1/jobs/:id/cancel",
    {
      schema: {
        summary: "Cancel a running job (SIGTERM, then SIGKILL)",
        params: JobId,
        response: { 200: Job },
      },
    },
    async (req) => s.jobs.cancel(req.params.id),
  );

  app.get(
    "/v1/jobs/:id/log",
    {
      schema: {
        summary: "The job's output as Server-Sent Events: past lines, live lines, then an `end` event",
        params: JobId,
        querystring: Type.Object(
          { after: Type.Optional(Type.Integer({ minimum: 0 })) },
          { additionalProperties: false },
        ),
        produces: ["text/event-stream"],
      },
    },
    async (req, reply) => {
      const after = req.query.after ?? Number(req.headers["last-event-id"] ?? 0) ?? 0;
      s.jobs.get(req.params.id); // 404 before the stream starts
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        connection: "keep-alive",
        "x-accel-buffering": "no",
      });
      const send = (e: JobEvent) => {
        if (e.type === "line")
          raw.write(
            `id: ${e.line.n}\nevent: line\ndata: ${JSON.stringify({ n: e.line.n, stream: e.line.stream, text: e.line.text, at: e.line.at })}\n\n`,
          );
        else {
          raw.write(`event: end\ndata: ${JSON.stringify({ state: e.state, exitCode: e.exitCode })}\n\n`);
          raw.end();
        }
      };
      const stop = s.jobs.follow(req.params.id, Number.isFinite(after) ? after : 0, send);
      const ping = setInterval(() => raw.write(": keep-alive\n\n"), 15_000);
      raw.on("close", () => {
        clearInterval(ping);
        stop();
      });
    },
  );

  app.get(
    "/v1/journal/boots",
    {
      schema: {
        summary: "Boots recorded in the installed system's journal",
        response: {
          200: Type.Object({
            boots: Type.Array(Type.Object({ index: Type.Integer(), bootId: S, first: NS, last: NS })),
          }),
        },
      },
    },
    async () => s.readers.read("journal", () => s.journal.boots()),
  );

  app.get(
    "/v1/journal",
    {
      schema: {
        summary:
          "Journal entries of the installed system: the last `limit` of a boot, or the next `limit` after a cursor",
        querystring: Type.Object(
          {
            boot: Type.Optional(Type.String({ maxLength: 40 })),
            priority: Type.Optional(Type.String({ maxLength: 10 })),
            unit: Type.Optional(Type.String({ maxLength: 256 })),
            cursor: Type.Optional(Type.String({ maxLength: 512 })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 5000 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            entries: Type.Array(
              Type.Object({
                cursor: S,
                time: NS,
                bootId: NS,
                priority: Type.Union([Type.Integer(), Type.Null()]),
                unit: NS,
                identifier: NS,
                message: S,
              }),
            ),
            nextCursor: NS,
            /** Fewer entries than asked: the output hit the byte cap or held unreadable entries. */
            truncated: Type.Boolean(),
          }),
        },
      },
    },
    async (req) => s.readers.read("journal", () => s.journal.entries(req.query)),
  );

  const Snapshot = Type.Object({
    name: S,
    dataset: S,
    snapshot: S,
    created: S,
    used: S,
    before: Type.Union([
      Type.Object(
        { at: S, action: S, target: NS, result: S },
        { description: "the change this snapshot was taken before (this rescue's audit)" },
      ),
      Type.Null(),
    ]),
  });
  app.get(
    "/v1/snapshots",
    {
      schema: {
        summary: "Snapshots of the root pool",
        response: { 200: Type.Object({ pool: S, snapshots: Type.Array(Snapshot) }) },
      },
    },
    async () => s.snapshots.list(),
  );
  app.post(
    "/v1/snapshots",
    {
      schema: {
        summary: "Take a recursive snapshot of the root pool now",
        body: Obj({}),
        response: { 200: Type.Object({ snapshot: NS }) },
      },
    },
    async (req) => s.snapshots.create(who(req)),
  );
  app.post(
    "/v1/snapshots/:name/rollback",
    {
      schema: {
        summary: "Roll every dataset back to a snapshot (destructive: confirm must equal the snapshot name)",
        params: Type.Object({ name: Type.String({ pattern: "^[A-Za-z0-9_.:-]{1,200}$" }) }),
        body: Obj({ confirm: Type.Optional(Type.String({ maxLength: 200 })) }),
        response: {
          200: Type.Object({
            snapshot: S,
            rolledBack: Type.Array(S),
            destroyed: Type.Array(S, { description: "the later snapshots zfs rollback -r destroyed" }),
          }),
        },
      },
    },
    async (req) => s.snapshots.rollback(req.params.name, req.body.confirm, who(req)),
  );

  const Bytes = Type.Integer({ minimum: 0, description: "bytes" });
  const NBytes = Type.Union([Bytes, Type.Null()]);
  const PoolName = Type.Object({ pool: Type.String({ pattern: "^[A-Za-z][A-Za-z0-9_.:-]{0,250}$" }) });
  app.get(
    "/v1/pools/:pool/space",
    {
      schema: {
        summary:
          "A pool's space (zfs list -o space) and its snapshots oldest first, with what destroying each frees (ZFS's dry run). Read-only",
        params: PoolName,
        response: {
          200: Type.Object({
            pool: S,
            avail: Bytes,
            used: Bytes,
            usedBySnapshots: Bytes,
            full: Type.Boolean(),
            datasets: Type.Array(
              Type.Object({
                name: S,
                avail: Bytes,
                used: Bytes,
                usedBySnapshots: Bytes,
                usedByDataset: Bytes,
                usedByChildren: Bytes,
                usedByRefreservation: Bytes,
              }),
            ),
            snapshots: Type.Array(
              Type.Object({
                name: Type.String({ description: "<pool>@<name>: the name on every dataset that has it" }),
                snapshot: S,
                created: S,
                datasets: Type.Array(S),
                used: Type.Integer({ description: "what destroying this one alone frees (sum of used)" }),
                written: Bytes,
                kept: Type.Union([S, Type.Null()], { description: "why the destroy request refuses it" }),
                freesWithOlder: Type.Union([Bytes, Type.Null()], {
                  description: "zfs destroy -n: what destroying it and every older destroyable one frees",
                }),
              }),
            ),
          }),
        },
      },
    },
    // the pending fixes' snapshots first: the diagnosis is a reader of its own
    async (req) => {
      const pins = await s.space.pins();
      return s.readers.read("space", () => s.space.view(req.params.pool, pins));
    },
  );
  app.post(
    "/v1/pools/:pool/snapshots/destroy",
    {
      schema: {
        summary:
          "Free space: destroy exactly the named snapshots in one zfs destroy (all or none; never forced). confirm must equal the pool",
        params: PoolName,
        body: Obj({
          snapshots: Type.Array(Type.String({ maxLength: 260 }), { minItems: 1, maxItems: 100 }),
          confirm: Type.Optional(Type.String({ maxLength: 260 })),
          keep: Type.Optional(
            Type.Integer({
              minimum: 0,
              maximum: 1000,
              description: "snapshots that must remain (default 1)",
            }),
          ),
        }),
        response: {
          200: Type.Object({
            pool: S,
            destroyed: Type.Array(S),
            snapshots: Type.Array(S),
            reclaimEstimate: NBytes,
            availBefore: NBytes,
            availAfter: NBytes,
            freed: Type.Union([Type.Integer(), Type.Null()]),
            remaining: Type.Integer(),
          }),
        },
      },
    },
    async (req) => s.space.destroy(req.params.pool, req.body, who(req)),
  );

  const Released = Type.Object({ unmounted: Type.Array(S), exported: Type.Array(S) });
  app.post(
    "/v1/export",
    {
      schema: {
        summary: "Unmount everything and export the pools (refused while a job runs)",
        body: Obj({}),
        response: { 200: Released },
      },
    },
    async (req) => s.power.export(who(req)),
  );
  app.post(
    "/v1/reboot",
    {
      schema: {
        summary: "Export (always), then reboot the machine",
        body: Obj({ export: Type.Optional(Type.Literal(true)) }),
        response: {
          200: Type.Object({ rebooting: Type.Boolean(), unmounted: Type.Array(S), exported: Type.Array(S) }),
        },
      },
    },
    async (req) => s.power.reboot(who(req)),
  );

  app.get(
    "/v1/changes",
    {
      schema: {
        summary:
          "What this rescue changed on the installed system: each change, where, the snapshot before it and how to undo it; after export, ready to reboot",
        response: { 200: ChangeSummarySchema },
      },
    },
    async () => {
      const d = await s.detection.current();
      return summarize(
        s.audit.list(),
        d.mounts.some((m) => m.target === d.root),
      );
    },
  );

  app.get(
    "/v1/audit",
    {
      schema: {
        summary: "What was changed, by whom, with what result (newest first)",
        response: {
          200: Type.Object({
            entries: Type.Array(
              Type.Object({
                at: S,
                who: S,
                action: S,
                target: NS,
                result: S,
                detail: Type.Record(S, Type.Unknown()),
              }),
            ),
          }),
        },
      },
    },
    async () => ({ entries: s.audit.list() }),
  );
}
