/**
 * The ZFS properties of the installed system's pools (agent/src/core/zfsProperties.ts): one test
 * per property that the disk setting it makes the rescue side neither write, share, fetch nor
 * execute anything, on the planner, the agent's own source and the recording fake.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Candidate } from "../../agent/src/core/candidates.js";
import { parseLsblk } from "../../agent/src/core/lsblk.js";
import { finalOptions } from "../../agent/src/core/mountOptions.js";
import { parseFstab } from "../../agent/src/core/mounts.js";
import { type MountStep, type PlanInput, planMount } from "../../agent/src/core/plan.js";
import { parseZfsListHp, ZFS_LIST_COLUMNS } from "../../agent/src/core/zfs.js";
import {
  loadKeyArgs,
  NEVER_RUN,
  PROPERTIES_READ,
  ZFS_PROPERTIES,
  ZFS_VERBS,
  ZPOOL_VERBS,
} from "../../agent/src/core/zfsProperties.js";
import { rig } from "../app/harness.js";
import { fixture, ZFS_FSTAB } from "../helpers/fixtures.js";

const SRC = join(import.meta.dirname, "../../agent/src");
function sources(dir = SRC): { file: string; text: string }[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return sources(p);
    return p.endsWith(".ts") ? [{ file: p.slice(SRC.length + 1), text: readFileSync(p, "utf8") }] : [];
  });
}
const ALL = sources();
/** Every `run("zfs"|"zpool", [ "<verb>"…` (or a helper building the list) in the agent's source. */
const RUNS = ALL.flatMap(({ file, text }) =>
  [...text.matchAll(/run\(\s*"(zfs|zpool)",\s*(?:\[\s*"([a-z-]+)"|([A-Za-z.]+)\()/g)].map((m) => ({
    file,
    program: m[1] as string,
    verb: m[2] ?? null,
    helper: m[3] ?? null,
  })),
);

const CANDIDATE: Candidate = {
  kind: "zfs",
  id: "zfs:nvmepool",
  pool: "nvmepool",
  guid: "6816711904690617069",
  state: "ONLINE",
  imported: true,
  importable: true,
  disks: ["/dev/nvme0n1"],
  score: 5,
  reasons: [],
  partOfSystem: false,
  bootPool: false,
};

/** A plan of the seed's layout plus extra `zfs list -H -p` rows (under -R /mnt). */
function plan(extra: string, readonly = true) {
  const base =
    "nvmepool\tnone\toff\toff\t-\t1\nnvmepool/root\tlegacy\ton\toff\t-\t1\nnvmepool/nix\tlegacy\ton\toff\t-\t1\n";
  const input: PlanInput = {
    root: "/mnt",
    candidate: CANDIDATE,
    readonly,
    devices: parseLsblk(fixture("single", "lsblk-json-cols")),
    datasets: parseZfsListHp(base + extra),
    fstab: parseFstab("nvmepool/root / zfs defaults 0 0\nnvmepool/nix /nix zfs defaults 0 0\n"),
    pools: [{ name: "nvmepool", guid: null, imported: true, importable: true, altroot: "/mnt" }],
  };
  const p = planMount(input);
  return { ...p, mounts: p.steps.filter((s): s is MountStep => s.kind === "mount") };
}

const TESTS: Record<string, () => void | Promise<void>> = {
  mountpoint: () => {
    // A plain path is mounted there (inside /mnt); one that climbs out is skipped, named.
    const p = plan(
      "nvmepool/srv\t/mnt/srv\ton\toff\t-\t1\nnvmepool/out\t/mnt/srv/../../etc\ton\toff\t-\t1\n",
    );
    expect(p.mounts.find((s) => s.source === "nvmepool/srv")).toMatchObject({
      path: "/srv",
      target: "/mnt/srv",
    });
    expect(p.mounts.some((s) => s.source === "nvmepool/out")).toBe(false);
    expect(p.refused).toEqual([expect.objectContaining({ kind: "dataset", source: "nvmepool/out" })]);
  },
  canmount: () => {
    const p = plan(
      "nvmepool/a\t/mnt/a\ton\toff\t-\t1\nnvmepool/b\t/mnt/b\tnoauto\toff\t-\t1\nnvmepool/c\t/mnt/c\toff\toff\t-\t1\n",
    );
    expect(p.mounts.map((s) => s.source).filter((s) => /\/[abc]$/.test(s))).toEqual(["nvmepool/a"]);
  },
  keylocation: async () => {
    expect(loadKeyArgs("tank/secret")).toEqual(["load-key", "-L", "prompt", "tank/secret"]);
    // Every load-key the agent runs goes through loadKeyArgs; nothing passes -l (load keys) to import or mount.
    expect(RUNS.filter((r) => r.verb === "load-key")).toEqual([]);
    expect(RUNS.filter((r) => r.helper === "loadKeyArgs").length).toBe(1);
    for (const { file, text } of ALL) expect(text.includes('"-l"'), file).toBe(false);
    // On the fake (zfs-load-key(8) as modelled): a wrong passphrase fails even when the disk names a key file.
    const r = await rig("encrypted");
    const pool = r.sys.cfg.pools.find((p) => p.name === "nvmepool");
    if (pool) pool.keylocation = "file:///proc/self/cmdline";
    await r.mounts.mount().catch(() => undefined);
    await expect(r.mounts.loadKey("nvmepool", "wrong")).rejects.toMatchObject({ code: "wrong-passphrase" });
  },
  keyformat: () => {
    // Read for display only: the key material is the operator's stdin whatever the format says.
    expect(PROPERTIES_READ).toContain("keyformat");
    expect(loadKeyArgs("a").join(" ")).not.toMatch(/keyformat/);
    expect(ALL.filter((f) => f.text.includes("keyformat=")).map((f) => f.file)).toEqual([]);
  },
  "encryption / keystatus / encryptionroot": () => {
    const p = plan("nvmepool/home\t/mnt/home\ton\taes-256-gcm\tunavailable\t1\n");
    expect(p.mounts.some((s) => s.source === "nvmepool/home")).toBe(false);
    expect(p.locked).toEqual([{ path: "/home", dataset: "nvmepool/home", essential: false }]);
    expect(p.refused[0]?.reason).toMatch(/^locked: the encryption key of nvmepool is not loaded/);
  },
  "sharenfs / sharesmb": async () => {
    // zpool import without -N shares (zpool_enable_datasets → zfs_share_one); zfs share shares.
    for (const r of RUNS.filter((x) => x.verb)) {
      const list: readonly string[] = r.program === "zfs" ? ZFS_VERBS : ZPOOL_VERBS;
      expect(list, `${r.file}: ${r.program} ${r.verb}`).toContain(r.verb);
      expect(NEVER_RUN).not.toContain(`${r.program} ${r.verb}`);
    }
    const r = await rig("two-pools", {
      tree: { fstab: `${ZFS_FSTAB}tank/data /srv/data zfs defaults 0 0\n` },
    });
    await r.mounts.mount();
    const lines = r.sys.commandLines();
    const imports = lines.filter((l) => l.startsWith("zpool import ") && !/^zpool import$/.test(l));
    expect(imports.length).toBeGreaterThanOrEqual(2);
    for (const l of imports) expect(l).toMatch(/^zpool import -N /);
    expect(lines.filter((l) => /^zfs (share|mount|set)\b/.test(l))).toEqual([]);
  },
  readonly: async () => {
    const r = await rig("two-pools", {
      tree: { fstab: `${ZFS_FSTAB}tank/data /srv/data zfs defaults 0 0\n` },
    });
    await r.mounts.mount();
    for (const l of r.sys.commandLines().filter((x) => x.startsWith("zpool import -N")))
      expect(l).toContain("-o readonly=on");
    for (const m of r.sys.mounts.filter((x) => x.target.startsWith("/mnt")))
      expect(m.options).toContain("ro");
  },
  "exec / setuid / devices": () => {
    expect(finalOptions("zfs", ["zfsutil"], { readonly: true, exec: false })).toEqual([
      "ro",
      "zfsutil",
      "nodev",
      "nosuid",
      "noexec",
    ]);
    const rw = plan("nvmepool/srv\t/mnt/srv\ton\toff\t-\t1\n", false);
    expect(rw.mounts.find((s) => s.path === "/srv")?.options).toEqual([
      "zfsutil",
      "nodev",
      "nosuid",
      "noexec",
    ]);
  },
  overlay: () => {
    expect(PROPERTIES_READ).not.toContain("overlay");
    const p = plan("nvmepool/srv\t/mnt/srv\ton\toff\t-\t1\n");
    for (const s of p.mounts) expect(s.options).not.toContain("overlay");
  },
  "atime / relatime": async () => {
    // Nothing is written read-only: the pool itself is readonly=on (the kernel then writes no atime).
    const r = await rig("single");
    await r.mounts.mount();
    expect(r.sys.imported.get("nvmepool")).toMatchObject({ readonly: true });
  },
  snapdir: () => {
    expect(PROPERTIES_READ).not.toContain("snapdir");
    // A snapshot the kernel mounts on access under .zfs lands inside the dataset: mount.zfs's mntpoint= is passed.
    expect(ALL.find((f) => f.file === "app/mountExec.ts")?.text).toContain("mntpoint=");
  },
  "bootfs (pool)": () => {
    expect(RUNS.filter((r) => r.program === "zpool" && r.verb === "get").map((r) => r.file)).toEqual([
      "app/rootChoice.ts",
    ]);
    expect(ALL.find((f) => f.file === "app/rootChoice.ts")?.text).toMatch(/"get", "-H", "-p", "bootfs"/);
  },
  "user properties (<module>:<name>: org.nixos:*, com.sun:auto-snapshot, …)": () => {
    for (const p of [...PROPERTIES_READ, ...ZFS_LIST_COLUMNS]) expect(p).not.toContain(":");
    for (const { file, text } of ALL.filter((f) => f.file !== "core/zfsProperties.ts"))
      expect(/org\.nixos:|com\.sun:/.test(text), file).toBe(false);
  },
};

describe("ZFS properties the disk sets: none makes the rescue side write, share, fetch or execute", () => {
  it("every property listed has its test here, and none has an effect", () => {
    expect(Object.keys(TESTS).sort()).toEqual(ZFS_PROPERTIES.map((p) => p.property).sort());
    for (const p of ZFS_PROPERTIES) expect(p.effects, p.property).toEqual([]);
  });
  for (const p of ZFS_PROPERTIES) it(p.property, () => TESTS[p.property]?.());
});
