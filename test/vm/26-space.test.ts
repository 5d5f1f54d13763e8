// Two fixes of the diagnosis applied on real OpenZFS, in one boot of the seed server with a journal
// (`diag-good`: the `single` disk set + generations 4-6, a real journald boot of 4; the plain seed's
// journal names no generation, so nothing there is "the last good one"):
//  1. generations-gone made real: an auto-snapshot (zfs-auto-snapshot's naming) taken while 4 was the
//     system, then the upgrade to 5 and 6, then what nix.gc does to 4 (its profile link and the store
//     paths of its closure that no other generation uses go); the read-only diagnosis names it and
//     proposes rolling back to that snapshot; applied at the end, 4's closure is back.
//  2. space-full made real: three rounds of "768 MiB written, recursive snapshot, file deleted", then
//     a write until ENOSPC: the space is held by snapshots. The diagnosis proposes destroying the
//     oldest snapshots that free enough, never the one the rollback relies on; applied as sent, the
//     pool's avail grows. Every refusal of the destroy request, on real ZFS.
// LIFEBOAT_VM_CAPTURE=1 also saves the listings the agent parses (test/fixtures/vm-captured/space).
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { boot, ensureDiagnosisDiskSets, REPO, type Vm } from "./lab.js";
import { expectOk, expectProblem, finish, waitForAutoMount } from "./scenario.js";

const CAPTURE = process.env.LIFEBOAT_VM_CAPTURE === "1";
const OUT = path.join(REPO, "test/fixtures/vm-captured/space");
const P = "/mnt/nix/var/nix/profiles";
const AUTO = "zfs-auto-snap_daily-2026-12-06-0000";
const FILL = [1, 2, 3].map((i) => `zfs-auto-snap_hourly-2026-12-07-0${i}00`);
const SNAPS = "zfs list -H -o name -t snapshot -r nvmepool";

const names = async (vm: Vm) => (await vm.sh(SNAPS)).split("\n").filter(Boolean);
const avail = async (vm: Vm) => Number(await vm.sh("zfs get -H -p -o value available nvmepool"));
/** Read-only again: a read-only mount request never downgrades a read-write one (release first). */
async function mountReadOnly(vm: Vm): Promise<void> {
  expectOk(await vm.api("POST", "/v1/unmount", { export: true }));
  expectOk(await vm.api("POST", "/v1/mount", { readonly: true }));
  expect((await vm.api("GET", "/v1/status")).body.phase).toBe("mounted-ro");
}
const destroy = (vm: Vm, body: unknown) => vm.api("POST", "/v1/pools/nvmepool/snapshots/destroy", body);

describe("scenario 26: a full pool and garbage-collected generations, fixed through the API", () => {
  let vm: Vm;
  let t4 = "";
  let gone: string[] = [];
  let rollback: any;
  let free: any;

  beforeAll(async () => {
    const sets = await ensureDiagnosisDiskSets();
    t4 = sets.toplevels[4] as string;
    vm = await boot({ name: "s26-space", diskSet: sets.good });
    expect((await waitForAutoMount(vm, "s26")).phase).toBe("mounted-ro");
  });
  afterAll(() => finish(vm));

  it("generations-gone: snapshot while 4 ran, upgrade to 5-6, nix.gc of 4; the diagnosis proposes the rollback", async () => {
    expectOk(await vm.api("POST", "/v1/mount", { readonly: false }));
    // Before the upgrade: generation 4 is the system; the auto-snapshot tool takes its daily snapshot.
    await vm.sh(`T5=$(readlink ${P}/system-5-link) T6=$(readlink ${P}/system-6-link)
      echo "$T5 $T6" > /run/t56; rm ${P}/system-5-link ${P}/system-6-link; ln -sfn system-4-link ${P}/system
      zfs snapshot -r nvmepool@${AUTO}`);
    // The upgrade: nix-env --set makes the new links (after the snapshot, by ZFS's own clock).
    const created = Number(await vm.sh(`zfs get -H -p -o value creation nvmepool@${AUTO}`));
    await vm.sh(`read T5 T6 < /run/t56
      ln -s $T5 ${P}/system-5-link; ln -s $T6 ${P}/system-6-link; ln -sfn system-6-link ${P}/system
      touch -h -d @${created + 1} ${P}/system-5-link; touch -h -d @${created + 2} ${P}/system-6-link`);
    // nix.gc (--delete-older-than): 4's link goes, then the store paths only its closure used.
    const out = await vm.sh(`set -e; T4=$(readlink ${P}/system-4-link); rm ${P}/system-4-link
      refs() { echo "$1"; for l in /mnt$1/*; do readlink "$l" || true; done; }
      keep=$(for l in ${P}/system-*-link; do refs "$(readlink $l)"; done | grep -o '^/nix/store/[^/]*' | sort -u)
      for p in $(refs "$T4" | grep -o '^/nix/store/[^/]*' | sort -u); do
        if ! printf '%s\\n' "$keep" | grep -qxF "$p"; then rm -rf "/mnt$p"; echo "$p"; fi
      done`);
    gone = out.split("\n").filter(Boolean);
    expect(gone).toContain(t4);
    expect((await vm.run(`test -e /mnt${t4}`)).rc).not.toBe(0);
    await mountReadOnly(vm);

    const r = await vm.api("GET", "/v1/diagnosis?refresh=true");
    expectOk(r);
    const d = r.body;
    expect(d).toMatchObject({ lastGood: 4, firstBad: 5, bad: [5, 6] });
    const f = d.findings.find((x: any) => x.class === "generations-gone");
    expect(f, JSON.stringify(d.findings, null, 2)).toMatchObject({ generation: 4, confidence: "high" });
    expect(f.evidence[0]).toMatchObject({ kind: "store-path", ref: t4 });
    rollback = f.fixes.find((p: any) => p.kind === "snapshot-rollback");
    expect(rollback.evidence[0]).toMatchObject({ kind: "snapshot", ref: AUTO });
    expect(rollback.requests).toEqual([
      { method: "POST", path: `/v1/snapshots/${AUTO}/rollback`, body: { confirm: AUTO } },
    ]);
    // nothing is full yet: no space finding
    expect(d.findings.some((x: any) => x.class === "space-full")).toBe(false);
  });

  it("space-full: snapshots hold the space; the diagnosis proposes the oldest that free enough, never the rollback's", async () => {
    expectOk(await vm.api("POST", "/v1/mount", { readonly: false }));
    // The ballast the OpenZFS NixOS guides recommend (a dataset whose refreservation keeps room for
    // a rescue) takes all but 800 MiB: the pool then fills with ~800 MiB of writes instead of 3.4 GB,
    // which a shared 2-core host under TCG can take (a slower run timed out the guest's disk I/O).
    await vm.sh(
      "A=$(zfs get -H -p -o value available nvmepool); zfs create -o canmount=off -o refreservation=$((A - 838860800)) nvmepool/reserved",
    );
    await vm.sh("head -c 33554432 /dev/urandom > /run/chunk");
    for (const s of FILL)
      await vm.sh(
        `for n in $(seq 6); do cat /run/chunk; done > /mnt/home/fill; sync; zfs snapshot -r nvmepool@${s}; rm /mnt/home/fill; sync`,
        { timeoutMs: 600_000 },
      );
    const full = await vm.run("while cat /run/chunk >> /mnt/home/last; do :; done; sync", {
      timeoutMs: 600_000,
    });
    expect(full.stderr).toContain("No space left on device");
    expect((await vm.run("echo x > /mnt/var/lifeboat-probe")).stderr).toContain("No space left on device");
    if (CAPTURE) {
      for (const [name, cmd] of [
        [
          "scenario-space-full",
          "zfs list -H -p -o name,avail,used,usedbysnapshots,usedbydataset,usedbychildren,usedbyrefreservation -t filesystem,volume -r nvmepool",
        ],
        [
          "scenario-snapshots-full",
          "zfs list -H -p -t snapshot -o name,createtxg,creation,used,written,userrefs,clones -s createtxg -r nvmepool",
        ],
      ] as const)
        await writeFile(path.join(OUT, `${name}.stdout`), await vm.sh(cmd));
    }

    const sp = await vm.api("GET", "/v1/pools/nvmepool/space");
    expectOk(sp);
    expect(sp.body).toMatchObject({ pool: "nvmepool", full: true });
    expect(sp.body.snapshots.map((x: any) => x.snapshot)).toEqual([AUTO, ...FILL]);
    expect(sp.body.snapshots[0].kept).toMatch(/rolling back/);
    expect(sp.body.snapshots[1].freesWithOlder).toBeGreaterThan(180 * 2 ** 20);
    expect(sp.body.snapshots[2].freesWithOlder).toBeGreaterThan(360 * 2 ** 20);

    const r = await vm.api("GET", "/v1/diagnosis?refresh=true");
    expectOk(r);
    const f = r.body.findings.find((x: any) => x.class === "space-full");
    expect(f, JSON.stringify(r.body.findings, null, 2)).toBeDefined();
    expect(f.cause).toMatch(/^The installed system is out of space: pool nvmepool has /);
    free = f.fixes[0];
    expect(free).toMatchObject({ kind: "snapshot-destroy", needsReadWrite: true });
    expect(free.requests).toEqual([
      {
        method: "POST",
        path: "/v1/pools/nvmepool/snapshots/destroy",
        body: { snapshots: [`nvmepool@${FILL[0]}`, `nvmepool@${FILL[1]}`], confirm: "nvmepool", keep: 1 },
      },
    ]);
    // the rollback is still proposed, with its snapshot
    const gg = r.body.findings.find((x: any) => x.class === "generations-gone");
    expect(gg.fixes[0].evidence[0].ref).toBe(AUTO);
  });

  it("the destroy request's refusals on real ZFS: nothing destroyed by any of them", async () => {
    const before = await names(vm);
    expectProblem(
      await destroy(vm, { snapshots: [`nvmepool@${FILL[0]}`], confirm: "tank" }),
      422,
      "confirm-mismatch",
    );
    expectProblem(
      await destroy(vm, { snapshots: [`nvmepool@${AUTO}`], confirm: "nvmepool" }),
      409,
      "snapshot-protected",
    );
    expectProblem(
      await destroy(vm, { snapshots: [`tank@${FILL[0]}`], confirm: "nvmepool" }),
      422,
      "snapshot-other-pool",
    );
    expectProblem(
      await destroy(vm, { snapshots: ["nvmepool@nosuch"], confirm: "nvmepool" }),
      404,
      "snapshot-unknown",
    );
    expectProblem(
      await destroy(vm, { snapshots: ["nvmepool@a,b"], confirm: "nvmepool" }),
      400,
      "validation-failed",
    );
    expectProblem(
      await destroy(vm, { snapshots: [`nvmepool/home@${FILL[1]}`], confirm: "nvmepool" }),
      422,
      "snapshot-partial",
    );
    expectProblem(
      await destroy(vm, { snapshots: FILL.map((s) => `nvmepool@${s}`), confirm: "nvmepool", keep: 2 }),
      409,
      "snapshot-keep",
    );
    await vm.sh(`zfs hold keep nvmepool/home@${FILL[1]}`);
    const held = await destroy(vm, {
      snapshots: [`nvmepool@${FILL[0]}`, `nvmepool@${FILL[1]}`],
      confirm: "nvmepool",
    });
    expectProblem(held, 409, "snapshot-held");
    expect(held.body.held).toEqual([`nvmepool/home@${FILL[1]}`]);
    await vm.sh(`zfs release keep nvmepool/home@${FILL[1]}`);
    await mountReadOnly(vm);
    expectProblem(
      await destroy(vm, { snapshots: [`nvmepool@${FILL[0]}`], confirm: "nvmepool" }),
      409,
      "read-only-mount",
    );
    expect(await names(vm)).toEqual(before);
    // read-only import: ZFS's dry run still answers (the view and the diagnosis need no write)
    const ro = await vm.api("GET", "/v1/pools/nvmepool/space");
    expectOk(ro);
    expect(ro.body.snapshots[1].freesWithOlder).toBeGreaterThan(180 * 2 ** 20);
  });

  it("the proposal applied as sent: one zfs destroy, the pool's avail grows", async () => {
    expectOk(await vm.api("POST", "/v1/mount", { readonly: false }));
    const a0 = await avail(vm);
    const req = free.requests[0];
    const r = await vm.api(req.method, req.path, req.body);
    expectOk(r);
    expect(r.body.snapshots).toEqual([`nvmepool@${FILL[0]}`, `nvmepool@${FILL[1]}`]);
    expect(r.body.destroyed).toContain(`nvmepool/home@${FILL[1]}`);
    expect(r.body.availAfter - r.body.availBefore).toBeGreaterThan(360 * 2 ** 20);
    expect(await avail(vm)).toBeGreaterThan(a0 + 360 * 2 ** 20);
    const left = await names(vm);
    expect(left.some((n) => n.endsWith(`@${FILL[0]}`) || n.endsWith(`@${FILL[1]}`))).toBe(false);
    expect(left).toContain(`nvmepool/nix@${AUTO}`);
    expect(await vm.sh("cat /mnt/var/log/lifeboat/audit.jsonl")).toContain('"action":"snapshot-destroy"');
    const changes = await vm.api("GET", "/v1/changes");
    expect(changes.body.changes.map((c: any) => c.action)).toContain("snapshot-destroy");
    // with room again: a clone of a snapshot is refused too (destroying it would need -R)
    await vm.sh(`zfs clone nvmepool/var@${FILL[2]} nvmepool/varclone`);
    expectProblem(
      await destroy(vm, { snapshots: [`nvmepool@${FILL[2]}`], confirm: "nvmepool" }),
      409,
      "snapshot-has-clones",
    );
    await vm.sh("zfs destroy nvmepool/varclone");
  });

  it("the rollback proposal applied as sent: generation 4's closure and link are back", async () => {
    const req = rollback.requests[0];
    const r = await vm.api(req.method, req.path, req.body);
    expectOk(r);
    for (const p of gone) expect((await vm.run(`test -e /mnt${p}`)).rc, p).toBe(0);
    expect(await vm.sh(`readlink ${P}/system-4-link`)).toBe(`${t4}\n`);
    // every dataset with the snapshot is back at it, the later snapshots went with it (zfs rollback
    // -r); the ballast, made after it, has no such snapshot and is left as it is
    expect((await names(vm)).sort()).toEqual(
      [
        ...["nvmepool", "nvmepool/home", "nvmepool/nix", "nvmepool/root", "nvmepool/var"].map(
          (d) => `${d}@${AUTO}`,
        ),
        `nvmepool/reserved@${FILL[2]}`,
      ].sort(),
    );
    expect(r.body.destroyed).toEqual(expect.arrayContaining([`nvmepool/home@${FILL[2]}`]));
    expect(r.body.destroyed).not.toContain(`nvmepool/reserved@${FILL[2]}`);
    const d = await vm.api("GET", "/v1/diagnosis?refresh=true");
    expect(d.body.findings.some((x: any) => x.class === "generations-gone")).toBe(false);
  });
});
