import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { RUNS_INSTALLED_CODE } from "../core/notices.js";
import { help } from "../help.js";
import { applyKernelParams, hunks, lineDiff } from "../ui/diff.js";
import { runBatch } from "./batch.js";
import { diagnoseCommand } from "./diagnose.js";
import { bytes, table } from "./format.js";
import { ClientError, Connection, parseHost } from "./http.js";
import { withProgress } from "./progress.js";
import { promptSecret, promptYesNo } from "./prompt.js";

export interface ClientIO {
  out: (s: string) => void;
  err: (s: string) => void;
  env: Record<string, string | undefined>;
  promptSecret: (q: string) => Promise<string>;
  confirm: (q: string) => Promise<boolean>;
  /** Opens the file in the user's editor and resolves when it exits. */
  edit: (file: string) => Promise<void>;
}

function runEditor(env: Record<string, string | undefined>) {
  return (file: string) =>
    new Promise<void>((resolve, reject) => {
      const editor = env.VISUAL || env.EDITOR || "vi";
      // $EDITOR may carry arguments ("code -w"): let the shell split it, the file stays one argument.
      const child = spawn("/bin/sh", ["-c", `${editor} "$1"`, "editor", file], { stdio: "inherit" });
      child.on("error", reject);
      child.on("exit", (code) =>
        code === 0 ? resolve() : reject(new ClientError(`${editor} exited with ${code}; nothing saved`)),
      );
    });
}

export function processIO(): ClientIO {
  return {
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
    env: process.env,
    promptSecret,
    confirm: promptYesNo,
    edit: runEditor(process.env),
  };
}

export interface Args {
  positional: string[];
  flags: Map<string, string[]>;
}

const VALUED = new Set([
  "--host",
  "--console",
  "--token",
  "--fingerprint",
  "--pool",
  "--add",
  "--remove",
  "--flake",
  "--boot",
  "--priority",
  "--unit",
  "--limit",
  "--cursor",
  "--hosts",
  "--concurrency",
  "--token-file",
  "--collector-fingerprint",
  "--apply",
]);
const BOOLEAN = new Set([
  "--json",
  "--yes",
  "-y",
  "--rw",
  "--force",
  "--accept-skipped",
  "--export",
  "--build",
  "--help",
  "-h",
]);

export function parseArgs(argv: string[]): Args {
  const positional: string[] = [];
  const flags = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === "--") {
      positional.push(...argv.slice(i + 1));
      break;
    }
    const eq = a.startsWith("--") ? a.indexOf("=") : -1;
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (VALUED.has(name)) {
      const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new ClientError(`${name} needs a value`, 0, "usage");
      flags.set(name, [...(flags.get(name) ?? []), v]);
    } else if (BOOLEAN.has(name)) flags.set(name === "-y" ? "--yes" : name === "-h" ? "--help" : name, ["1"]);
    // "-1" is a value (journal --boot -1 handled above), other dashes are unknown options.
    else if (a.startsWith("-") && !/^-\d+$/.test(a)) throw new ClientError(`unknown option ${a}`, 0, "usage");
    else positional.push(a);
  }
  return { positional, flags };
}

const one = (a: Args, f: string) => a.flags.get(f)?.at(-1);
const has = (a: Args, f: string) => a.flags.has(f);

/** `a/b c.nix` → `a/b%20c.nix`. */
const encodePath = (p: string) => p.split("/").filter(Boolean).map(encodeURIComponent).join("/");

export async function runClient(argv: string[], io: ClientIO = processIO()): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (e) {
    io.err(`lifeboat client: ${(e as Error).message}\n`);
    return 2;
  }
  if (has(args, "--help") || args.positional.length === 0) {
    io.out(help("client"));
    return has(args, "--help") ? 0 : 2;
  }
  if (has(args, "--hosts")) {
    try {
      return await runBatch(args, io, dispatch);
    } catch (e) {
      const err = e as ClientError;
      io.err(`lifeboat client: ${err.message}\n`);
      return err.code === "usage" ? 2 : 1;
    }
  }
  const hostArg = one(args, "--host") ?? io.env.LIFEBOAT_HOST;
  if (!hostArg) {
    io.err("lifeboat client: --host ADDR[:PORT] is required (or LIFEBOAT_HOST)\n");
    return 2;
  }
  try {
    const target = parseHost(hostArg, one(args, "--fingerprint") ?? io.env.LIFEBOAT_FINGERPRINT ?? null);
    const token =
      one(args, "--token") ||
      io.env.LIFEBOAT_TOKEN ||
      (await io.promptSecret("Lifeboat token (from the console): "));
    if (!token.trim()) throw new ClientError("no token given", 0, "usage");
    const c = new Connection(target, token.trim());
    return await dispatch(c, args, io);
  } catch (e) {
    const err = e as ClientError;
    io.err(`lifeboat client: ${err.message}${err.code && err.status ? ` [${err.code}]` : ""}\n`);
    if (err.code === "read-only-mount") io.err(`Re-mount read-write first:\n  ${remountCommand(args, io)}\n`);
    return err.code === "usage" ? 2 : 1;
  }
}

/** The exact command that re-mounts read-write, with the host this one used. */
function remountCommand(a: Args, io: ClientIO): string {
  const host = one(a, "--host") ?? io.env.LIFEBOAT_HOST;
  const fp = one(a, "--fingerprint");
  return `lifeboat client${host ? ` --host ${host}` : ""}${fp ? ` --fingerprint ${fp}` : ""} mount --rw`;
}

/**
 * Before a change is asked about: it needs the installed system mounted read-write. Read-only, it
 * says so and gives the exact command, before anything is shown or confirmed.
 */
async function needsReadWrite(c: Connection, a: Args, io: ClientIO): Promise<void> {
  const s = await c.json<{ mounted: { readonly: boolean } | null }>("GET", "/v1/status");
  if (!s.mounted)
    throw new ClientError(
      `the installed system is not mounted: mount it read-write first:\n  ${remountCommand(a, io)}`,
      409,
      "not-mounted",
    );
  if (s.mounted.readonly)
    throw new ClientError(
      "the installed system is mounted read-only; this change needs read-write",
      409,
      "read-only-mount",
    );
}

async function confirmed(io: ClientIO, a: Args, question: string): Promise<boolean> {
  if (has(a, "--yes")) return true;
  const ok = await io.confirm(question);
  if (!ok) io.err("Nothing done (answer y to proceed, or pass --yes).\n");
  return ok;
}

type J = Record<string, unknown>;
const str = (v: unknown) => (v === null || v === undefined ? "" : String(v));

async function dispatch(c: Connection, a: Args, io: ClientIO): Promise<number> {
  const [cmd, ...rest] = a.positional;
  const json = has(a, "--json");
  const print = (data: unknown, human: () => string) =>
    io.out(json ? `${JSON.stringify(data, null, 2)}\n` : human());
  switch (cmd) {
    case "status": {
      const s = await c.json<
        J & {
          warnings: string[];
          urls: string[];
          pools: { importable: string[]; imported: string[] };
          skipped?: Skipped[];
          systemPools?: { pool: string; importedBecause: string; readonly: boolean }[];
        }
      >("GET", "/v1/status");
      print(s, () =>
        [
          `${s.summary}`,
          `  phase:   ${s.phase}`,
          `  pools:   imported ${s.pools.imported.join(", ") || "-"}; importable ${s.pools.importable.join(", ") || "-"}`,
          ...(s.systemPools ?? []).map(
            (p) =>
              `  pool ${p.pool}: imported because ${p.importedBecause}${p.readonly ? " (read-only)" : ""}`,
          ),
          ...(s.skipped ?? []).map((e) => `  skipped: ${skippedText(e)}`),
          ...s.warnings.map((w) => `  warning: ${w}`),
          ...(s.busy
            ? [`  busy:    ${(s.busy as J).name}${(s.busy as J).step ? `: ${str((s.busy as J).step)}` : ""}`]
            : []),
          "",
        ].join("\n"),
      );
      return 0;
    }
    case "diagnose":
      return diagnoseCommand(c, io, {
        json,
        yes: has(a, "--yes"),
        apply: one(a, "--apply"),
        console: one(a, "--console"),
      });
    case "changes": {
      const sum = await c.json<Summary>("GET", "/v1/changes");
      print(sum, () => summaryText(sum));
      return 0;
    }
    case "disks": {
      const d = await c.json<{ disks: Dev[] }>("GET", "/v1/disks");
      const rows: string[][] = [];
      const walk = (list: Dev[], depth: number) => {
        for (const x of list) {
          rows.push([
            `${"  ".repeat(depth)}${x.name}`,
            x.type,
            bytes(x.size),
            str(x.fstype),
            str(x.label),
            x.mountpoints.join(","),
          ]);
          walk(x.children, depth + 1);
        }
      };
      walk(d.disks, 0);
      print(d, () => table(["NAME", "TYPE", "SIZE", "FSTYPE", "LABEL", "MOUNTED"], rows));
      return 0;
    }
    case "pools": {
      const p = await c.json<{ importable: J[]; imported: J[] }>("GET", "/v1/pools");
      print(p, () =>
        table(
          ["POOL", "STATE", "IMPORTED", "LAST HOST", "SIZE", "FREE"],
          [
            ...p.imported.map((x) => [
              str(x.name),
              str(x.health ?? x.state),
              "yes",
              "",
              bytes(x.size as string),
              bytes(x.free as string),
            ]),
            ...p.importable.map((x) => [
              str(x.name),
              str(x.state),
              "no",
              x.lastHost ? str((x.lastHost as J).hostname) : "",
              "",
              "",
            ]),
          ],
        ),
      );
      return 0;
    }
    case "mount": {
      const readonly = !has(a, "--rw");
      const pool = one(a, "--pool");
      const q = new URLSearchParams({ readonly: String(readonly), ...(pool ? { pool } : {}) });
      const plan = await c.json<{
        candidate: string;
        steps: J[];
        notes: string[];
        refused?: Skipped[];
        release?: { kind: string; target: string }[];
      }>("GET", `/v1/plan?${q}`);
      if (!json) {
        io.err(`${readonly ? "Read-only" : "Read-WRITE"} mount of ${plan.candidate}:\n`);
        const lines = [
          ...(plan.release ?? []).map((r) =>
            r.kind === "unmount"
              ? `unmount ${r.target}`
              : `export pool ${r.target} (to import it read-write)`,
          ),
          ...plan.steps.map(stepText),
        ];
        for (const [i, l] of lines.entries()) io.err(`  ${i + 1}. ${l}\n`);
        for (const e of plan.refused ?? []) io.err(`  left out: ${skippedText(e)}\n`);
        for (const n of plan.notes) io.err(`  note: ${n}\n`);
        if (has(a, "--force"))
          io.err("  FORCED import: only if the machine that last used the pool is off.\n");
      }
      if (!(await confirmed(io, a, "Mount?"))) return 1;
      type Result = {
        result: string;
        warnings: string[];
        notes?: string[];
        mounts: J[];
        skipped?: Skipped[];
      };
      const send = (acceptSkipped?: string[]) =>
        withProgress(
          c,
          io.err,
          c.json<Result>("POST", "/v1/mount", {
            readonly,
            ...(pool ? { pool } : {}),
            ...(has(a, "--force") ? { force: true } : {}),
            ...(acceptSkipped ? { acceptSkipped } : {}),
          }),
        );
      let r: Result;
      try {
        r = await send();
      } catch (e) {
        // Read-write would leave entries out: the operator acknowledges them by name (or --accept-skipped).
        if (!(e instanceof ClientError) || e.code !== "skipped-entries") throw e;
        const left = (e.problem.skipped as Skipped[] | undefined) ?? [];
        for (const x of left) io.err(`  would be left out: ${skippedText(x)}\n`);
        if (!has(a, "--accept-skipped")) {
          // --yes is no acknowledgment of what is left out: that takes --accept-skipped or a person.
          if (has(a, "--yes")) {
            io.err("not mounted: read-write would leave these out; --accept-skipped goes on without them\n");
            return 1;
          }
          if (!(await confirmed(io, a, "Mount read-write without them?"))) return 1;
        }
        r = await send(left.map((x) => x.path || x.source));
      }
      print(
        r,
        () =>
          `${r.result}: ${r.mounts.length} file systems${(r.notes ?? []).map((n) => `\n${n}`).join("")}${(r.skipped ?? []).map((x) => `\nskipped: ${skippedText(x)}`).join("")}${r.warnings.map((w) => `\nwarning: ${w}`).join("")}\n`,
      );
      return 0;
    }
    case "unmount": {
      const exp = has(a, "--export");
      if (!(await confirmed(io, a, exp ? "Unmount everything and export the pools?" : "Unmount everything?")))
        return 1;
      const r = await withProgress(
        c,
        io.err,
        c.json<{ unmounted: string[]; exported: string[] }>("POST", "/v1/unmount", { export: exp }),
      );
      print(r, () => `unmounted ${r.unmounted.length}; exported ${r.exported.join(", ") || "-"}\n`);
      return 0;
    }
    case "unlock": {
      const pool = rest[0];
      if (!pool) throw new ClientError("unlock POOL", 0, "usage");
      const passphrase = await io.promptSecret(`Passphrase for ${pool}: `);
      const r = await c.json<{ loaded: string[] }>("POST", `/v1/pools/${encodeURIComponent(pool)}/load-key`, {
        passphrase,
      });
      print(r, () => `key loaded: ${r.loaded.join(", ")}\n`);
      return 0;
    }
    case "generations": {
      const g = await c.json<{ generations: J[] }>("GET", "/v1/generations");
      print(g, () =>
        table(
          ["GEN", "DATE", "NIXOS", "KERNEL", "FLAGS"],
          g.generations.map((x) => [
            str(x.number),
            str(x.date).replace(/\.\d+Z$/, "Z"),
            str(x.nixosVersion),
            str(x.kernelVersion),
            [
              x.current ? "current" : "",
              x.bootDefault ? "boot-default" : "",
              x.closurePresent ? "" : "INCOMPLETE",
            ]
              .filter(Boolean)
              .join(","),
          ]),
        ),
      );
      return 0;
    }
    case "boot": {
      if (rest[0] === "default") {
        const n = Number(rest[1]);
        if (!Number.isInteger(n) || n < 1)
          throw new ClientError("boot default N (a generation number)", 0, "usage");
        await needsReadWrite(c, a, io);
        const [g, b] = await Promise.all([
          c.json<{ generations: J[] }>("GET", "/v1/generations"),
          c.json<{ entries: J[] }>("GET", "/v1/boot").catch(() => ({ entries: [] as J[] })),
        ]);
        const cur = g.generations.find((x) => x.bootDefault);
        const want = g.generations.find((x) => x.number === n);
        if (!want) throw new ClientError(`there is no generation ${n}`, 0, "usage");
        // As the boot menu names them.
        const named = (x: J) =>
          str(
            b.entries.find((e) => e.generation === x.number && !str(e.id).includes("specialisation"))?.name,
          ) || `generation ${str(x.number)} (NixOS ${str(x.nixosVersion)})`;
        io.err(
          `The boot menu will start by default:\n  ${named(want)}\n${cur && cur !== want ? `instead of:\n  ${named(cur)}\n` : ""}A snapshot is taken first.\n`,
        );
        if (!(await confirmed(io, a, `Boot generation ${n} by default?`))) return 1;
        const r = await c.json<{ result: J; snapshot: string | null; unchanged?: boolean }>(
          "POST",
          "/v1/boot/default",
          { generation: n },
        );
        print(r, () =>
          r.unchanged
            ? `generation ${n} already was the boot default: unchanged, no snapshot taken\n`
            : `generation ${n} is the boot default${r.snapshot ? ` (snapshot ${r.snapshot} taken before)` : ""}\n`,
        );
        return 0;
      }
      const b = await c.json<{ loader: string; default: string | null; entries: J[] }>("GET", "/v1/boot");
      print(
        b,
        () =>
          `loader: ${b.loader}, default: ${b.default ?? "-"}\n${table(
            ["ENTRY", "DEFAULT", "NAME (as the boot menu shows it)", "OPTIONS"],
            b.entries.map((e) => [
              str(e.id),
              e.isDefault ? "*" : "",
              str(e.name ?? e.title),
              (e.options as string[]).join(" "),
            ]),
          )}`,
      );
      return 0;
    }
    case "kernel-params": {
      const id = rest[0];
      const add = a.flags.get("--add") ?? [];
      const remove = a.flags.get("--remove") ?? [];
      if (!id || (!add.length && !remove.length))
        throw new ClientError("kernel-params ENTRY --add P … --remove P …", 0, "usage");
      await needsReadWrite(c, a, io);
      const b = await c.json<{
        entries: {
          id: string;
          name?: string;
          options: string[];
          isDefault?: boolean;
          protected?: string[];
        }[];
      }>("GET", "/v1/boot");
      // `default`: the entry the boot menu starts (its id differs from server to server).
      const e = b.entries.find(
        (x) => x.id === id || `${x.id}.conf` === id || (id === "default" && x.isDefault),
      );
      if (!e) throw new ClientError(`no boot entry ${id} (see: lifeboat client boot)`, 0, "usage");
      const kept = remove.filter((p) => (e.protected ?? []).includes(p));
      if (kept.length)
        throw new ClientError(
          `the system cannot boot without ${kept.join(" ")}: it is kept`,
          422,
          "protected-kernel-param",
        );
      const after = applyKernelParams(e.options, add, remove);
      io.err(`Boot entry ${e.id}: ${e.name ?? ""}\n`);
      for (const p of e.options.filter((x) => !after.includes(x))) io.err(`  - ${p}\n`);
      for (const p of after.filter((x) => !e.options.includes(x))) io.err(`  + ${p}\n`);
      if (!(await confirmed(io, a, "Change the boot entry?"))) return 1;
      const r = await c.json<J>("POST", `/v1/boot/entries/${encodeURIComponent(e.id)}/kernel-params`, {
        add,
        remove,
      });
      print(r, () =>
        r.unchanged
          ? `boot entry ${e.id} already had these parameters: unchanged, no snapshot taken\n`
          : `boot entry ${e.id} changed${r.snapshot ? ` (snapshot ${str(r.snapshot)} taken before)` : ""}\n`,
      );
      return 0;
    }
    case "config":
      return config(c, a, io, rest);
    case "rebuild": {
      const action = has(a, "--build") ? "build" : "boot";
      const flake = one(a, "--flake");
      if (action === "boot") await needsReadWrite(c, a, io);
      io.err(
        action === "boot"
          ? "nixos-rebuild boot inside the installed system: a new generation becomes the boot default (snapshot first).\n"
          : "nixos-rebuild build inside the installed system: checks that it builds, changes nothing.\n",
      );
      io.err(`${RUNS_INSTALLED_CODE}\n`);
      if (!(await confirmed(io, a, "Start the rebuild?"))) return 1;
      const { job } = await c.json<{ job: { id: string } }>("POST", "/v1/rebuild", {
        action,
        ...(flake ? { flake } : {}),
      });
      return followJob(c, job.id, io, json);
    }
    case "jobs": {
      const j = await c.json<{ jobs: J[] }>("GET", "/v1/jobs");
      print(j, () =>
        table(
          ["ID", "STARTED", "STATE", "EXIT", "TITLE"],
          j.jobs.map((x) => [str(x.id), str(x.createdAt), str(x.state), str(x.exitCode), str(x.title)]),
        ),
      );
      return 0;
    }
    case "log": {
      if (!rest[0]) throw new ClientError("log JOB", 0, "usage");
      return followJob(c, rest[0], io, json, true);
    }
    case "journal": {
      const q = new URLSearchParams({ boot: one(a, "--boot") ?? "-1", limit: one(a, "--limit") ?? "200" });
      for (const k of ["priority", "unit", "cursor"]) {
        const v = one(a, `--${k}`);
        if (v) q.set(k, v);
      }
      const r = await c.json<{ entries: J[]; nextCursor: string | null }>("GET", `/v1/journal?${q}`);
      print(
        r,
        () =>
          `${r.entries
            .map(
              (e) =>
                `${str(e.time)} ${PRIO[e.priority as number] ?? "-"} ${str(e.unit ?? e.identifier)}: ${str(e.message)}`,
            )
            .join(
              "\n",
            )}${r.entries.length ? "\n" : ""}${r.nextCursor ? `(more: --cursor ${r.nextCursor})\n` : ""}`,
      );
      return 0;
    }
    case "snapshots": {
      const r = await c.json<{ pool: string; snapshots: J[] }>("GET", "/v1/snapshots");
      print(r, () =>
        table(
          ["SNAPSHOT", "CREATED", "USED"],
          r.snapshots
            .filter((s) => s.dataset === r.pool)
            .map((s) => [str(s.name), created(str(s.created)), bytes(str(s.used))]),
        ),
      );
      return 0;
    }
    case "snapshot": {
      await needsReadWrite(c, a, io);
      if (!(await confirmed(io, a, "Take a recursive snapshot of the root pool?"))) return 1;
      const r = await c.json<{ snapshot: string | null }>("POST", "/v1/snapshots", {});
      print(r, () => `${r.snapshot}\n`);
      return 0;
    }
    case "export":
    case "reboot": {
      io.err(
        cmd === "export"
          ? "Unmounts everything and exports the pools so that the server can import them at boot.\n"
          : "Unmounts everything, exports the pools and RESTARTS the machine.\n",
      );
      if (!(await confirmed(io, a, cmd === "export" ? "Export?" : "Reboot now?"))) return 1;
      const r = await withProgress(
        c,
        io.err,
        c.json<J>(
          "POST",
          cmd === "export" ? "/v1/export" : "/v1/reboot",
          cmd === "export" ? {} : { export: true },
        ),
      );
      if (json) {
        print(r, () => "");
        return 0;
      }
      if (cmd === "reboot") {
        io.out("rebooting\n");
        return 0;
      }
      // Ready to reboot, with what this rescue changed (never "nothing has been changed" after changes).
      const sum = await c.json<Summary>("GET", "/v1/changes");
      io.out(summaryText(sum));
      return 0;
    }
    default:
      throw new ClientError(
        `unknown command ${JSON.stringify(cmd)} (see lifeboat client --help)`,
        0,
        "usage",
      );
  }
}

interface Dev {
  name: string;
  type: string;
  size: string | null;
  fstype: string | null;
  label: string | null;
  mountpoints: string[];
  children: Dev[];
}

const PRIO = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"];

function created(v: string): string {
  return /^\d+$/.test(v) ? new Date(Number(v) * 1000).toISOString().replace(/\.000Z$/, "Z") : v;
}

interface Skipped {
  kind: string;
  path: string;
  source: string;
  reason: string;
}

function skippedText(e: Skipped): string {
  return `${e.path || e.source} (${e.kind}${e.path && e.source ? ` ${e.source}` : ""}): ${e.reason}`;
}

function stepText(s: J): string {
  if (s.kind === "import-pool")
    return `import pool ${str(s.pool)} ${s.readonly ? "read-only" : "read-write"} under ${str(s.altroot)}`;
  if (s.kind === "mount") return `mount ${str(s.source)} on ${str(s.path)} (${str(s.fstype)})`;
  return `${str(s.kind)} ${str(s.pool ?? s.source)}`;
}

/**
 * Streams a job's log: stdout lines to stdout, the rest to stderr (`log JOB`: every line to stdout,
 * so `> file` and `| less` get the whole log); exit code = the job's.
 */
async function followJob(
  c: Connection,
  id: string,
  io: ClientIO,
  json: boolean,
  allToStdout = false,
): Promise<number> {
  let end: { state: string; exitCode: number | null } | null = null;
  await c.stream(`/v1/jobs/${encodeURIComponent(id)}/log`, (e) => {
    const d = JSON.parse(e.data || "{}") as {
      stream?: string;
      text?: string;
      state?: string;
      exitCode?: number | null;
    };
    if (json) io.out(`${JSON.stringify({ event: e.event, ...d })}\n`);
    else if (e.event === "line")
      (d.stream === "stdout" || allToStdout ? io.out : io.err)(`${d.text ?? ""}\n`);
    if (e.event === "end") end = { state: d.state ?? "unknown", exitCode: d.exitCode ?? null };
  });
  const r = end as { state: string; exitCode: number | null } | null;
  if (!r) {
    io.err("lifeboat client: the log stream ended without a result\n");
    return 1;
  }
  if (!json) io.err(`job ${r.state}${r.exitCode !== null ? ` (exit ${r.exitCode})` : ""}\n`);
  if (r.state === "succeeded") return 0;
  return r.exitCode !== null && r.exitCode > 0 ? r.exitCode : 1;
}

async function config(c: Connection, a: Args, io: ClientIO, rest: string[]): Promise<number> {
  const [sub, path] = rest;
  if (!sub || sub === "ls") {
    const t = await c.json<{ flake: boolean; hosts: string[]; files: { path: string; size: number }[] }>(
      "GET",
      "/v1/config",
    );
    io.out(
      has(a, "--json")
        ? `${JSON.stringify(t, null, 2)}\n`
        : table(
            ["PATH", "SIZE"],
            t.files.map((f) => [f.path, bytes(f.size)]),
          ),
    );
    return 0;
  }
  if (!path) throw new ClientError(`config ${sub} PATH`, 0, "usage");
  const url = `/v1/config/${encodePath(path)}`;
  const r = await c.request("GET", url);
  const file = JSON.parse(r.body) as { content: string; etag: string };
  const etag = str(r.headers.etag) || file.etag;
  if (sub === "get") {
    io.out(has(a, "--json") ? `${JSON.stringify(file, null, 2)}\n` : file.content);
    return 0;
  }
  if (sub !== "edit") throw new ClientError(`config ls|get|edit, not ${sub}`, 0, "usage");
  await needsReadWrite(c, a, io);
  const dir = await mkdtemp(join(tmpdir(), "lifeboat-edit-"));
  const local = join(dir, basename(path));
  let keep = false;
  try {
    await writeFile(local, file.content, { mode: 0o600 });
    await io.edit(local);
    const edited = await readFile(local, "utf8");
    if (edited === file.content) {
      io.err("No changes.\n");
      return 0;
    }
    const d = lineDiff(file.content, edited);
    for (const l of d ? hunks(d) : []) io.err(l ? `${l.op} ${l.text}\n` : "…\n");
    if (!(await confirmed(io, a, `Save ${path} (snapshot first)?`))) {
      keep = true;
      io.err(`Your text is kept in ${local}\n`);
      return 1;
    }
    try {
      await c.request("PUT", url, { content: edited }, { "if-match": etag });
    } catch (e) {
      if ((e as ClientError).status === 412) {
        keep = true;
        throw new ClientError(
          `${path} changed on the server since it was fetched: nothing saved. Your text is kept in ${local}`,
          412,
          "precondition-failed",
        );
      }
      throw e;
    }
    io.err(`${path} saved.\n`);
    return 0;
  } finally {
    if (!keep) await rm(dir, { recursive: true, force: true });
  }
}

interface Summary {
  state: string;
  sentence: string;
  changes: {
    at: string;
    what: string;
    where: string | null;
    snapshot: string | null;
    undo: { text: string } | null;
  }[];
  failed: { at: string; what: string }[];
}

/** What this rescue changed, for people: the sentence, then each change with its snapshot and undo. */
function summaryText(sum: Summary): string {
  const lines = [sum.sentence];
  for (const c of sum.changes) {
    lines.push(`  ${c.at.slice(11, 19)} ${c.what}${c.where ? ` (${c.where})` : ""}`);
    lines.push(
      `           snapshot before: ${c.snapshot ?? "none"}${c.undo ? `; to undo: ${c.undo.text}` : ""}`,
    );
  }
  for (const f of sum.failed) lines.push(`  ${f.at.slice(11, 19)} failed, not made: ${f.what}`);
  return `${lines.join("\n")}\n`;
}
