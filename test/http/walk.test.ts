import { mkdir, symlink, writeFile } from "node:fs/promises";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { buildServer } from "../../agent/src/http/server.js";
import { REDACT_PATHS } from "../../agent/src/logger.js";
import { LogSink, type RigOptions, rig } from "../app/harness.js";
import { recordResponses, registerSecret } from "../helpers/secrets.js";

// The operator's walk on the fake system, over HTTP: readers and changes ordered, busy mounts
// named, no-op changes, the summary of what the rescue changed, the hints for read-only.

const TOKEN = "walk-token-0123456789abcdef-SECRET";
const auth = { authorization: `Bearer ${TOKEN}` };
registerSecret(TOKEN);
let open: { close: () => Promise<unknown> }[] = [];
afterEach(async () => {
  await Promise.all(open.map((a) => a.close()));
  open = [];
});

/** A gate a held command waits on: `release()` lets it finish. */
function gate() {
  let release = () => {};
  const promise = new Promise<void>((r) => {
    release = r;
  });
  return { promise, release };
}

async function agent(opts: RigOptions = {}) {
  const r = await rig("single", { backgroundDiagnosis: true, ...opts });
  const app = await buildServer({
    token: TOKEN,
    logger: pino({ level: "info", redact: { paths: REDACT_PATHS, censor: "[redacted]" } }, new LogSink()),
    services: r.services,
  });
  open.push(app);
  recordResponses(app);
  const call = async (method: "GET" | "POST" | "PUT", url: string, payload?: unknown, headers = {}) => {
    const res = await app.inject({
      method,
      url,
      headers: { ...auth, ...headers },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
    return { status: res.statusCode, body: res.json(), headers: res.headers };
  };
  return { r, app, call };
}

/** Wait until status satisfies `ok` (polls the API as the page does; no fixed sleeps). */
// biome-ignore lint/suspicious/noExplicitAny: a status body, read field by field
type Json = any;
async function until(call: Awaited<ReturnType<typeof agent>>["call"], ok: (s: Json) => boolean) {
  for (let i = 0; i < 2_000; i++) {
    const s = (await call("GET", "/v1/status")).body;
    if (ok(s)) return s;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error("status never got there");
}

describe("readers and changes are ordered", () => {
  it("re-mount read-write while the diagnosis reads the journal: the diagnosis is cancelled, the re-mount succeeds, the diagnosis is redone", async () => {
    const held = gate();
    let holding = true;
    const { r, call } = await agent({
      fake: {
        hold: (file) => (file === "journalctl" && holding ? held.promise : undefined),
      },
    });
    expect((await call("POST", "/v1/mount", { readonly: true })).status).toBe(200);
    // The mount started the diagnosis in the background; it now holds /mnt/var/log/journal.
    const s = await until(
      call,
      (x) => x.busy?.kind === "reading" && x.diagnosis.step === "reading the journal",
    );
    expect(s.busy.name).toBe("diagnosis");
    expect(s.busy.step).toBe("reading the journal");
    expect(s.reading.map((x: { name: string }) => x.name)).toEqual(["diagnosis"]);
    // A client asks for the diagnosis meanwhile: it waits for the running one.
    const waiting = call("GET", "/v1/diagnosis");
    holding = false;
    const remount = await call("POST", "/v1/mount", { readonly: false });
    expect(remount.status).toBe(200);
    expect(remount.body.readonly).toBe(false);
    expect(remount.body.notes).toContain(
      "released the read-only mount and exported the pools, to import them read-write",
    );
    expect(remount.body.warnings).not.toContain(
      "released the read-only mount and exported the pools, to import them read-write",
    );
    // The request that waited got an answer, computed on the new (read-write) mounts.
    const d = await waiting;
    expect(d.status).toBe(200);
    expect(d.body.computedAt).toEqual(expect.any(String));
    held.release();
    // Both the mount and the re-mount are in the audit.
    const audit = (await call("GET", "/v1/audit")).body.entries.map((e: { action: string }) => e.action);
    expect(audit).toEqual(expect.arrayContaining(["mount", "remount-rw"]));
    expect(r.sys.imported.get("nvmepool")?.readonly).toBe(false);
  });

  it("a change of the mounts waits for a journal read (named in busy.waitingFor), which completes", async () => {
    const held = gate();
    let holding = false;
    const { call } = await agent({
      backgroundDiagnosis: false,
      fake: {
        hold: (file) => (file === "journalctl" && holding ? held.promise : undefined),
        extra: (file) =>
          file === "journalctl"
            ? { exitCode: 0, stdout: "[]\n", stderr: "", timedOut: false, notFound: false, durationMs: 1 }
            : undefined,
      },
    });
    expect((await call("POST", "/v1/mount", { readonly: true })).status).toBe(200);
    holding = true;
    const reading = call("GET", "/v1/journal/boots");
    await until(call, (x) => x.reading.some((y: { name: string }) => y.name === "journal"));
    const exporting = call("POST", "/v1/export", {});
    const s = await until(call, (x) => x.busy?.kind === "change" && x.busy.waitingFor.includes("journal"));
    expect(s.busy.name).toBe("export");
    held.release();
    expect((await reading).status).toBe(200);
    const ex = await exporting;
    expect(ex.status).toBe(200);
    expect(ex.body.exported).toEqual(["nvmepool"]);
  });

  it("'target is busy' from another program: 409 target-busy naming the process and what it holds, rolled back", async () => {
    const { r, call } = await agent({ backgroundDiagnosis: false });
    expect((await call("POST", "/v1/mount", { readonly: true })).status).toBe(200);
    // A shell left in /mnt/home on the rescue system (its /proc entry, as the kernel shows it).
    const proc = `${r.dir}/proc/4242`;
    await mkdir(`${proc}/fd`, { recursive: true });
    await writeFile(`${proc}/comm`, "bash\n");
    await symlink("/mnt/home/alice", `${proc}/cwd`);
    await symlink("/", `${proc}/root`);
    await symlink("/dev/pts/0", `${proc}/fd/0`);
    const res = await call("POST", "/v1/export", {});
    expect(res.status).toBe(409);
    expect(res.body.code).toBe("target-busy");
    expect(res.body.title).toBe("In use by other processes");
    expect(res.body.detail).toContain("4242 (bash: cwd /mnt/home/alice)");
    expect(res.body.holders).toEqual([{ pid: 4242, command: "bash", uses: ["cwd /mnt/home/alice"] }]);
    expect(res.body.state).toBe("rolled-back");
    const s = (await call("GET", "/v1/status")).body;
    expect(s.phase).toBe("mounted-ro");
    // The failed export is in the audit.
    const audit = (await call("GET", "/v1/audit")).body.entries;
    expect(audit[0]).toMatchObject({ action: "export", result: "failed" });
    expect(audit[0].detail.code).toBe("target-busy");
  });
});

describe("changes: read-write shown up front, no-ops, summary", () => {
  it("a change while read-only: 409 with the fix in fields, and it is in the audit", async () => {
    const { call } = await agent({ backgroundDiagnosis: false });
    await call("POST", "/v1/mount", { readonly: true });
    const res = await call("POST", "/v1/boot/default", { generation: 2 });
    expect(res.status).toBe(409);
    expect(res.body.code).toBe("read-only-mount");
    expect(res.body.needs).toEqual({ readonly: false });
    expect(res.body.fix).toEqual({ method: "POST", path: "/v1/mount", body: { readonly: false } });
    expect(res.body.detail).not.toContain("POST");
    const audit = (await call("GET", "/v1/audit")).body.entries;
    expect(audit[0]).toMatchObject({ action: "boot-default", result: "failed" });
  });

  it("no-op changes answer unchanged and take no snapshot; each snapshot is listed with its change; the summary says what changed and, after export, ready to reboot", async () => {
    const { r, call } = await agent({ backgroundDiagnosis: false });
    await call("POST", "/v1/mount", { readonly: false });
    expect((await call("GET", "/v1/changes")).body).toMatchObject({
      state: "nothing-changed",
      changes: [],
    });
    // Generation 3 is already the default.
    const same = await call("POST", "/v1/boot/default", { generation: 3 });
    expect(same.status).toBe(200);
    expect(same.body).toMatchObject({ unchanged: true, snapshot: null });
    // A parameter that is already there.
    const kp0 = await call("POST", "/v1/boot/entries/nixos-generation-3/kernel-params", {
      add: ["loglevel=4"],
    });
    expect(kp0.body).toMatchObject({ unchanged: true, snapshot: null });
    expect(r.sys.snapshots).toEqual([]);
    // The same configuration again.
    const cfg = await call("GET", "/v1/config/configuration.nix");
    const w0 = await call(
      "PUT",
      "/v1/config/configuration.nix",
      { content: cfg.body.content },
      { "if-match": cfg.body.etag },
    );
    expect(w0.body).toMatchObject({ unchanged: true, snapshot: null });
    expect(r.sys.commandLines().filter((l) => l.startsWith("zfs snapshot"))).toEqual([]);

    // Real changes: a boot default and a kernel parameter.
    const def = await call("POST", "/v1/boot/default", { generation: 2 });
    expect(def.body.unchanged).toBe(false);
    expect(def.body.snapshot).toMatch(/^nvmepool@lifeboat-\d{8}T\d{6}Z-boot-default$/);
    const kp = await call("POST", "/v1/boot/entries/nixos-generation-2/kernel-params", {
      add: ["module_blacklist=vfio_pci"],
    });
    expect(kp.body.snapshot).toMatch(/-kernel-params$/);
    const snaps = (await call("GET", "/v1/snapshots")).body.snapshots;
    const root = snaps.filter((x: { dataset: string }) => x.dataset === "nvmepool");
    expect(root.map((x: { before: { action: string } }) => x.before.action).sort()).toEqual([
      "boot-default",
      "kernel-params",
    ]);

    const sum = (await call("GET", "/v1/changes")).body;
    expect(sum.state).toBe("changed");
    expect(sum.changes.map((c: { what: string }) => c.what)).toEqual([
      "boot default: generation 3 → generation 2",
      "kernel parameters of nixos-generation-2: +module_blacklist=vfio_pci",
    ]);
    expect(sum.changes[0].undo.request).toEqual({
      method: "POST",
      path: "/v1/boot/default",
      body: { generation: 3 },
    });
    expect(sum.changes[1].undo.request.path).toBe("/v1/boot/entries/nixos-generation-2/revert");
    expect(sum.changes[0].snapshot).toBe(def.body.snapshot);

    expect((await call("POST", "/v1/export", {})).status).toBe(200);
    const after = (await call("GET", "/v1/changes")).body;
    expect(after.state).toBe("ready-to-reboot");
    expect(after.sentence).toMatch(/^Ready to reboot/);
    expect(after.changes).toHaveLength(2);
    // The auto-mount line is not stale (off here): the phase says what is true.
    expect((await call("GET", "/v1/status")).body.phase).toBe("found");
  });

  it("protected kernel parameters: init= cannot be removed (422 protected-kernel-param); entries are named as the boot menu does", async () => {
    const { call } = await agent({ backgroundDiagnosis: false });
    await call("POST", "/v1/mount", { readonly: false });
    const boot = (await call("GET", "/v1/boot")).body;
    const e3 = boot.entries.find((e: { id: string }) => e.id === "nixos-generation-3");
    expect(e3.name).toBe(
      "NixOS (Generation 3 NixOS 24.11.20250107.7dc3f5e (Vicuna), Linux Kernel 6.6.69, Built on 2025-01-09)",
    );
    const init = e3.options.find((o: string) => o.startsWith("init="));
    expect(e3.protected).toEqual([init]);
    const res = await call("POST", "/v1/boot/entries/nixos-generation-3/kernel-params", { remove: [init] });
    expect(res.status).toBe(422);
    expect(res.body.code).toBe("protected-kernel-param");
    expect(res.body.protected).toEqual([init]);
  });
});

describe("offer only what exists", () => {
  it("no persistent journal: status says so, and the journal answers 404 no-journal (not 'No such route')", async () => {
    const { r, call } = await agent({ backgroundDiagnosis: false });
    await import("node:fs/promises").then((fs) =>
      fs.rm(`${r.dir}/mnt/var/log/journal`, { recursive: true, force: true }),
    );
    await call("POST", "/v1/mount", { readonly: true });
    const s = (await call("GET", "/v1/status")).body;
    expect(s.installed).toEqual({ journal: "none" });
    const j = await call("GET", "/v1/journal?boot=-1");
    expect(j.status).toBe(404);
    expect(j.body.code).toBe("no-journal");
    expect(j.body.title).toBe("No persistent journal");
  });
});
