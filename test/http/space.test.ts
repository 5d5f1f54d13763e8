// GET /v1/pools/{pool}/space and POST /v1/pools/{pool}/snapshots/destroy over HTTP (fastify inject),
// on the fake machine that answers zfs list/destroy/hold as OpenZFS 2.3 does (the real outputs and
// the real refusals are scenario 26 in QEMU; the parsers' captures are test/unit/zfs-space.test.ts).
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { buildServer } from "../../agent/src/http/server.js";
import { REDACT_PATHS } from "../../agent/src/logger.js";
import { LogSink, rig } from "../app/harness.js";
import { recordResponses, registerSecret } from "../helpers/secrets.js";

const TOKEN = "space-token-0123456789abcdef-SECRET";
const auth = { authorization: `Bearer ${TOKEN}` };
registerSecret(TOKEN);
let open: { close: () => Promise<unknown> }[] = [];
afterEach(async () => {
  await Promise.all(open.map((a) => a.close()));
  open = [];
});

const W = (n: number) => `zfs-auto-snap_weekly-2025-02-0${n}-0000`;
const MiB = 2 ** 20;

async function server(readonly = false) {
  const r = await rig("single");
  const app = await buildServer({
    token: TOKEN,
    logger: pino({ level: "info", redact: { paths: REDACT_PATHS, censor: "[redacted]" } }, new LogSink()),
    services: r.services,
  });
  open.push(app);
  recordResponses(app);
  const mount = (ro: boolean) =>
    app.inject({ method: "POST", url: "/v1/mount", headers: auth, payload: { readonly: ro } });
  expect((await mount(false)).statusCode).toBe(200);
  for (const n of [1, 2, 3]) {
    expect((await r.sys.run("zfs", ["snapshot", "-r", `nvmepool@${W(n)}`])).exitCode).toBe(0);
    const m = r.sys.snapMeta.get(`nvmepool/home@${W(n)}`);
    if (m) m.used = 100 * n * MiB;
  }
  if (readonly) {
    // a read-only mount request never downgrades a read-write one: release, then mount read-only
    const un = { method: "POST" as const, url: "/v1/unmount", headers: auth, payload: { export: true } };
    expect((await app.inject(un)).statusCode).toBe(200);
    expect((await mount(true)).statusCode).toBe(200);
  }
  r.sys.poolAvail.set("nvmepool", 0);
  const destroy = (payload: Record<string, unknown>, pool = "nvmepool") =>
    app.inject({ method: "POST", url: `/v1/pools/${pool}/snapshots/destroy`, headers: auth, payload });
  return { r, app, destroy };
}

describe("a full pool over HTTP", () => {
  it("the space view: avail, per dataset, snapshots oldest first with ZFS's dry-run figures; read-only", async () => {
    const { r, app } = await server(true);
    const before = r.sys.mutations().length;
    const res = await app.inject({ url: "/v1/pools/nvmepool/space", headers: auth });
    expect(res.statusCode, res.body).toBe(200);
    const v = res.json();
    expect(v).toMatchObject({ pool: "nvmepool", avail: 0, full: true, usedBySnapshots: 600 * MiB });
    expect(v.datasets.map((d: { name: string }) => d.name)).toEqual([
      "nvmepool",
      "nvmepool/home",
      "nvmepool/nix",
      "nvmepool/root",
      "nvmepool/var",
    ]);
    expect(
      v.snapshots.map((s: { name: string; freesWithOlder: number }) => [s.name, s.freesWithOlder]),
    ).toEqual([
      [`nvmepool@${W(1)}`, 100 * MiB],
      [`nvmepool@${W(2)}`, 300 * MiB],
      [`nvmepool@${W(3)}`, null],
    ]);
    // the newest is kept: the diagnosis's rollback proposal names it
    expect(v.snapshots[2].kept).toMatch(/^the diagnosis proposes rolling back to it/);
    expect(r.sys.mutations().slice(before)).toEqual([]);
    expect((await app.inject({ url: "/v1/pools/tank/space", headers: auth })).json().code).toBe(
      "pool-not-found",
    );
  });

  it("destroys exactly the named snapshots in one zfs destroy; avail before/after; audited and summarized", async () => {
    const { r, app, destroy } = await server();
    const res = await destroy({ snapshots: [`nvmepool@${W(1)}`, `nvmepool@${W(2)}`], confirm: "nvmepool" });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({
      pool: "nvmepool",
      snapshots: [`nvmepool@${W(1)}`, `nvmepool@${W(2)}`],
      reclaimEstimate: 300 * MiB,
      availBefore: 0,
      availAfter: 300 * MiB,
      freed: 300 * MiB,
      remaining: 1,
    });
    expect(res.json().destroyed).toHaveLength(10);
    const real = r.sys.calls.filter((c) => c.file === "zfs" && c.args[0] === "destroy" && c.args[1] !== "-n");
    expect(real.map((c) => c.args)).toEqual([["destroy", "-v", "-p", "-r", `nvmepool@${W(1)},${W(2)}`]]);
    expect(r.sys.snapshots.every((n) => n.endsWith(`@${W(3)}`))).toBe(true);
    const changes = (await app.inject({ url: "/v1/changes", headers: auth })).json();
    const line = changes.changes.find((c: { action: string }) => c.action === "snapshot-destroy");
    expect(line).toMatchObject({
      where: "nvmepool",
      snapshot: null,
      undo: { text: "none: a destroyed snapshot cannot be brought back", request: null },
    });
    expect(line.what).toBe(
      `destroyed 2 snapshots of nvmepool (300 MiB freed): nvmepool@${W(1)}, nvmepool@${W(2)}`,
    );
  });

  it("refusals are problem+json with stable codes, and nothing is destroyed", async () => {
    const { r, destroy } = await server();
    const all = [...r.sys.snapshots];
    const code = async (payload: Record<string, unknown>, pool?: string) => {
      const res = await destroy(payload, pool);
      expect(res.headers["content-type"]).toMatch(/application\/problem\+json/);
      return [res.statusCode, res.json().code];
    };
    expect(await code({ snapshots: [`nvmepool@${W(1)}`] })).toEqual([422, "confirm-mismatch"]);
    expect(await code({ snapshots: [`nvmepool@${W(1)}`], confirm: "tank" })).toEqual([
      422,
      "confirm-mismatch",
    ]);
    expect(await code({ snapshots: [`tank@${W(1)}`], confirm: "nvmepool" })).toEqual([
      422,
      "snapshot-other-pool",
    ]);
    expect(await code({ snapshots: ["nvmepool@nosuch"], confirm: "nvmepool" })).toEqual([
      404,
      "snapshot-unknown",
    ]);
    expect(await code({ snapshots: [`nvmepool/home@${W(1)}`], confirm: "nvmepool" })).toEqual([
      422,
      "snapshot-partial",
    ]);
    expect(
      await code({ snapshots: [1, 2].map((n) => `nvmepool@${W(n)}`), confirm: "nvmepool", keep: 2 }),
    ).toEqual([409, "snapshot-keep"]);
    // the newest is the one the diagnosis's rollback proposal names (from before the newest generation)
    const pinned = await destroy({ snapshots: [`nvmepool@${W(3)}`], confirm: "nvmepool", keep: 0 });
    expect(pinned.json()).toMatchObject({ code: "snapshot-protected", snapshot: W(3) });
    expect(pinned.json().detail).toMatch(/the diagnosis proposes rolling back to it/);
    expect(await code({ snapshots: [], confirm: "nvmepool" })).toEqual([400, "validation-failed"]);
    expect(await code({ snapshots: [`nvmepool@${W(1)}`], confirm: "nvmepool", force: true })).toEqual([
      400,
      "validation-failed",
    ]);
    expect(await code({ snapshots: [`tank@${W(1)}`], confirm: "tank" }, "tank")).toEqual([
      404,
      "pool-not-found",
    ]);
    const held = r.sys.snapMeta.get(`nvmepool/var@${W(2)}`);
    if (held) held.holds = 1;
    expect(await code({ snapshots: [`nvmepool@${W(2)}`], confirm: "nvmepool" })).toEqual([
      409,
      "snapshot-held",
    ]);
    if (held) held.holds = 0;
    const cloned = r.sys.snapMeta.get(`nvmepool/var@${W(2)}`);
    if (cloned) cloned.clones = ["nvmepool/varclone"];
    expect(await code({ snapshots: [`nvmepool@${W(2)}`], confirm: "nvmepool" })).toEqual([
      409,
      "snapshot-has-clones",
    ]);
    expect(r.sys.snapshots).toEqual(all);
    expect(r.sys.calls.some((c) => c.file === "zfs" && c.args[0] === "destroy" && c.args[1] !== "-n")).toBe(
      false,
    );
  });

  it("read-only mount: 409 read-only-mount; Lifeboat's newest own snapshot is kept", async () => {
    const ro = await server(true);
    expect((await ro.destroy({ snapshots: [`nvmepool@${W(1)}`], confirm: "nvmepool" })).json().code).toBe(
      "read-only-mount",
    );
    const { r, destroy } = await server();
    r.sys.poolAvail.set("nvmepool", 10 * MiB);
    expect(
      (await r.sys.run("zfs", ["snapshot", "-r", "nvmepool@lifeboat-20261207T010000Z-kernel-params"]))
        .exitCode,
    ).toBe(0);
    const res = await destroy({
      snapshots: ["nvmepool@lifeboat-20261207T010000Z-kernel-params"],
      confirm: "nvmepool",
    });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({
      code: "snapshot-protected",
      snapshot: "lifeboat-20261207T010000Z-kernel-params",
    });
  });

  it("one change at a time: 409 busy while another runs, nothing destroyed", async () => {
    const { r, destroy } = await server();
    let release = () => {};
    const other = r.services.lock.run("kernel-params", () => new Promise<void>((res) => (release = res)));
    const res = await destroy({ snapshots: [`nvmepool@${W(1)}`], confirm: "nvmepool" });
    expect(res.statusCode).toBe(409);
    expect(res.json().code).toBe("busy");
    release();
    await other;
    expect(r.sys.snapshots.some((n) => n.endsWith(`@${W(1)}`))).toBe(true);
  });

  it("a zfs destroy that fails destroys nothing (one lzc_destroy_snaps call) and says so", async () => {
    const r0 = await server();
    // a hold appears between the check and the call: ZFS refuses the whole batch
    const real = r0.r.sys.run.bind(r0.r.sys);
    r0.r.sys.run = async (file, args, opts) => {
      if (file === "zfs" && args[0] === "destroy" && args[1] !== "-n") {
        const m = r0.r.sys.snapMeta.get(`nvmepool/home@${W(2)}`);
        if (m) m.holds = 1;
      }
      return real(file, args, opts);
    };
    const all = [...r0.r.sys.snapshots];
    const res = await r0.destroy({
      snapshots: [`nvmepool@${W(1)}`, `nvmepool@${W(2)}`],
      confirm: "nvmepool",
    });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toMatchObject({ code: "command-failed", destroyed: [] });
    expect(res.json().detail).toMatch(/it's being held.*nothing was destroyed/);
    expect(r0.r.sys.snapshots).toEqual(all);
  });
});

describe("snapshot rollback: checked on every dataset before the first is rolled back", () => {
  it("a held later snapshot refuses it before any zfs rollback; otherwise it names what -r destroyed", async () => {
    const { r, app } = await server();
    const rollback = () =>
      app.inject({
        method: "POST",
        url: `/v1/snapshots/${W(1)}/rollback`,
        headers: auth,
        payload: { confirm: W(1) },
      });
    const held = r.sys.snapMeta.get(`nvmepool/var@${W(3)}`);
    if (held) held.holds = 1;
    const refused = await rollback();
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({ code: "snapshot-held", held: [`nvmepool/var@${W(3)}`] });
    expect(r.sys.calls.some((c) => c.file === "zfs" && c.args[0] === "rollback")).toBe(false);
    if (held) held.holds = 0;
    const ok = await rollback();
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json().rolledBack).toHaveLength(5);
    expect(ok.json().destroyed).toHaveLength(10);
    expect(ok.json().destroyed).toContain(`nvmepool/home@${W(3)}`);
    expect(r.sys.snapshots.every((n) => n.endsWith(`@${W(1)}`))).toBe(true);
  });
});
