import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FakeSystem } from "../helpers/fake-system.js";
import { fakeConfig, makeNixosTree, sandbox } from "../helpers/fixtures.js";
import {
  CANARY_TEXT,
  CASES,
  currentSystem,
  type HostileCase,
  hashTree,
  layCanary,
  NEXT_CHANGE,
  planter,
} from "../helpers/hostile-disk.js";
import { registerSecret } from "../helpers/secrets.js";
import { hostileAgent } from "./harness.js";

const TOKEN = "hostile-fake-token-0123456789abcdef";
const auth = { authorization: `Bearer ${TOKEN}` };
registerSecret(TOKEN, CANARY_TEXT);
const isRoot = process.getuid?.() === 0;
const EXT4_FSTAB =
  "/dev/disk/by-uuid/b49dfb2e-68df-4dcf-9beb-c7932824fef7 / ext4 defaults 0 1\n/dev/disk/by-uuid/2922-9BB5 /boot vfat fmask=0022,dmask=0022 0 2\n";

const open: { close(): Promise<unknown> }[] = [];
afterAll(async () => {
  await Promise.all(open.map((a) => a.close()));
});

async function run(c: HostileCase) {
  const dir = await sandbox();
  const root = join(dir, "mnt");
  const canary = join(dir, "canary");
  const nonZfs = c.needs?.includes("non-zfs") ?? false;
  await makeNixosTree(root, nonZfs ? { fstab: EXT4_FSTAB } : {});
  await layCanary(canary);
  const t = planter(root, canary, await currentSystem(root));
  await c.plant(t);
  let dead = c.needs?.includes("fault") ?? false;
  const sys = new FakeSystem(
    fakeConfig(nonZfs ? "ext4" : "single", dir, {
      fileFault: (op, path) =>
        dead && op === "write" && path.includes("/boot/loader/entries/.nixos-generation-3.conf.lifeboat-tmp-")
          ? "hang"
          : undefined,
    }),
  );
  // Short file deadline only where a dead disk is simulated: a loaded machine must not time out the others.
  const { app, services, logs } = await hostileAgent(() => sys, TOKEN, {
    fileTimeoutMs: dead ? 2_000 : undefined,
  });
  open.push(app);
  const mounted = await app.inject({
    method: "POST",
    url: "/v1/mount",
    headers: auth,
    payload: { readonly: c.mode === "ro" },
  });
  expect(mounted.statusCode, mounted.body).toBe(200);
  const before = await hashTree(canary);

  const res = await app.inject({
    method: c.request.method ?? "GET",
    url: c.request.url,
    headers: { ...auth, ...c.request.headers },
    payload: c.request.payload as object | undefined,
  });
  expect(res.statusCode, res.body).toBe(c.status);
  const body = res.json();
  if (c.status >= 400) {
    expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(body.code).toBe(c.code);
    expect(body.detail).not.toMatch(/\n\s+at /);
  }
  await c.check?.(body, t);

  // The agent answers, nothing holds the lock, the next change is accepted.
  const status = await app.inject({ url: "/v1/status", headers: auth });
  expect(status.statusCode).toBe(200);
  expect(services.lock.busy).toBeNull();
  await c.cleanup?.(t);
  dead = false;
  const next =
    c.mode === "rw"
      ? await app.inject({
          method: NEXT_CHANGE.method,
          url: NEXT_CHANGE.url,
          headers: { ...auth, ...NEXT_CHANGE.headers },
          payload: NEXT_CHANGE.payload as object,
        })
      : await app.inject({ method: "POST", url: "/v1/unmount", headers: auth, payload: {} });
  expect(next.statusCode, next.body).toBe(200);
  expect(await hashTree(canary)).toBe(before);
  // Every write the agent made stayed under the root (but the live hostid it adopts on purpose, and
  // the table of a wave of sibling mounts, on the rescue side's own /run).
  const own = [
    "/etc/hostid",
    "/sys/module/spl/parameters/spl_hostid",
    "/run/lifeboat",
    "/run/lifeboat/mount-wave.fstab",
  ];
  for (const call of sys.mutations().filter((m) => m.op !== "run" && !own.includes(m.file)))
    expect(call.file === "/mnt" || call.file.startsWith("/mnt/"), `${call.op} ${call.file}`).toBe(true);
  expect(logs.text).not.toContain(CANARY_TEXT);
}

describe("hostile disk, file side (fake, real files in its sandbox)", () => {
  for (const c of CASES) {
    const skip = c.needs?.includes("root") && !isRoot;
    it.skipIf(skip)(`${c.id} (${c.attack}, ${c.mode})`, () => run(c), 30_000);
  }
});
