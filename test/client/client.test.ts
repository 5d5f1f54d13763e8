import { readFile, writeFile } from "node:fs/promises";
import type { Server } from "node:net";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { type ClientIO, runClient } from "../../agent/src/client/main.js";
import { buildServer } from "../../agent/src/http/server.js";
import type { OutputLine } from "../../agent/src/system/system.js";
import { dualProtocolServer, listenOn } from "../../agent/src/tls/serve.js";
import { createSelfSigned } from "../../agent/src/tls/x509.js";
import { LogSink, type RigOptions, rig } from "../app/harness.js";

// `lifeboat client` in-process against the agent on the recording fake, over a real socket.

const TOKEN = "client-test-token-0123456789abcdef-SECRET";
const online: RigOptions["reach"] = async (urls) =>
  urls.map((url) => ({ url, host: new URL(url).hostname, dns: "192.0.2.1", http: 200, error: null, ms: 1 }));

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

async function agent(opts: RigOptions & { mountRw?: boolean; tls?: boolean } = {}) {
  const r = await rig("single", { reach: online, ...opts });
  if (opts.mountRw) await r.mounts.mount({ readonly: false });
  const logs = new LogSink();
  const app = await buildServer({
    token: TOKEN,
    logger: pino({ level: "info" }, logs),
    services: r.services,
  });
  let host: string;
  let fingerprint: string | null = null;
  let requests = 0;
  app.addHook("onRequest", async () => {
    requests++;
  });
  if (opts.tls) {
    const cert = createSelfSigned({ commonName: "lifeboat", ips: ["127.0.0.1"] });
    fingerprint = cert.fingerprint;
    await app.ready();
    const dual: Server = dualProtocolServer(app.server, { key: cert.keyPem, cert: cert.certPem });
    await listenOn(dual, "127.0.0.1", 0);
    host = `127.0.0.1:${(dual.address() as { port: number }).port}`;
    closers.push(async () => {
      dual.close();
      await app.close();
    });
  } else {
    await app.listen({ host: "127.0.0.1", port: 0 });
    host = `127.0.0.1:${(app.server.address() as { port: number }).port}`;
    closers.push(() => app.close());
  }
  return { r, app, logs, host, fingerprint, requests: () => requests };
}

interface Captured extends ClientIO {
  stdout: string;
  stderr: string;
  asked: string[];
}

function io(
  opts: { confirm?: boolean; edit?: (f: string) => Promise<void>; env?: Record<string, string> } = {},
): Captured {
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
    env: opts.env ?? { LIFEBOAT_TOKEN: TOKEN },
    promptSecret: async (q) => {
      c.asked.push(q);
      return TOKEN;
    },
    confirm: async (q) => {
      c.asked.push(q);
      return opts.confirm ?? false;
    },
    edit: opts.edit ?? (async () => undefined),
  };
  return c;
}

describe("lifeboat client", () => {
  it("status and pools as tables, --json for scripts; the token from the environment", async () => {
    const a = await agent();
    const o = io();
    expect(await runClient(["--host", a.host, "status"], o)).toBe(0);
    expect(o.stdout).toMatch(/^Found zfs:nvmepool; not mounted yet\.\n {2}phase: {3}found/);
    const p = io();
    expect(await runClient(["--host", a.host, "pools"], p)).toBe(0);
    expect(p.stdout).toMatch(/^POOL\s+STATE\s+IMPORTED/);
    expect(p.stdout).toMatch(/\nnvmepool\s+ONLINE\s+no\n/);
    const j = io();
    expect(await runClient(["--host", a.host, "--json", "status"], j)).toBe(0);
    expect(JSON.parse(j.stdout).phase).toBe("found");
  });

  it("the token: --token, else LIFEBOAT_TOKEN, else a hidden prompt; a wrong one fails without echoing it", async () => {
    const a = await agent();
    const prompted = io({ env: {} });
    expect(await runClient(["--host", a.host, "status"], prompted)).toBe(0);
    expect(prompted.asked).toEqual(["Lifeboat token (from the console): "]);
    const wrong = io({ env: {} });
    expect(
      await runClient(["--host", a.host, "--token", "not-the-token-not-the-token", "status"], wrong),
    ).toBe(1);
    expect(wrong.stderr).toContain("Missing or wrong API token");
    expect(wrong.stderr).toContain("[unauthorized]");
    expect(wrong.stderr).not.toContain("not-the-token");
    expect(a.logs.text).not.toContain(TOKEN);
    expect(a.logs.text).not.toContain("not-the-token");
  });

  it("mount shows the plan and asks; no answer, nothing done; --yes mounts read-write", async () => {
    const a = await agent();
    const no = io({ confirm: false });
    expect(await runClient(["--host", a.host, "mount", "--rw"], no)).toBe(1);
    expect(no.stderr).toContain("Read-WRITE mount of zfs:nvmepool");
    expect(no.stderr).toContain("1. import pool nvmepool read-write under /mnt");
    expect(no.asked).toEqual(["Mount?"]);
    expect(a.r.sys.mounts.some((m) => m.target === "/mnt")).toBe(false);
    const yes = io();
    expect(await runClient(["--host", a.host, "--yes", "mount", "--rw"], yes)).toBe(0);
    expect(yes.stdout).toMatch(/^mounted: \d+ file systems/);
    expect(a.r.sys.mounts.some((m) => m.target === "/mnt" && !m.options.includes("ro"))).toBe(true);
  });

  it("an entry that cannot be mounted safely: read-only mounts the rest and lists it; --rw needs --accept-skipped (not --yes); status says why", async () => {
    const { mkdir, symlink } = await import("node:fs/promises");
    const { join } = await import("node:path");
    const { ZFS_FSTAB } = await import("../helpers/fixtures.js");
    const a = await agent({
      tree: { fstab: `${ZFS_FSTAB}/dev/disk/by-uuid/3302-674B /srv/data vfat umask=0077 0 2\n` },
    });
    await mkdir(join(a.r.dir, "etc"), { recursive: true });
    await symlink("/etc", join(a.r.dir, "mnt/srv"));
    const ro = io();
    expect(await runClient(["--host", a.host, "--yes", "mount"], ro)).toBe(0);
    expect(ro.stdout).toMatch(/\nskipped: \/srv\/data \(fstab \/dev\/nvme0n1p1\): .*symbolic link/);
    const st = io();
    expect(await runClient(["--host", a.host, "status"], st)).toBe(0);
    expect(st.stdout).toContain("pool nvmepool: imported because root");
    expect(st.stdout).toContain("skipped: /srv/data (fstab");
    expect(await runClient(["--host", a.host, "--yes", "unmount", "--export"], io())).toBe(0);
    const rw = io();
    expect(await runClient(["--host", a.host, "--yes", "mount", "--rw"], rw)).toBe(1);
    expect(rw.stderr).toContain("would be left out: /srv/data");
    expect(a.r.sys.mounts.some((m) => m.target === "/mnt")).toBe(false);
    const ok = io();
    expect(await runClient(["--host", a.host, "--yes", "mount", "--rw", "--accept-skipped"], ok)).toBe(0);
    expect(a.r.sys.mounts.some((m) => m.target === "/mnt" && !m.options.includes("ro"))).toBe(true);
  });

  it("generations, then boot default N (with the change stated first)", async () => {
    const a = await agent({ mountRw: true });
    const g = io();
    expect(await runClient(["--host", a.host, "generations"], g)).toBe(0);
    expect(g.stdout).toMatch(/^GEN\s+DATE\s+NIXOS\s+KERNEL\s+FLAGS\n3\s.*current,boot-default/);
    const d = io({ confirm: true });
    expect(await runClient(["--host", a.host, "boot", "default", "2"], d)).toBe(0);
    // Named as the boot menu names them.
    expect(d.stderr).toContain(
      "The boot menu will start by default:\n  NixOS (Generation 2 NixOS 24.11.20250107.7dc3f5e (Vicuna), Linux Kernel 6.6.69, Built on 2025-01-09)\ninstead of:\n  NixOS (Generation 3",
    );
    expect(d.stdout).toMatch(/^generation 2 is the boot default \(snapshot nvmepool@lifeboat-/);
    const after = io();
    await runClient(["--host", a.host, "--json", "generations"], after);
    expect(
      JSON.parse(after.stdout).generations.find((x: { bootDefault: boolean }) => x.bootDefault).number,
    ).toBe(2);
  });

  it("kernel-params shows the diff of the entry's options, then changes it", async () => {
    const a = await agent({ mountRw: true });
    const o = io({ confirm: true });
    const code = await runClient(
      ["--host", a.host, "kernel-params", "nixos-generation-3", "--add", "systemd.unit=rescue.target"],
      o,
    );
    expect(o.stderr).toContain("+ systemd.unit=rescue.target");
    expect(code).toBe(0);
    const b = io();
    await runClient(["--host", a.host, "--json", "boot"], b);
    const entry = JSON.parse(b.stdout).entries.find((e: { id: string }) => e.id === "nixos-generation-3");
    expect(entry.options).toContain("systemd.unit=rescue.target");
  });

  it("config edit: $EDITOR, diff, save with If-Match; a concurrent change is a conflict that keeps your text", async () => {
    const a = await agent({ mountRw: true });
    const edit = io({
      confirm: true,
      edit: async (f) => writeFile(f, (await readFile(f, "utf8")).replace("8425e349", '8425e349"; # edited')),
    });
    expect(await runClient(["--host", a.host, "config", "edit", "configuration.nix"], edit)).toBe(0);
    expect(edit.stderr).toContain('+ { ... }: { networking.hostId = "8425e349"; # edited"; }');
    const get = io();
    await runClient(["--host", a.host, "config", "get", "configuration.nix"], get);
    expect(get.stdout).toContain("# edited");

    let kept = "";
    const conflict = io({
      confirm: true,
      edit: async (f) => {
        kept = f;
        await writeFile(f, "mine\n");
        // Someone else saves meanwhile (the `yes` client below, on the same agent).
        const other = io({ confirm: true, edit: async (g) => writeFile(g, "theirs\n") });
        expect(await runClient(["--host", a.host, "config", "edit", "configuration.nix"], other)).toBe(0);
      },
    });
    expect(await runClient(["--host", a.host, "config", "edit", "configuration.nix"], conflict)).toBe(1);
    expect(conflict.stderr).toContain("changed on the server since it was fetched: nothing saved");
    expect(await readFile(kept, "utf8")).toBe("mine\n");
    const final = io();
    await runClient(["--host", a.host, "config", "get", "configuration.nix"], final);
    expect(final.stdout).toBe("theirs\n");
  });

  it("rebuild streams the log (stdout → stdout) and exits with the job's exit code", async () => {
    const lines: OutputLine[] = [
      { stream: "stdout", text: "building the system configuration..." },
      { stream: "stderr", text: "error: attribute 'nope' missing" },
    ];
    const a = await agent({ mountRw: true, fake: { spawnScript: () => ({ lines, exitCode: 3 }) } });
    const o = io();
    const code = await runClient(["--host", a.host, "--yes", "rebuild", "--flake", "/etc/nixos#atlas"], o);
    expect(o.stdout).toContain("building the system configuration...\n");
    expect(o.stderr).toContain("error: attribute 'nope' missing\n");
    expect(o.stderr).toMatch(/job failed \(exit 3\)\n$/);
    expect(code).toBe(3);
  });

  it("log JOB writes the whole log to stdout (so > file and | less get it)", async () => {
    const lines: OutputLine[] = [
      { stream: "stdout", text: "building the system configuration..." },
      { stream: "stderr", text: "error: attribute 'nope' missing" },
    ];
    const a = await agent({ mountRw: true, fake: { spawnScript: () => ({ lines, exitCode: 3 }) } });
    const job = await a.r.services.rebuild.start({ action: "boot" }, "test");
    await a.r.services.jobs.wait(job.id);
    const o = io();
    expect(await runClient(["--host", a.host, "log", job.id], o)).toBe(3);
    expect(o.stdout).toContain("building the system configuration...\n");
    expect(o.stdout).toContain("error: attribute 'nope' missing\n");
    // the command as an operator types it, not the ~900-character wrapper
    expect(o.stdout).toMatch(/^\$ nixos-enter --root \/mnt -- nixos-rebuild boot/m);
    expect(o.stdout.split("\n").every((l) => l.length < 300)).toBe(true);
    expect(o.stderr).not.toContain("building");
  });

  it("a change while read-only: says so and gives the exact command before asking anything", async () => {
    const a = await agent();
    await a.r.mounts.mount();
    const o = io({ confirm: true });
    expect(await runClient(["--host", a.host, "boot", "default", "2"], o)).toBe(1);
    expect(o.asked).toEqual([]);
    expect(o.stderr).toContain("mounted read-only; this change needs read-write");
    expect(o.stderr).toContain(`Re-mount read-write first:\n  lifeboat client --host ${a.host} mount --rw\n`);
    expect(o.stderr).not.toContain("POST /v1/mount");
  });

  it("re-mount read-write prints its steps as information; export ends with 'Ready to reboot' and the summary", async () => {
    const a = await agent();
    await a.r.mounts.mount();
    const m = io();
    expect(await runClient(["--host", a.host, "--yes", "mount", "--rw"], m)).toBe(0);
    expect(m.stderr).toMatch(/\d+\. unmount \/mnt\/boot\n/);
    expect(m.stderr).toContain("export pool nvmepool (to import it read-write)");
    expect(m.stdout).toContain("released the read-only mount and exported the pools");
    expect(m.stdout).not.toContain("warning: released");
    const noop = io();
    expect(await runClient(["--host", a.host, "--yes", "boot", "default", "3"], noop)).toBe(0);
    expect(noop.stdout).toBe("generation 3 already was the boot default: unchanged, no snapshot taken\n");
    expect(await runClient(["--host", a.host, "--yes", "boot", "default", "2"], io())).toBe(0);
    const ex = io();
    expect(await runClient(["--host", a.host, "--yes", "export"], ex)).toBe(0);
    expect(ex.stdout).toMatch(/^Ready to reboot: the pools are exported; 1 change/);
    expect(ex.stdout).toContain("boot default: generation 3 → generation 2");
    expect(ex.stdout).toContain("to undo: set the boot default back to generation 3");
    const ch = io();
    expect(await runClient(["--host", a.host, "changes"], ch)).toBe(0);
    expect(ch.stdout).toBe(ex.stdout);
  });

  it("snapshot, and usage errors", async () => {
    const a = await agent({ mountRw: true });
    const s = io({ confirm: true });
    expect(await runClient(["--host", a.host, "snapshot"], s)).toBe(0);
    expect(s.stdout).toMatch(/^nvmepool@lifeboat-\d{8}T\d{6}Z-requested\n$/);
    const bad = io();
    expect(await runClient(["--host", a.host, "frobnicate"], bad)).toBe(2);
    expect(bad.stderr).toContain('unknown command "frobnicate"');
    const noHost = io({ env: {} });
    expect(await runClient(["status"], noHost)).toBe(2);
    expect(noHost.stderr).toContain("--host");
  });

  it("HTTPS is pinned to the certificate's fingerprint; a mismatch sends nothing", async () => {
    const a = await agent({ tls: true });
    const ok = io();
    expect(await runClient(["--host", a.host, "--fingerprint", a.fingerprint ?? "", "status"], ok)).toBe(0);
    expect(ok.stdout).toContain("phase:   found");
    // Colons and case do not matter.
    const flat = io();
    const fp = (a.fingerprint ?? "").replace(/:/g, "").toLowerCase();
    expect(await runClient(["--host", `https://${a.host}`, "--fingerprint", fp, "status"], flat)).toBe(0);
    const before = a.requests();
    const wrong = io();
    const other = createSelfSigned({ commonName: "x" }).fingerprint;
    expect(await runClient(["--host", a.host, "--fingerprint", other, "status"], wrong)).toBe(1);
    expect(wrong.stderr).toContain("certificate fingerprint mismatch");
    expect(wrong.stderr).toContain(a.fingerprint);
    const unpinned = io();
    expect(await runClient(["--host", `https://${a.host}`, "status"], unpinned)).toBe(1);
    expect(unpinned.stderr).toContain(`pass --fingerprint ${a.fingerprint}`);
    expect(a.requests()).toBe(before);
    // Plain HTTP stays available on the same port.
    const plain = io();
    expect(await runClient(["--host", a.host, "status"], plain)).toBe(0);
    expect(a.requests()).toBe(before + 1);
  });
});
