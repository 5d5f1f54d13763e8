import type { TSchema } from "@sinclair/typebox";
import { MAX_CONSOLE_BYTES } from "../../core/consoleLog.js";
import { problemResponses } from "../schemas.js";
import type { App, Services } from "../server.js";
import { Type } from "../typebox.js";

const S = Type.String();
const NS = Type.Union([S, Type.Null()]);
const NI = Type.Union([Type.Integer(), Type.Null()]);
const Strings = Type.Array(S);
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

const Evidence = Type.Object({
  kind: Type.Union(
    ["journal", "file", "store-path", "snapshot", "git", "boot-entry", "console"].map((k) => Type.Literal(k)),
  ),
  ref: S,
  detail: S,
});

const Journal = Type.Object({
  state: Type.Union(["ok", "missing", "volatile", "unreadable", "empty"].map((k) => Type.Literal(k))),
  dir: NS,
  detail: NS,
  bootsTotal: Type.Integer(),
  bootsExamined: Type.Integer(),
  firstEntry: NS,
});

const Boot = Type.Object({
  bootId: S,
  index: Type.Integer(),
  first: NS,
  last: NS,
  generation: NI,
  toplevel: NS,
  cmdline: NS,
  reached: Type.Union([Type.Literal("multi-user"), Type.Literal("stage-2")]),
  ended: Type.Union([Type.Literal("shutdown"), Type.Literal("abrupt")]),
  failedUnits: Type.Array(Type.Object({ unit: S, message: S, count: Type.Integer() })),
  kernelErrors: Strings,
  reachable: Type.Boolean(),
  unreachable: Strings,
  evidence: Type.Array(Evidence),
});

const Generation = Type.Object({
  number: Type.Integer(),
  date: NS,
  status: Type.Union(
    ["booted", "failed", "no-boot", "before-journal", "unknown"].map((k) => Type.Literal(k)),
  ),
  closurePresent: Type.Boolean(),
  current: Type.Boolean(),
  bootDefault: Type.Boolean(),
  boots: Strings,
  lastBoot: NS,
  words: S,
});

const Versions = Type.Object({ pname: S, versions: Strings });
const Changes = Type.Object({
  from: Type.Integer(),
  to: Type.Integer(),
  kernel: Nullable(Type.Object({ before: NS, after: NS })),
  kernelParams: Type.Object({ added: Strings, removed: Strings }),
  initrd: Type.Object({
    loadedAdded: Strings,
    loadedRemoved: Strings,
    modulesAdded: Strings,
    modulesRemoved: Strings,
    notes: Strings,
  }),
  units: Nullable(
    Type.Object({
      added: Strings,
      removed: Strings,
      changed: Type.Array(Type.Object({ unit: S, before: S, after: S })),
    }),
  ),
  packages: Nullable(
    Type.Object({
      method: S,
      added: Type.Array(Versions),
      removed: Type.Array(Versions),
      changed: Type.Array(Type.Object({ pname: S, before: Strings, after: Strings })),
    }),
  ),
  commits: Type.Array(Type.Object({ hash: S, date: S, author: S, subject: S })),
  configChanges: Type.Array(Type.Object({ file: S, line: Type.Integer(), added: Strings })),
  evidence: Type.Array(Evidence),
  notes: Strings,
});

const Proposal = Type.Object({
  id: S,
  kind: Type.Union(
    [
      "loader-default",
      "kernel-param",
      "snapshot-rollback",
      "open-config",
      "config-edit",
      "rebuild",
      "esp-free",
      "hand-back",
    ].map((k) => Type.Literal(k)),
  ),
  title: S,
  why: S,
  basis: Type.Union([Type.Literal("evidence"), Type.Literal("guess")]),
  needsReadWrite: Type.Boolean(),
  caution: NS,
  evidence: Type.Array(Evidence),
  requests: Type.Array(
    Type.Object({
      method: Type.Union([Type.Literal("GET"), Type.Literal("POST"), Type.Literal("PUT")]),
      path: S,
      body: Type.Optional(Type.Record(S, Type.Unknown())),
      headers: Type.Optional(Type.Record(S, S)),
    }),
  ),
  config: Type.Optional(Type.Object({ path: S, line: Type.Integer() })),
  diff: Type.Optional(S),
  done: Type.Optional(
    Nullable(
      Type.Object(
        { at: S, action: S, target: NS, snapshot: NS },
        {
          description:
            "this rescue already made the change it asks for (from the audit): not to be proposed again",
        },
      ),
    ),
  ),
});

const Finding = Type.Object({
  class: Type.Union(
    [
      "stage1-module",
      "root-device-missing",
      "mount-failed",
      "sshd-failed",
      "network-missing",
      "logins-refused",
      "bootloader-not-updated",
      "hostid-changed",
      "pool-in-use-elsewhere",
      "storage-driver-missing",
      "zfs-module-missing",
      "firewall-blocks-ssh",
      "space-full",
      "generations-gone",
      "undecided",
    ].map((k) => Type.Literal(k)),
  ),
  generation: NI,
  cause: S,
  confidence: Type.Union([Type.Literal("high"), Type.Literal("medium"), Type.Literal("low")]),
  evidence: Type.Array(Evidence),
  fixes: Type.Array(Proposal),
  needs: Strings,
});

export const DiagnosisSchema = Type.Object({
  summary: S,
  sentence: S,
  journal: Journal,
  lastGood: NI,
  firstBad: NI,
  bad: Type.Array(Type.Integer()),
  gone: Type.Array(Type.Object({ generation: NI, toplevel: S, detail: S })),
  boots: Type.Array(Boot),
  generations: Type.Array(Generation),
  changes: Nullable(Changes),
  proposals: Type.Array(Proposal),
  findings: Type.Array(Finding),
  cause: NS,
  notes: Strings,
  computedAt: Type.String({ description: "when it was computed; reused until the installed system changes" }),
});

export function registerDiagnosisRoutes(app: App, s: Services): void {
  app.get(
    "/v1/diagnosis",
    {
      schema: {
        summary:
          "Which generation last booted and how far later ones got, what changed since, and the fixes that fit (nothing runs); computed once per state of the installed system (progress in /v1/status `diagnosis`)",
        querystring: Type.Object(
          { refresh: Type.Optional(Type.Boolean({ description: "compute it again now" })) },
          { additionalProperties: false },
        ),
        response: { 200: DiagnosisSchema, ...problemResponses },
      },
    },
    async (req) => s.diagnoses.get(req.query.refresh ?? false),
  );

  const ConsoleSummary = Type.Object({
    lines: Type.Integer(),
    truncated: Type.Boolean(),
    stuckModule: NS,
    toplevel: NS,
    found: Type.Array(Type.Object({ line: Type.Integer(), kind: S, text: S })),
  });
  app.post(
    "/v1/diagnosis/console",
    {
      schema: {
        summary:
          "Give the console text of a failed boot (pasted or a serial log, at most 1 MiB): read as data for the stage-1 failures; the lines it matched are cited by the diagnosis, the text itself is neither kept nor logged",
        body: Type.Object(
          { text: Type.String({ maxLength: MAX_CONSOLE_BYTES }) },
          { additionalProperties: false },
        ),
        response: { 200: ConsoleSummary, ...problemResponses },
      },
      bodyLimit: 3 * MAX_CONSOLE_BYTES,
    },
    async (req) => s.diagnoses.giveConsole(req.body.text),
  );
  app.delete(
    "/v1/diagnosis/console",
    {
      schema: {
        summary: "Forget the console capture given",
        response: { 200: ConsoleSummary, ...problemResponses },
      },
    },
    async () => s.diagnoses.giveConsole(null),
  );
}
