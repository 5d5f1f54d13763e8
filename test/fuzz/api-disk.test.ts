import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { hostileAgent } from "../app/harness.js";
import { FakeSystem } from "../helpers/fake-system.js";
import { fakeConfig, makeNixosTree, sandbox } from "../helpers/fixtures.js";
import {
  CANARY_TEXT,
  CASES,
  currentSystem,
  type HostileCase,
  hashTree,
  layCanary,
  planter,
  type Req,
} from "../helpers/hostile-disk.js";
import { registerSecret } from "../helpers/secrets.js";

const TOKEN = "disk-fuzz-token-0123456789abcdef0123";
const auth = { authorization: `Bearer ${TOKEN}` };
registerSecret(TOKEN, CANARY_TEXT);
const isRoot = process.getuid?.() === 0;
const RUNS = 60;

// ZFS-root cases that need neither a dead disk nor a non-FAT ESP (those have their own rows).
const USABLE = CASES.filter(
  (c) =>
    !c.needs?.some((n) => n === "fault" || n === "non-zfs" || n === "non-fat-esp") &&
    (isRoot || !c.needs?.includes("root")),
);
const READS: Req[] = [
  { url: "/v1/status" },
  { url: "/v1/generations" },
  { url: "/v1/boot" },
  { url: "/v1/config" },
  { url: "/v1/config/configuration.nix" },
  { url: "/v1/jobs" },
  { url: "/v1/journal/boots" },
  { url: "/v1/journal?boot=-1&limit=50" },
  { url: "/v1/audit" },
  { url: "/v1/plan" },
  { url: "/v1/diagnosis" },
];

const open: { close(): Promise<unknown> }[] = [];
afterAll(async () => {
  await Promise.all(open.map((a) => a.close()));
});

async function one(cases: HostileCase[], readonly: boolean, requests: Req[]): Promise<void> {
  const dir = await sandbox();
  const root = join(dir, "mnt");
  const canary = join(dir, "canary");
  await makeNixosTree(root, {});
  await layCanary(canary);
  const t = planter(root, canary, await currentSystem(root));
  // Later plants may meet what earlier ones made (a link where a directory was): that is just
  // another odd disk, as long as the agent copes.
  for (const c of cases) await c.plant(t).catch(() => undefined);
  // Planting one attack through another's link out may have written into the canary (the test's
  // own doing, not the agent's): lay the canary anew, then only the agent can change it.
  await layCanary(canary);
  // journalctl answers as on a journal with no boots (its parsers have their own fuzz).
  const sys = new FakeSystem(
    fakeConfig("single", dir, {
      extra: (file) =>
        file === "journalctl"
          ? { exitCode: 0, stdout: "", stderr: "", timedOut: false, notFound: false, durationMs: 1 }
          : undefined,
    }),
  );
  const { app, services, logs } = await hostileAgent(() => sys, TOKEN);
  open.push(app);
  const before = await hashTree(canary);
  const what = `${cases.map((c) => c.id).join(" + ")} (${readonly ? "ro" : "rw"})`;
  const send = (r: Req) =>
    app.inject({
      method: r.method ?? "GET",
      url: r.url,
      headers: { ...auth, ...r.headers },
      payload: r.payload as object | undefined,
    });
  const mounted = await send({ method: "POST", url: "/v1/mount", payload: { readonly } });
  expect(mounted.statusCode, `${what}: mount ${mounted.body}`).toBeLessThan(500);
  for (const r of requests) {
    const res = await send(r);
    expect(res.statusCode, `${what}: ${r.method ?? "GET"} ${r.url} ${res.body.slice(0, 300)}`).toBeLessThan(
      500,
    );
    if (res.statusCode >= 400) {
      expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
      const body = res.json();
      expect(typeof body.code, what).toBe("string");
      expect(body.detail ?? "", what).not.toMatch(/\n\s+at /);
    }
    expect(res.body, what).not.toContain(CANARY_TEXT);
  }
  const status = await send({ url: "/v1/status" });
  expect(status.statusCode, what).toBe(200);
  expect(services.lock.busy, what).toBeNull();
  await app.close();
  expect(await hashTree(canary), what).toBe(before);
  // the live hostid adopted on purpose; a wave's table of targets on the rescue side's own /run
  const own = [
    "/etc/hostid",
    "/sys/module/spl/parameters/spl_hostid",
    "/run/lifeboat",
    "/run/lifeboat/mount-wave.fstab",
  ];
  for (const call of sys.mutations().filter((m) => m.op !== "run" && !own.includes(m.file)))
    expect(call.file === "/mnt" || call.file.startsWith("/mnt/"), `${what}: ${call.op} ${call.file}`).toBe(
      true,
    );
  expect(logs.text, what).not.toContain(CANARY_TEXT);
}

describe("API fuzz over hostile data on disk", () => {
  it(`${RUNS} random combinations of ${USABLE.length} planted attacks, random request sequences`, async () => {
    const attacks = fc.uniqueArray(fc.constantFrom(...USABLE), {
      minLength: 2,
      maxLength: 6,
      selector: (c) => c.id,
    });
    const requests = fc.array(fc.constantFrom(...READS, ...USABLE.map((c) => c.request)), {
      minLength: 3,
      maxLength: 10,
    });
    await fc.assert(
      fc.asyncProperty(attacks, fc.boolean(), requests, (cases, ro, reqs) => one(cases, ro, reqs)),
      { numRuns: RUNS, seed: 1130 },
    );
  }, 300_000);
});
