import { readFile, stat } from "node:fs/promises";
import { type BatchHost, hostsFromFleet, parseHostsFile } from "../core/fleet/hosts.js";
import { keyIdOf } from "../core/fleet/sign.js";
import { table } from "./format.js";
import { ClientError, Connection, parseHost } from "./http.js";
import type { Args, ClientIO } from "./main.js";

export type Dispatch = (c: Connection, a: Args, io: ClientIO) => Promise<number>;

export interface HostResult {
  name: string;
  url: string;
  /** ok: done (or read); planned: a change was shown, not applied (no --yes); failed. */
  result: "ok" | "planned" | "failed";
  exitCode: number;
  ms: number;
  /** What the command printed on stdout (parsed when --json). */
  output: unknown;
  /** What it printed on stderr: plans, diffs, warnings, errors. */
  messages: string;
}

const one = (a: Args, f: string) => a.flags.get(f)?.at(-1);
const has = (a: Args, f: string) => a.flags.has(f);

/** Servers from a hosts file or a collector (`GET <url>/v1/fleet`). */
async function loadHosts(spec: string, a: Args, io: ClientIO): Promise<BatchHost[]> {
  if (/^https?:\/\//i.test(spec)) {
    const base = new URL(spec.endsWith("/") ? spec : `${spec}/`);
    const fp = one(a, "--collector-fingerprint") ?? null;
    const c = new Connection(parseHost(spec, fp), io.env.LIFEBOAT_COLLECTOR_TOKEN ?? "none", 30_000);
    const path = `${base.pathname.replace(/\/v1\/fleet\/?$/, "/")}v1/fleet`;
    return hostsFromFleet(await c.json("GET", path));
  }
  let text: string;
  try {
    const info = await stat(spec);
    text = await readFile(spec, "utf8");
    if (/(^|\s)token=/m.test(text) && (info.mode & 0o077) !== 0)
      io.err(`warning: ${spec} holds tokens and is readable by others (chmod 600 ${spec})\n`);
  } catch (e) {
    throw new ClientError(`cannot read the hosts file ${spec}: ${(e as Error).message}`, 0, "usage");
  }
  try {
    return parseHostsFile(text);
  } catch (e) {
    throw new ClientError((e as Error).message, 0, "usage");
  }
}

/** Tokens to choose from: --token-file (one per line), --token / LIFEBOAT_TOKEN. */
async function loadTokens(
  a: Args,
  io: ClientIO,
): Promise<{ byId: Map<string, string>; fallback: string | null }> {
  const byId = new Map<string, string>();
  const file = one(a, "--token-file") ?? io.env.LIFEBOAT_TOKEN_FILE;
  if (file) {
    const text = await readFile(file, "utf8").catch((e: Error) => {
      throw new ClientError(`cannot read the token file ${file}: ${e.message}`, 0, "usage");
    });
    for (const l of text.split(/\r?\n/)) {
      const t = l.trim();
      if (t && !t.startsWith("#")) byId.set(keyIdOf(t), t);
    }
  }
  const fallback = one(a, "--token") || io.env.LIFEBOAT_TOKEN || null;
  return { byId, fallback: fallback?.trim() || null };
}

/** The token for one server, never one it is known not to hold. */
function tokenFor(h: BatchHost, tokens: { byId: Map<string, string>; fallback: string | null }): string {
  if (h.token) return h.token;
  if (h.tokenId) {
    const t =
      tokens.byId.get(h.tokenId) ??
      (tokens.fallback && keyIdOf(tokens.fallback) === h.tokenId ? tokens.fallback : null);
    if (!t)
      throw new ClientError(
        `no token for this server: it holds ${h.tokenId} (add it to --token-file)`,
        0,
        "no-token",
      );
    return t;
  }
  const only = tokens.byId.size === 1 ? [...tokens.byId.values()][0] : undefined;
  const t = tokens.fallback ?? only;
  if (!t)
    throw new ClientError(
      "no token for this server (token= in the hosts file, --token-file or LIFEBOAT_TOKEN)",
      0,
      "no-token",
    );
  return t;
}

async function runOne(
  h: BatchHost,
  a: Args,
  io: ClientIO,
  tokens: Parameters<typeof tokenFor>[1],
  dispatch: Dispatch,
): Promise<HostResult> {
  const t0 = Date.now();
  let out = "";
  let err = "";
  let planned = false;
  let url = h.address;
  const hostIO: ClientIO = {
    out: (s) => {
      out += s;
    },
    err: (s) => {
      err += s;
    },
    env: io.env,
    promptSecret: async () => {
      throw new ClientError("this command asks for a secret: run it on one server (--host)", 0, "usage");
    },
    confirm: async () => {
      planned = true; // dry run: the plan or diff is printed, nothing is applied
      return false;
    },
    edit: async () => {
      throw new ClientError("config edit opens an editor: run it on one server (--host)", 0, "usage");
    },
  };
  let code: number;
  try {
    const target = parseHost(h.address, h.fingerprint);
    url = `${target.scheme}://${target.host.includes(":") ? `[${target.host}]` : target.host}:${target.port}`;
    code = await dispatch(new Connection(target, tokenFor(h, tokens)), a, hostIO);
  } catch (e) {
    const ce = e as ClientError;
    err += `${ce.message}${ce.code && ce.status ? ` [${ce.code}]` : ""}\n`;
    code = ce.code === "usage" ? 2 : 1;
  }
  if (planned) err = err.replace(/^Nothing done \(answer y to proceed, or pass --yes\)\.\n/m, "");
  let output: unknown = out;
  if (has(a, "--json") && out.trim()) {
    try {
      output = JSON.parse(out);
    } catch {
      output = out; // streamed job logs are JSON lines
    }
  }
  return {
    name: h.name,
    url,
    result: planned && code !== 0 ? "planned" : code === 0 ? "ok" : "failed",
    exitCode: planned ? 0 : code,
    ms: Date.now() - t0,
    output,
    messages: err,
  };
}

const indent = (s: string) =>
  s
    .trimEnd()
    .split("\n")
    .map((l) => `  ${l}`)
    .join("\n");

/**
 * `lifeboat client --hosts FILE|URL COMMAND`: the command on every server, at most --concurrency
 * at a time; each server's output kept apart, then a summary. Changes are a dry run (each server's
 * plan or diff) unless --yes. Exit 1 if any server failed.
 */
export async function runBatch(a: Args, io: ClientIO, dispatch: Dispatch): Promise<number> {
  const [cmd, sub] = a.positional;
  if (cmd === "config" && sub === "edit")
    throw new ClientError("config edit opens an editor: run it on one server (--host)", 0, "usage");
  if (cmd === "unlock")
    throw new ClientError("unlock asks for a passphrase: run it on one server (--host)", 0, "usage");
  const limit = Number(one(a, "--concurrency") ?? 8);
  if (!Number.isInteger(limit) || limit < 1 || limit > 256)
    throw new ClientError("--concurrency wants 1..256", 0, "usage");
  const hosts = await loadHosts(one(a, "--hosts") as string, a, io);
  if (hosts.length === 0) throw new ClientError("no servers in the host list", 0, "usage");
  const tokens = await loadTokens(a, io);
  if (!tokens.fallback && tokens.byId.size === 0 && hosts.some((h) => !h.token))
    tokens.fallback = (await io.promptSecret("Lifeboat token (for every server): ")).trim() || null;

  const results: HostResult[] = new Array(hosts.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < hosts.length; i = next++)
      results[i] = await runOne(hosts[i] as BatchHost, a, io, tokens, dispatch);
  };
  await Promise.all(Array.from({ length: Math.min(limit, hosts.length) }, worker));

  const count = (r: HostResult["result"]) => results.filter((x) => x.result === r).length;
  const summary = { ok: count("ok"), planned: count("planned"), failed: count("failed") };
  if (has(a, "--json")) io.out(`${JSON.stringify({ hosts: results, summary }, null, 2)}\n`);
  else {
    for (const r of results) {
      io.out(`== ${r.name} (${r.url}): ${r.result}\n`);
      if (r.messages.trim()) io.out(`${indent(r.messages)}\n`);
      if (typeof r.output === "string" && r.output.trim()) io.out(`${indent(r.output)}\n`);
    }
    io.out(
      `\n${table(
        ["HOST", "RESULT", "EXIT", "TIME", "DETAIL"],
        results.map((r) => [
          r.name,
          r.result,
          r.exitCode,
          `${(r.ms / 1000).toFixed(1)}s`,
          r.result === "failed" ? (r.messages.trim().split("\n").at(-1) ?? "") : "",
        ]),
      )}`,
    );
    io.out(
      `${hosts.length} server(s): ${summary.ok} ok, ${summary.planned} planned, ${summary.failed} failed${summary.planned ? " — dry run: nothing was changed where planned; add --yes to apply" : ""}\n`,
    );
  }
  return summary.failed > 0 ? 1 : 0;
}
