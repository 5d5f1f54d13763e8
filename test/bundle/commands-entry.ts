/**
 * Runs commands through RealSystem (agent/src/system/real.ts) with every execa option the agent
 * uses, and prints one JSON line per case. test/bundle/stubs.test.ts bundles this file twice, with
 * and without agent/bundle-stubs.mjs, and compares the lines: the stubbed execa must do exactly
 * what the real one does on the agent's paths. Then it tries the paths the stubs cut off.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { createLogger } from "../../agent/src/logger.js";
import { JAIL_TOOLS, which } from "../../agent/src/system/jail.js";
import { RealSystem } from "../../agent/src/system/real.js";
import type { OutputLine, Spawned } from "../../agent/src/system/system.js";

// The agent's own logger (a synchronous destination), silent.
const sys = new RealSystem(createLogger("silent"));
const out = (name: string, value: unknown) => process.stdout.write(`${JSON.stringify({ name, value })}\n`);
// Durations differ from run to run: everything else is compared.
const strip = <T extends { durationMs?: number }>({ durationMs: _, ...rest }: T) => rest;

async function lines(s: Spawned) {
  const got: OutputLine[] = [];
  s.onLine((l) => got.push(l));
  const done = await s.done;
  const by = (stream: string) => got.filter((l) => l.stream === stream);
  return { stdout: by("stdout"), stderr: by("stderr"), done };
}

const sh = (script: string) => ["-c", script] as const;

out(
  "exit code, both streams, final newline kept",
  strip(await sys.run("sh", sh("printf 'a\\nb\\n'; printf err >&2; exit 3"))),
);
out("input on stdin", strip(await sys.run("cat", [], { input: "line1\nline2\n" })));
out("no input: stdin is empty, not the agent's", strip(await sys.run("sh", sh("wc -c"))));
out(
  "env added to the agent's, LC_ALL=C",
  strip(await sys.run("sh", sh('echo "$FOO|$LC_ALL|$' + '{HOME:+home}"'), { env: { FOO: "x y" } })),
);
out("not found", strip(await sys.run("/nonexistent/lifeboat-no-such-program", ["a"])));
out("timeout", strip(await sys.run("sleep", ["10"], { timeoutMs: 200 })));
const aborted = new AbortController();
setTimeout(() => aborted.abort(), 200);
out("cancelled by the signal", strip(await sys.run("sleep", ["10"], { signal: aborted.signal })));
out(
  "TERM ignored: killed after forceKillAfterDelay",
  strip(await sys.run("sh", sh("trap '' TERM; sleep 8 & wait"), { timeoutMs: 200 })),
);
out("a large output, whole", (await sys.run("head", ["-c", "3000000", "/dev/zero"])).stdout.length);
out(
  "spawn: lines of both streams, exit code",
  await lines(sys.spawn("sh", sh("echo one; echo two >&2; printf 'no newline'; exit 4"))),
);
out("spawn: input", await lines(sys.spawn("cat", [], { input: "in\n" })));
out("spawn: not found", (await lines(sys.spawn("/nonexistent/lifeboat-no-such-program", []))).done);
{
  const s = sys.spawn("sleep", ["10"]);
  setTimeout(() => s.kill("SIGTERM"), 200);
  out("spawn: killed", (await lines(s)).done);
}
const jail = process.getuid?.() === 0 && JAIL_TOOLS.every((t) => which(t));
if (jail) {
  const data = await mkdtemp(join(tmpdir(), "lifeboat-stubs-"));
  const jailed = (script: string, limits = {}) =>
    sys.runJailed("git", "sh", sh(script), { data, limits, env: { A: "1" } });
  out(
    "jailed: output, env of its own only",
    strip(await jailed('echo "$A|$' + '{HOME:-none}|$LC_ALL"; echo e >&2; exit 2')),
  );
  out(
    "jailed: maxBuffer",
    // How the writer ends once its output is cut (SIGPIPE or not) is a race: not compared.
    await jailed("head -c 100000 /dev/zero | tr '\\0' x", { maxOutputBytes: 1000 }).then((r) => ({
      stdout: r.stdout,
      stderr: r.stderr,
      truncated: r.truncated,
    })),
  );
  out("jailed: deadline (SIGKILL)", strip(await jailed("sleep 10", { deadlineMs: 300 })));
  out(
    "jailed spawn: lines",
    await lines(sys.spawnJailed("git", "sh", sh("echo one; echo two >&2"), { data })),
  );
  out(
    "jailed spawn: output cap",
    (await lines(sys.spawnJailed("git", "sh", sh("yes line"), { data, limits: { maxOutputBytes: 1000 } })))
      .done,
  );
  await rm(data, { recursive: true, force: true });
} else out("jailed", "skipped: needs root, bwrap, setpriv and prlimit");

// Paths the agent never takes (cut off by the stubs in the bundle): what each one does here.
async function attempt(what: () => unknown): Promise<string> {
  try {
    await what();
    return "ran";
  } catch (err) {
    return String((err as Error).message).includes("is not available in the lifeboat bundle")
      ? "stub"
      : "other error";
  }
}
const child = () => execa("true", [], { reject: false });
out("not taken", {
  template: await attempt(() => execa`true`),
  verbose: await attempt(() => execa("true", [], { verbose: "short" })),
  lines: await attempt(() => execa("true", [], { lines: true })),
  transform: await attempt(() =>
    execa("true", [], {
      stdout: function* (l: unknown) {
        yield l;
      },
    }),
  ),
  ipc: await attempt(() => execa("true", [], { ipc: true })),
  preferLocal: await attempt(() => execa("true", [], { preferLocal: true })),
  pipe: await attempt(() => child().pipe("cat")),
  readable: await attempt(() => child().readable()),
  sendMessage: await attempt(() =>
    (child() as unknown as { sendMessage: (m: string) => unknown }).sendMessage("x"),
  ),
});
