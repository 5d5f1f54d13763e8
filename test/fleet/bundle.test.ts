import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { capture, registerSecret } from "../helpers/secrets.js";

// The real single-file bundle: `lifeboat collect` and an agent phoning home to it, both as
// processes on loopback (prom-client and the collector are inside the one file).

const ROOT = join(import.meta.dirname, "..", "..");
const KEY = "bundle-fleet-key-0123456789-SECRET";
const METRICS = "bundle-metrics-token-0123456789-SECRET";
registerSecret(KEY, METRICS);
let bundle = "";
let dir = "";
const children: ChildProcess[] = [];
const outputs: string[] = [];

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => resolve(typeof a === "object" && a ? a.port : 0));
    });
  });
}

function start(args: string[], cwd: string): { out: () => string } {
  const child = spawn("node", [bundle, ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  const i = outputs.push("") - 1;
  const add = (b: Buffer) => {
    outputs[i] += b.toString();
  };
  child.stdout?.on("data", add);
  child.stderr?.on("data", add);
  return { out: () => outputs[i] as string };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "lifeboat-fleet-bundle-"));
  bundle = join(dir, "lifeboat.mjs");
  await execa("node", [join(ROOT, "agent", "build.mjs"), bundle]);
  await writeFile(join(dir, "keys"), `# fleet\n${KEY}\n`, { mode: 0o600 });
  await writeFile(join(dir, "metrics"), `${METRICS}\n`, { mode: 0o600 });
}, 120_000);

afterAll(() => {
  for (const c of children) c.kill("SIGTERM");
  for (const o of outputs) capture("bundle process output", o);
});

describe("the bundle as collector and agent", () => {
  it("the agent phones home, the collector lists it and writes file_sd; /metrics passes promtool", async () => {
    const cport = await freePort();
    const collector = start(
      [
        "collect",
        "--listen",
        `127.0.0.1:${cport}`,
        "--keys",
        join(dir, "keys"),
        "--file-sd",
        join(dir, "sd.json"),
      ],
      dir,
    );
    await vi.waitFor(() => expect(collector.out()).toContain('"msg":"collector listening"'), {
      timeout: 20_000,
      interval: 50,
    });
    const aport = await freePort();
    const agentArgs = [
      "--listen",
      `127.0.0.1:${aport}`,
      "--token-file",
      join(dir, "token"),
      "--root",
      join(dir, "mnt"),
      "--callback",
      `http://127.0.0.1:${cport}/v1/report`,
      "--callback-token-file",
      join(dir, "keys-agent"),
      "--metrics-token-file",
      join(dir, "metrics"),
      "--name",
      "bundle-host",
    ];
    const agent = start(agentArgs, dir);
    // The callback key file is missing: the agent refuses to start and says why.
    await vi.waitFor(() => expect(agent.out()).toMatch(/callback token file .*keys-agent is missing/), {
      timeout: 20_000,
      interval: 50,
    });
    await writeFile(join(dir, "keys-agent"), `${KEY}\n`, { mode: 0o600 });
    const agent2 = start(agentArgs, dir);
    const fleet = await vi.waitFor(
      async () => {
        const r = await fetch(`http://127.0.0.1:${cport}/v1/fleet`);
        const j = (await r.json()) as { hosts: { name: string; url: string; phase: string }[] };
        expect(j.hosts).toHaveLength(1);
        return j;
      },
      { timeout: 30_000, interval: 200 },
    );
    expect(fleet.hosts[0]).toMatchObject({ name: "bundle-host", url: `http://127.0.0.1:${aport}/` });
    // The collector answers /v1/fleet from memory as soon as it accepts the report and writes
    // the file_sd document right after (write then rename): wait for the file, do not race it.
    await vi.waitFor(
      async () => {
        const sd = JSON.parse(await readFile(join(dir, "sd.json"), "utf8")) as { targets: string[] }[];
        expect(sd[0]?.targets).toEqual([`127.0.0.1:${aport}`]);
      },
      { timeout: 10_000, interval: 50 },
    );
    const token = (await readFile(join(dir, "token"), "utf8")).trim();
    registerSecret(token);
    // The agent counts a report once the collector's answer arrives, which may be after the fleet
    // listing shows it.
    const text = await vi.waitFor(
      async () => {
        const m = await fetch(`http://127.0.0.1:${aport}/metrics`, {
          headers: { authorization: `Bearer ${METRICS}` },
        });
        expect(m.status).toBe(200);
        const t = await m.text();
        expect(t).toMatch(/lifeboat_callback_reports_sent [1-9]/);
        return t;
      },
      { timeout: 10_000, interval: 100 },
    );
    expect(text).toContain('lifeboat_info{version="');
    if (spawnSync("promtool", ["--version"]).status === 0) {
      const r = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
      expect(`${r.stdout}${r.stderr}`).toBe("");
    }
    expect(agent2.out()).toContain('"msg":"phone home on"');
    expect(agent2.out()).not.toContain(token);
  }, 90_000);
});
