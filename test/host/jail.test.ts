/**
 * The jail (agent/src/system/jail.ts) with the real bubblewrap, setpriv and prlimit, started the way
 * the agent starts it (RealSystem.runJailed / spawnJailed): a program given one directory of disk data
 * cannot reach the network (a listener on the host's loopback), cannot write anywhere (the bound
 * directory included), cannot read the token file or /root, runs as nobody without capabilities, is
 * stopped past its memory limit and its deadline (with every process it started), and its output
 * past the cap is cut and said. Root only (bwrap without a user namespace, setpriv); skipped with
 * the reason otherwise.
 */
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JAIL_TOOLS, which } from "../../agent/src/system/jail.js";
import { RealSystem } from "../../agent/src/system/real.js";
import { decoderEntry } from "../helpers/decoder-entry.js";

const isRoot = process.getuid?.() === 0;
const missing = [...JAIL_TOOLS, "sh", "bash", "id", "cat", "sleep", "head"].filter((t) => !which(t));
const why = !isRoot
  ? "needs root (bwrap without a user namespace, setpriv)"
  : missing.length
    ? `needs ${missing.join(", ")}`
    : "";
if (why) console.warn(`jail host test SKIPPED: ${why}`);

const SECRET = "JAIL-SECRET-token-5f4e3d2c1b0a";
const MiB = 1024 * 1024;

describe.skipIf(!!why)("the jail, real bubblewrap", () => {
  const sys = new RealSystem(pino({ level: "silent" }), decoderEntry());
  let dir = "";
  let data = "";
  let token = "";
  let rootCanary = "";
  let server: Server;
  let port = 0;
  let connections = 0;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "lifeboat-jail-"));
    await chmod(dir, 0o755);
    data = join(dir, "disk", "var", "log", "journal");
    await mkdir(data, { recursive: true });
    await writeFile(join(data, "readable.txt"), "disk data\n", { mode: 0o644 });
    // the token as the agent keeps it: a 0600 file outside the disk's directory
    await mkdir(join(dir, "run-lifeboat"), { mode: 0o700 });
    token = join(dir, "run-lifeboat", "token");
    await writeFile(token, `${SECRET}\n`, { mode: 0o600 });
    rootCanary = `/root/.lifeboat-jail-canary-${process.pid}`;
    await writeFile(rootCanary, `${SECRET}\n`, { mode: 0o644 });
    server = createServer((s) => {
      connections++;
      s.end(`${SECRET}\n`);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    server?.close();
    await rm(dir, { recursive: true, force: true });
    await rm(rootCanary, { force: true });
  });

  const sh = (script: string, limits = {}) => sys.runJailed("git", "sh", ["-c", script], { data, limits });

  it("runs as nobody (65534), no capabilities, no new privileges, no supplementary group", async () => {
    const r = await sh(
      "id -u; id -g; id -G; grep -E '^(CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs)' /proc/self/status",
    );
    expect(r.exitCode, r.stderr).toBe(0);
    const [uid, gid, groups, ...status] = r.stdout.trim().split("\n");
    expect([uid, gid, groups]).toEqual(["65534", "65534", "65534"]);
    expect(status.map((l) => l.replace(/\s+/g, " "))).toEqual([
      "CapPrm: 0000000000000000",
      "CapEff: 0000000000000000",
      "CapBnd: 0000000000000000",
      "CapAmb: 0000000000000000",
      "NoNewPrivs: 1",
    ]);
  });

  it("reads its one directory, and nothing of the rescue side: not the token, not /root, not the rest of the disk", async () => {
    const r = await sh(
      `cat ${data}/readable.txt; for f in ${token} ${rootCanary} /etc/shadow /etc/passwd ${join(dir, "disk", "etc")}; do cat $f 2>/dev/null && echo LEAK $f; done; ls / ; ls /root 2>&1; true`,
    );
    expect(r.stdout).toContain("disk data");
    expect(r.stdout + r.stderr).not.toContain(SECRET);
    expect(r.stdout).not.toContain("LEAK");
    // the root holds the system's program directories and the way to the data, nothing else
    expect(r.stdout).not.toMatch(/^(root|run|home|mnt|var|srv|boot)$/m);
    const way = await sh(`ls -A ${dir} ${join(dir, "disk")} ${join(dir, "disk", "var")}`);
    expect(way.stdout.split("\n").filter((l) => l && !l.endsWith(":"))).toEqual(["disk", "var", "log"]);
  });

  it("cannot write anywhere, the bound directory included", async () => {
    const targets = [
      `${data}/new`,
      `${data}/readable.txt`,
      "/new",
      "/tmp/new",
      "/dev/shm/new",
      "/var/tmp/new",
      "/proc/new",
    ];
    const r = await sh(
      `for p in ${targets.join(" ")}; do (echo x > $p) 2>/dev/null && echo WROTE $p; mkdir $p.d 2>/dev/null && echo MADE $p; done; true`,
    );
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe("");
    expect((await readdir(data)).sort()).toEqual(["readable.txt"]);
    expect(await readFile(join(data, "readable.txt"), "utf8")).toBe("disk data\n");
  });

  it("cannot reach the network: a listener on the host's loopback gets no connection", async () => {
    const r = await sys.runJailed(
      "git",
      "bash",
      [
        "-c",
        `exec 3<>/dev/tcp/127.0.0.1/${port} && cat <&3 && echo CONNECTED; ls /sys/class/net 2>/dev/null; true`,
      ],
      { data },
    );
    expect(r.stdout).not.toContain("CONNECTED");
    expect(r.stdout + r.stderr).not.toContain(SECRET);
    expect(connections).toBe(0);
    // control: the listener answers from outside the jail
    const outside = await execa("bash", ["-c", `exec 3<>/dev/tcp/127.0.0.1/${port} && cat <&3`], {
      reject: false,
    });
    expect(outside.stdout).toContain(SECRET);
    expect(connections).toBe(1);
  });

  it("is stopped past its memory limit (address space)", async () => {
    // 64 MiB of address space; the shell is asked to hold 256 MiB
    const r = await sh('x=$(head -c 268435456 /dev/zero | tr "\\0" a); echo "held ${#x}"', {
      memoryBytes: 64 * MiB,
    });
    expect(r.exitCode).not.toBe(0);
    expect(r.stdout).not.toMatch(/held 268435456/);
    // control: the same under the profile's limit
    const ok = await sh('x=$(head -c 1048576 /dev/zero | tr "\\0" a); echo "held ${#x}"');
    expect(ok.stdout).toContain("held 1048576");
  });

  it("is killed past its deadline, with every process it started", async () => {
    const tag = 900_000 + (process.pid % 90_000);
    const r = await sh(`sleep ${tag} & sleep ${tag + 1} & wait`, { deadlineMs: 1_500 });
    expect(r.timedOut).toBe(true);
    expect(r.stderr).toMatch(/killed after 1500 ms/);
    // the PID namespace died with bwrap: no sleeper is left anywhere on the machine
    const left: string[] = [];
    for (const pid of await readdir("/proc")) {
      if (!/^\d+$/.test(pid)) continue;
      const cmd = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
      if (cmd.includes(`sleep\0${tag}`) || cmd.includes(`sleep\0${tag + 1}`)) left.push(pid);
    }
    expect(left).toEqual([]);
  });

  it("cancelled at any moment of its start, it leaves no process behind (run and spawn)", async () => {
    const tag = 800_000 + (process.pid % 90_000);
    const leftovers = async () => {
      const left: string[] = [];
      for (const pid of await readdir("/proc")) {
        if (!/^\d+$/.test(pid)) continue;
        const cmd = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
        if (cmd.includes(`sleep\0${tag}`) || cmd.includes("\0LIFEBOAT_JAIL\0")) left.push(cmd);
      }
      return left;
    };
    for (let i = 0; i < 24; i++) {
      const abort = new AbortController();
      setTimeout(() => abort.abort(), i % 6);
      if (i % 2 === 0)
        await sys.runJailed("git", "sh", ["-c", `sleep ${tag}`], { data, signal: abort.signal });
      else {
        const p = sys.spawnJailed("git", "sh", ["-c", `sleep ${tag}`], { data });
        abort.signal.addEventListener("abort", () => p.kill("SIGKILL"));
        await p.done;
      }
    }
    expect(await leftovers()).toEqual([]);
  });

  it("output past the cap is cut and said (run and spawn)", async () => {
    const r = await sh('head -c 1048576 /dev/zero | tr "\\0" a', { maxOutputBytes: 4096 });
    expect(r.truncated).toBe(true);
    expect(r.stdout.length).toBeLessThanOrEqual(4096);
    expect(r.stderr).toMatch(/output cut at 4096 bytes/);
    const p = sys.spawnJailed("git", "sh", ["-c", "while :; do echo aaaaaaaaaaaaaaaaaaaa; done"], {
      data,
      limits: { maxOutputBytes: 4096 },
    });
    let seen = 0;
    p.onLine((l) => {
      seen += l.text.length + 1;
    });
    const done = await p.done;
    expect(done.truncated).toBe(true);
    expect(seen).toBeLessThanOrEqual(4096);
  });

  it("nothing runs without the jail: no bwrap, no program (exit 126, said)", async () => {
    const path = process.env.PATH;
    process.env.PATH = "/nonexistent";
    try {
      const r = await sh("echo ran");
      expect(r.exitCode).toBe(126);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(/bwrap is not installed.*never given disk data outside it/);
    } finally {
      process.env.PATH = path;
    }
  });

  it("refuses a data directory that would shadow the jail's own", async () => {
    for (const bad of ["/", "/usr/lib", "/proc/1", "/dev", `${data}/../x`]) {
      const r = await sys.runJailed("git", "sh", ["-c", "echo ran"], { data: bad });
      expect(r.exitCode, bad).toBe(126);
      expect(r.stdout, bad).toBe("");
    }
  });
});
