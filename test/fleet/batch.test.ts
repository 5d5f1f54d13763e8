import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type ClientIO, runClient } from "../../agent/src/client/main.js";
import { sandbox } from "../helpers/fixtures.js";
import { closeAll, startAgent, startCollector } from "./rig.js";

// `lifeboat client --hosts …` against several agents on the recording fake, one of them failing.

afterEach(closeAll);

interface Captured extends ClientIO {
  stdout: string;
  stderr: string;
  asked: string[];
}
function io(env: Record<string, string> = {}): Captured {
  const c: Captured = {
    stdout: "",
    stderr: "",
    asked: [],
    out: (s) => {
      c.stdout += s;
    },
    err: (s) => {
      c.stderr += s;
    },
    env,
    promptSecret: async (q) => {
      c.asked.push(q);
      return "";
    },
    confirm: async (q) => {
      c.asked.push(q);
      return true; // a batch never asks: a dry run or --yes decides
    },
    edit: async () => undefined,
  };
  return c;
}

const tok = (name: string) => `api-token-${name}-batch-0123456789-SECRET`;
const entryOptions = (a: Awaited<ReturnType<typeof startAgent>>) =>
  a.r.services.boot.boot().then((b) => b.entries.find((e) => e.isDefault)?.options ?? []);

async function fleet() {
  const agents = await Promise.all([
    startAgent({ token: tok("atlas"), name: "atlas", mountRw: true }),
    startAgent({ token: tok("hermes"), name: "hermes", mountRw: true }),
    // Mounted read-only: a change there fails with 409 read-only-mount.
    startAgent({ token: tok("zeus"), name: "zeus", mountRo: true }),
  ]);
  const dir = await sandbox();
  const file = join(dir, "hosts");
  const names = ["atlas", "hermes", "zeus"];
  await writeFile(
    file,
    `# the servers of the bad deploy\n${agents.map((a, i) => `${a.host} name=${names[i]} token=${a.token}`).join("\n")}\n`,
    { mode: 0o600 },
  );
  return { agents, file, dir };
}

describe("lifeboat client --hosts", () => {
  it("status on every server: per-host results, a summary table, exit 1 when one is unreachable", async () => {
    const { agents, file, dir } = await fleet();
    const withDead = join(dir, "hosts-dead");
    await writeFile(
      withDead,
      `${await import("node:fs/promises").then((f) => f.readFile(file, "utf8"))}127.0.0.1:9 name=dead token=${tok("dead")}\n`,
      {
        mode: 0o600,
      },
    );
    const before = agents.map((a) => a.r.sys.mutations().length);
    const o = io();
    expect(await runClient(["--hosts", withDead, "--concurrency", "2", "status"], o)).toBe(1);
    expect(o.stdout).toContain("== atlas (http://127.0.0.1:");
    expect(o.stdout).toMatch(/== dead \(http:\/\/127\.0\.0\.1:9\): failed\n {2}cannot reach the agent/);
    expect(o.stdout).toMatch(/\nHOST\s+RESULT\s+EXIT\s+TIME\s+DETAIL\natlas\s+ok\s+0\s/);
    expect(o.stdout).toMatch(/\ndead\s+failed\s+1\s+[\d.]+s\s+cannot reach the agent/);
    expect(o.stdout).toContain("4 server(s): 3 ok, 0 planned, 1 failed");
    expect(agents.map((a) => a.r.sys.mutations().length)).toEqual(before); // reading changes nothing
    const j = io();
    expect(await runClient(["--hosts", file, "--json", "status"], j)).toBe(0);
    const out = JSON.parse(j.stdout);
    expect(out.summary).toEqual({ ok: 3, planned: 0, failed: 0 });
    expect(
      out.hosts.map((h: { name: string; output: { phase: string } }) => [h.name, h.output.phase]),
    ).toEqual([
      ["atlas", "mounted-rw"],
      ["hermes", "mounted-rw"],
      ["zeus", "mounted-ro"],
    ]);
  });

  it("the hotfix: a dry run shows each server's diff and changes nothing; --yes applies it, one server fails", async () => {
    const { agents, file } = await fleet();
    const before = await Promise.all(agents.map((a) => a.r.sys.mutations().length));
    const dry = io();
    const args = ["--hosts", file, "kernel-params", "default", "--add", "module_blacklist=vfio_pci"];
    // zeus is mounted read-only: the dry run already says it needs read-write (before any plan).
    expect(await runClient(args, dry)).toBe(1);
    expect(dry.asked).toEqual([]);
    expect(dry.stdout.match(/\+ module_blacklist=vfio_pci/g)).toHaveLength(2);
    expect(dry.stdout).toMatch(/== atlas \(.*\): planned\n {2}Boot entry nixos-generation-3:/);
    expect(dry.stdout).toMatch(/\nzeus\s+failed\s+1\s+[\d.]+s\s+.*\[read-only-mount\]/);
    expect(dry.stdout).toContain("3 server(s): 0 ok, 2 planned, 1 failed — dry run");
    expect(await Promise.all(agents.map((a) => a.r.sys.mutations().length))).toEqual(before);
    for (const a of agents) expect(await entryOptions(a)).not.toContain("module_blacklist=vfio_pci");

    const apply = io();
    expect(await runClient([...args, "--yes"], apply)).toBe(1);
    expect(apply.stdout).toMatch(/\natlas\s+ok\s+0\s/);
    expect(apply.stdout).toMatch(/\nhermes\s+ok\s+0\s/);
    expect(apply.stdout).toMatch(/\nzeus\s+failed\s+1\s+[\d.]+s\s+.*\[read-only-mount\]/);
    expect(await entryOptions(agents[0] as (typeof agents)[0])).toContain("module_blacklist=vfio_pci");
    expect(await entryOptions(agents[1] as (typeof agents)[0])).toContain("module_blacklist=vfio_pci");
    expect(await entryOptions(agents[2] as (typeof agents)[0])).not.toContain("module_blacklist=vfio_pci");
  });

  it("from a collector: servers and the token each one holds (by id, from --token-file); a server with no known token is not contacted", async () => {
    const c = await startCollector();
    const agents = await Promise.all(
      ["atlas", "hermes", "zeus"].map((name) =>
        startAgent({ token: tok(name), name, mountRw: true, callback: { url: c.url } }),
      ),
    );
    await vi.waitFor(() => expect(c.collector.hosts()).toHaveLength(3), { timeout: 10_000, interval: 10 });
    const dir = await sandbox();
    const tokens = join(dir, "tokens");
    await writeFile(tokens, `# tokens our PXE server handed out\n${tok("atlas")}\n${tok("hermes")}\n`);
    await chmod(tokens, 0o600);
    const o = io();
    expect(await runClient(["--hosts", c.url, "--token-file", tokens, "--json", "export"], o)).toBe(1);
    const out = JSON.parse(o.stdout);
    const by = Object.fromEntries(out.hosts.map((h: { name: string }) => [h.name, h]));
    expect(by.atlas.result).toBe("planned");
    expect(by.hermes.result).toBe("planned");
    expect(by.zeus.result).toBe("failed");
    expect(by.zeus.messages).toMatch(/no token for this server: it holds tok-[0-9a-f]{8}/);
    expect(o.asked).toEqual([]);
    expect(agents[2]?.requests()).toBe(0); // zeus never got a request, so never a token that is not its own
    // Nothing was exported: a dry run.
    for (const a of agents) expect(a.r.sys.mounts.some((m) => m.target === "/mnt")).toBe(true);
  });

  it("commands that need a person (config edit, unlock) are refused in batch mode", async () => {
    const { file } = await fleet();
    const o = io();
    expect(await runClient(["--hosts", file, "config", "edit", "configuration.nix"], o)).toBe(2);
    expect(o.stderr).toContain("run it on one server (--host)");
  });
});
