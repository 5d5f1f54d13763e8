// The diagnosis planner fed with what the parsers read from REAL captures: the journals the guest's
// systemd-journald wrote in QEMU scenario 12 (test/fixtures/vm-captured/diag, LIFEBOAT_VM_CAPTURE=1) and
// the initrds mkjournal.sh made there; generation facts as the app reads them from that disk set.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PoolLabels } from "../../agent/src/app/poolLabels.js";
import { parseConsole } from "../../agent/src/core/consoleLog.js";
import {
  type BootFacts,
  type DiagnosisInput,
  diagnose,
  type GenerationFacts,
  ranges,
  type SpaceFacts,
} from "../../agent/src/core/diagnosis.js";
import { readInitrd } from "../../agent/src/core/initrd.js";
import { parseListBoots } from "../../agent/src/core/journal.js";
import {
  failedUnits,
  findCommandLine,
  milestones,
  parseJournalRecords,
} from "../../agent/src/core/journalBoots.js";
import {
  groupSnapshots,
  parseDatasetSpace,
  parseDestroyDryRun,
  parseSnapshotSpace,
} from "../../agent/src/core/zfsSpace.js";
import { classifyImportFailure, parseZpoolImport } from "../../agent/src/core/zpoolImport.js";
import { CONSOLES, TOP as TOP5 } from "../diagnosis-catalog/consoles.js";
import { fixture } from "../helpers/fixtures.js";

const V = join(import.meta.dirname, "..", "fixtures", "vm-captured", "diag");
const read = (kase: string, name: string) => readFileSync(join(V, kase, `${name}.stdout`), "utf8");

/** The boots of a captured journal, as DiagnosisService reads them (same queries, same parsers). */
function bootsOf(kase: string): BootFacts[] {
  return parseListBoots(read(kase, "list-boots-json")).map((b) => {
    const tag = `boot${b.index}`;
    const recs = (n: string) => parseJournalRecords(read(kase, `${tag}-${n}`));
    const tail = recs("tail")[0];
    return {
      bootId: b.bootId,
      index: b.index,
      first: b.first,
      last: b.last,
      cmdline: findCommandLine(recs("kernel-head")),
      milestones: milestones(recs("milestones")),
      failedUnits: failedUnits(recs("failures")),
      kernelErrors: recs("kernel-errors").map((r) => ({ value: r.message, cursor: r.cursor, time: r.time })),
      lastEntry: tail ? { value: tail.message, cursor: tail.cursor, time: tail.time } : null,
    };
  });
}

// mkjournal.sh's store paths (`bash test/vm/guest/mkjournal.sh toplevel N`)
const TOP: Record<number, string> = {
  4: "/nix/store/r34nj9yfkjpbwjbfb9i1lbwbjaj4lksv-nixos-system-atlas-24.11.20250210.3a2f1b4",
  5: "/nix/store/ip9yk0s67w2gjiklkvjnrpvj6dn7zxw9-nixos-system-atlas-24.11.20250301.5c1d2e3",
  6: "/nix/store/96s8dhh7xb5gjpyxskffdy8mhapg8w6v-nixos-system-atlas-24.11.20250302.6d2e3f4",
};
const initrd = (n: 4 | 5) => readInitrd(readFileSync(join(V, "good", `initrd-${n}.gz`)));

function generations(journalStart: string): GenerationFacts[] {
  const at = (ms: number) => new Date(Date.parse(journalStart) + ms).toISOString();
  const g = (n: number, date: string, extra: Partial<GenerationFacts> = {}): GenerationFacts => ({
    number: n,
    date,
    toplevel: TOP[n] ?? `/nix/store/${String(n).repeat(32)}-nixos-system-atlas-24.11.2025010${n}`,
    closurePresent: true,
    current: n === 6,
    bootDefault: n === 6,
    nixosVersion: null,
    kernelVersion: n >= 5 ? "6.6.80" : "6.6.74",
    kernelParams:
      n >= 5 ? ["intel_iommu=on", "iommu=pt", "nohibernate", "loglevel=4"] : ["nohibernate", "loglevel=4"],
    specialisations: [],
    bootEntry: `nixos-generation-${n}`,
    initrd: {
      path: `${TOP[n] ?? ""}/initrd`,
      info: n === 4 ? initrd(4) : n >= 5 ? initrd(5) : null,
      note: null,
    },
    units: new Map([
      ["sshd.service", "/nix/store/a-unit-sshd"],
      ...(n >= 5 ? ([["vfio-bind.service", "/nix/store/b-unit-vfio-bind"]] as [string, string][]) : []),
    ]),
    packages: [
      `/nix/store/${"c".repeat(32)}-nginx-${n >= 5 ? "1.26.3" : "1.26.2"}`,
      ...(n >= 5 ? [`/nix/store/${"d".repeat(32)}-qemu-9.2.0`] : []),
    ],
    ...extra,
  });
  return [g(6, at(3_600_000)), g(5, at(3_500_000)), g(4, at(-86_400_000)), g(3, "2025-01-09T09:02:57.000Z")];
}

// the block mkjournal.sh adds to the lab server's /etc/nixos/configuration.nix for generation 5
const CONFIG = readFileSync(join(import.meta.dirname, "..", "vm", "guest", "mkjournal.sh"), "utf8")
  .split("\n")
  .filter((l) => /^ {2}(# GPU|boot\.|systemd\.services|wantedBy|script|};)/.test(l))
  .join("\n");

function input(kase: "good" | "failed", over: Partial<DiagnosisInput> = {}): DiagnosisInput {
  const boots = bootsOf(kase);
  const first = boots.map((b) => b.first as string).sort()[0] as string;
  return {
    journal: {
      state: "ok",
      dir: "/var/log/journal",
      detail: null,
      bootsTotal: boots.length,
      bootsExamined: boots.length,
      firstEntry: first,
    },
    boots,
    generations: generations(first),
    loader: "systemd-boot",
    snapshots: [],
    configFiles: [{ path: "configuration.nix", text: CONFIG }],
    git: { state: "no-repository", detail: null, commits: [], changes: [] },
    ...over,
  };
}

describe("planner on scenario 12's real journals", () => {
  it("a: 4 good, 5 and 6 never booted → blacklist the modules new in 5's stage 1", () => {
    const d = diagnose(input("good"));
    expect(d.sentence).toMatch(
      /^Generation 4 booted last \(\d{4}-\d\d-\d\d, clean shutdown\); 5–6 have no boot in the journal: they hang before the root is mounted\.$/,
    );
    expect(d.findings[0]).toMatchObject({ class: "stage1-module", generation: 5, confidence: "medium" });
    expect(d.cause).toBe(
      "A kernel module stops the boot in stage 1: vfio_pci, vfio, vfio_iommu_type1 are new in generation 5's initrd and loaded unconditionally in stage 1; 5–6 never got as far as mounting the root (no boot in the journal).",
    );
    expect(d.findings[0]?.needs[0]).toMatch(/^a console capture of a boot of generation 5/);
    expect(d.generations.map((g) => [g.number, g.status])).toEqual([
      [6, "no-boot"],
      [5, "no-boot"],
      [4, "booted"],
      [3, "before-journal"],
    ]);
    expect(d.changes?.initrd.loadedAdded).toEqual(["vfio_pci", "vfio", "vfio_iommu_type1"]);
    expect(d.proposals.map((p) => p.kind)).toEqual(["loader-default", "kernel-param", "open-config"]);
    expect(d.proposals[1]?.requests.map((r) => r.path)).toEqual([
      "/v1/boot/entries/nixos-generation-5/kernel-params",
      "/v1/boot/entries/nixos-generation-6/kernel-params",
    ]);
    const open = d.proposals[2];
    expect(CONFIG.split("\n")[(open?.config?.line ?? 0) - 1]).toContain("boot.initrd.kernelModules");
    // the boot of the lab's own mkserver run names no generation: it is listed, not guessed at
    expect(d.boots.find((b) => b.generation === null)?.cmdline).not.toContain("init=");
    expect(d.summary).toContain("stage 1 now loads vfio_pci, vfio, vfio_iommu_type1");
    expect(d.summary).toContain("nginx 1.26.2→1.26.3");
  });

  it("b: 5 reached stage 2 and vfio-bind.service failed", () => {
    const d = diagnose(input("failed"));
    expect(d.sentence).toMatch(
      /^Generation 4 booted last successfully \(.*\); generation 5 booted on .* but vfio-bind\.service failed and the journal ends abruptly; 6 has no boot in the journal: it hangs before the root is mounted\.$/,
    );
    const b5 = d.boots.find((b) => b.generation === 5);
    expect(b5?.evidence.some((e) => e.detail.includes("Failed with result 'exit-code'"))).toBe(true);
    const why = d.proposals.filter((p) => p.kind === "open-config").map((p) => p.why);
    expect(why).toContain("it configures vfio-bind, which failed in generations 5–6");
    expect(d.findings.map((f) => f.class)).toEqual(["stage1-module"]);
    expect(d.cause).toBe(
      "A kernel module stops the boot in stage 1: vfio_pci, vfio, vfio_iommu_type1 are new in generation 5's initrd and loaded unconditionally in stage 1; 6 never got as far as mounting the root (no boot in the journal); generation 5 reached stage 2, where vfio-bind.service failed.",
    );
  });

  it("a snapshot from before the first bad generation is offered last, with its danger", () => {
    const i = input("good");
    const g5 = i.generations.find((g) => g.number === 5)?.date as string;
    const before = new Date(Date.parse(g5) - 60_000).toISOString();
    const d = diagnose({
      ...i,
      snapshots: [
        { snapshot: "autosnap_daily", created: before },
        { snapshot: "after", created: new Date(Date.parse(g5) + 60_000).toISOString() },
      ],
    });
    const last = d.proposals.at(-1);
    expect(last).toMatchObject({
      kind: "snapshot-rollback",
      title: "Roll the pool back to snapshot autosnap_daily",
    });
    expect(last?.requests[0]).toEqual({
      method: "POST",
      path: "/v1/snapshots/autosnap_daily/rollback",
      body: { confirm: "autosnap_daily" },
    });
    expect(last?.caution).toMatch(/^DESTRUCTIVE/);
  });

  it("the good generation was garbage-collected: said, and not proposed", () => {
    const i = input("good");
    const g4 = i.generations.find((g) => g.number === 4) as GenerationFacts;
    g4.closurePresent = false;
    const d = diagnose(i);
    expect(d.sentence).toContain(
      "Generation 4's closure is no longer in the store: it cannot be booted again.",
    );
    expect(d.proposals.some((p) => p.kind === "loader-default")).toBe(false);
    expect(d.gone.map((g) => g.generation)).toContain(4);
    expect(d.findings[0]).toMatchObject({ class: "generations-gone", generation: 4, confidence: "high" });
    expect(d.findings[0]?.needs[0]).toMatch(/a snapshot from before the bad generation/);
  });

  it("a boot of a generation that no longer exists is reported as gone", () => {
    const i = input("good");
    i.generations = i.generations.filter((g) => g.number !== 4);
    const d = diagnose(i);
    expect(d.gone[0]?.toplevel).toBe(TOP[4]);
    expect(d.gone[0]?.detail).toMatch(/no generation links to it any more/);
  });

  it("GRUB: the boot default goes through a profile switch; no entry to blacklist in", () => {
    const d = diagnose(input("good", { loader: "grub" }));
    expect(d.proposals[0]?.requests[0]?.body).toEqual({ generation: 4, mode: "profile" });
    expect(d.proposals.some((p) => p.kind === "kernel-param")).toBe(false);
  });

  it("no journal: it says so, and every proposal is marked a guess", () => {
    const d = diagnose(
      input("good", {
        journal: {
          state: "missing",
          dir: "/var/log/journal",
          detail: "no /var/log/journal",
          bootsTotal: 0,
          bootsExamined: 0,
          firstEntry: null,
        },
        boots: [],
      }),
    );
    expect(d.sentence).toMatch(/^The installed system has no persistent journal/);
    expect(d.generations.every((g) => g.status === "unknown")).toBe(true);
    expect(d.lastGood).toBe(5);
    expect(d.proposals.length).toBeGreaterThan(0);
    expect(d.proposals.every((p) => p.basis === "guess")).toBe(true);
  });

  it("ranges", () => {
    expect(ranges([44, 42, 43, 41, 47])).toBe("41–44, 47");
    expect(ranges([5])).toBe("5");
  });
});

describe("initrd classes on scenario 12's real initrds, with a module taken out of generation 5's", () => {
  const disk = (path: string) => ({
    path,
    fstype: "zfs_member",
    uuid: null,
    label: "rpool",
    partuuid: null,
    partlabel: null,
  });
  function variant(drop: string[], devices = [disk("/dev/vda2")]): DiagnosisInput {
    const i = input("good", { devices });
    for (const g of i.generations) {
      g.fstab = "rpool/root / zfs zfsutil 0 0\n";
      const info = g.initrd.info;
      if (g.number >= 5 && info)
        g.initrd = { ...g.initrd, info: { ...info, modules: info.modules.filter((m) => !drop.includes(m)) } };
    }
    return i;
  }

  it("virtio_blk gone while the pool is on /dev/vda2: storage-driver-missing first, before the vfio modules", () => {
    const d = diagnose(variant(["virtio_blk"]));
    // 5 and 6 (same initrd) each never booted
    expect(d.findings.map((f) => [f.class, f.generation, f.confidence])).toEqual([
      ["storage-driver-missing", 5, "high"],
      ["storage-driver-missing", 6, "high"],
      ["stage1-module", 5, "medium"],
    ]);
    expect(d.cause).toMatch(
      /^Generation 5's initrd lacks virtio_blk, the driver of the root pool rpool's disk \/dev\/vda2 \(a virtio disk\), which generation 4's initrd had/,
    );
  });

  it("a controller driver gone but the disk's own driver kept: medium, and it says what would decide", () => {
    const d = diagnose(variant(["virtio_pci"], [disk("/dev/sda2")]));
    const f = d.findings.find((x) => x.class === "storage-driver-missing");
    expect(f?.confidence).toBe("medium");
    expect(f?.cause).toMatch(
      /lacks the storage driver virtio_pci that generation 4's initrd had: if the root's disk/,
    );
    expect(f?.needs[0]).toMatch(/which driver the root's disk uses/);
  });

  it("zfs gone from 5's initrd while its stage 1 loads nothing new for it: zfs-module-missing, no edit without linuxPackages_latest", () => {
    const d = diagnose(variant(["zfs", "spl"]));
    const f = d.findings[0];
    expect(f?.class).toBe("zfs-module-missing");
    expect(f?.cause).toMatch(
      /^Generation 5's initrd has no zfs module for its kernel 6\.6\.80 .*the ZFS pool rpool/,
    );
    expect(f?.fixes.map((p) => p.kind)).toEqual(["loader-default"]);
    expect(f?.needs).toHaveLength(1);
  });

  it("nothing taken out: neither initrd class speaks", () => {
    const d = diagnose(variant([]));
    expect(d.findings.map((f) => f.class)).toEqual(["stage1-module"]);
  });
});

describe("pool-in-use-elsewhere: the label as the real zpool worded it, kept from before the rescue imported the pool", () => {
  /** What app/poolLabels.ts keeps of the real captures: the listing, then the refused import without -f. */
  function seen(): PoolLabels {
    const labels = new PoolLabels();
    for (const p of parseZpoolImport(fixture("single", "zpool-import-list")))
      labels.listed(p, "00bab10c", "2026-11-25T20:00:00.000Z");
    const stderr = fixture("single", "zpool-import-no-f", "stderr");
    const f = classifyImportFailure(stderr);
    if (f.kind !== "in-use-elsewhere") throw new Error("capture changed");
    labels.refused("nvmepool", f, "00bab10c", stderr, "2026-11-25T20:00:01.000Z");
    return labels;
  }
  const NO_FORCE = { path: "configuration.nix", text: `${CONFIG}\n  boot.zfs.forceImportRoot = false;\n` };
  function withHostids(ids: Record<number, string>, over: Partial<DiagnosisInput> = {}): DiagnosisInput {
    const i = input("good", { poolLabel: seen().first("nvmepool"), configFiles: [NO_FORCE], ...over });
    for (const g of i.generations) g.hostid = ids[g.number] ?? null;
    return i;
  }

  it("the label names atlas 8425e349, the generations 2f1c9a6b: first, high, with the label's own line", () => {
    const d = diagnose(withHostids({ 4: "2f1c9a6b", 5: "2f1c9a6b", 6: "2f1c9a6b" }));
    const f = d.findings[0];
    expect([f?.class, f?.generation, f?.confidence]).toEqual(["pool-in-use-elsewhere", 5, "high"]);
    expect(f?.evidence[0]?.detail).toMatch(
      /^Last accessed by atlas \(hostid=8425e349\) at Wed Nov 25 19:13:10 2026/,
    );
    expect(f?.fixes.map((p) => [p.kind, p.requests.map((q) => q.path)])).toEqual([
      ["hand-back", ["/v1/mount", "/v1/export"]],
      ["kernel-param", ["/v1/boot/entries/nixos-generation-5/kernel-params"]],
    ]);
    expect(d.findings.map((x) => x.class)).toContain("stage1-module");
  });

  it("the label is the generations' own hostid (an unclean shutdown of this server): nothing to say", () => {
    const d = diagnose(withHostids({ 4: "8425e349", 5: "8425e349", 6: "8425e349" }));
    expect(d.findings.map((x) => x.class)).not.toContain("pool-in-use-elsewhere");
  });

  it("the hostid changed with 5 and the label is 4's: hostid-changed, not this", () => {
    const d = diagnose(withHostids({ 4: "8425e349", 5: "2f1c9a6b", 6: "2f1c9a6b" }));
    expect(d.findings[0]?.class).toBe("hostid-changed");
    expect(d.findings.map((x) => x.class)).not.toContain("pool-in-use-elsewhere");
  });

  it("forceImportRoot left on (the default before 26.11): low; a stateVersion of 26.11 turns it off", () => {
    const on = diagnose(
      withHostids(
        { 4: "2f1c9a6b", 5: "2f1c9a6b" },
        { configFiles: [{ path: "configuration.nix", text: CONFIG }] },
      ),
    );
    expect(on.findings.find((x) => x.class === "pool-in-use-elsewhere")?.confidence).toBe("low");
    const sv = { path: "configuration.nix", text: `${CONFIG}\n  system.stateVersion = "26.11";\n` };
    const off = diagnose(withHostids({ 4: "2f1c9a6b", 5: "2f1c9a6b" }, { configFiles: [sv] }));
    const f = off.findings.find((x) => x.class === "pool-in-use-elsewhere");
    expect(f?.confidence).toBe("high");
    expect(f?.evidence.map((e) => e.detail)).toContain(
      `line ${CONFIG.split("\n").length + 1}: system.stateVersion = "26.11"; (forceImportRoot defaults to false from 26.11 on)`,
    );
  });

  it("what the label says after the rescue imported the pool is never taken for it", () => {
    const labels = seen();
    labels.imported("nvmepool");
    // after a read-write import with the hostid adopted, a later listing or refusal names the rescue
    labels.refused(
      "nvmepool",
      {
        kind: "in-use-elsewhere",
        pool: "nvmepool",
        lastHost: "rescue",
        lastHostId: "8425e349",
        lastAccessed: null,
      },
      "00bab10c",
      "Last accessed by rescue (hostid=8425e349) at Thu Nov 26 08:00:00 2026\n",
    );
    expect(labels.first("nvmepool")).toMatchObject({ lastHost: "atlas", lastHostId: "8425e349" });
    // a pool first seen exported, imported cleanly: nothing kept, no finding
    const clean = new PoolLabels();
    for (const p of parseZpoolImport(fixture("single", "zpool-import-list-clean")))
      clean.listed(p, "00bab10c");
    clean.imported("nvmepool");
    expect(clean.first("nvmepool")?.lastHostId ?? null).toBeNull();
    const d = diagnose(withHostids({ 4: "2f1c9a6b", 5: "2f1c9a6b" }, { poolLabel: clean.first("nvmepool") }));
    expect(d.findings.map((x) => x.class)).not.toContain("pool-in-use-elsewhere");
  });
});

describe("a console capture given by the operator bears out the stage-1 findings", () => {
  it("vfio_pci hangs generation 5's stage 1 on the console: stage1-module high, the lines cited, no console asked for", () => {
    const d = diagnose(input("good", { console: parseConsole(CONSOLES.vfio) }));
    const f = d.findings[0];
    expect([f?.class, f?.generation, f?.confidence]).toEqual(["stage1-module", 5, "high"]);
    expect(f?.evidence.filter((e) => e.kind === "console")).toEqual([
      { kind: "console", ref: "console line 6", detail: "loading module vfio_pci..." },
      {
        kind: "console",
        ref: "console line 7",
        detail: "INFO: task modprobe:212 blocked for more than 122 seconds.",
      },
    ]);
    expect(f?.needs.some((n) => /console capture/.test(n))).toBe(false);
    // without it: medium, and it asks for one
    const plain = diagnose(input("good")).findings[0];
    expect(plain?.confidence).toBe("medium");
    expect(plain?.needs[0]).toMatch(/console capture/);
  });

  it("a capture of another generation's boot (its init=) is not applied; one that shows nothing of the class neither", () => {
    const other = CONSOLES.vfio.replace(
      TOP5,
      TOP5.replace("ip9yk0s67w2gjiklkvjnrpvj6dn7zxw9", "96s8dhh7xb5gjpyxskffdy8mhapg8w6v").replace(
        "20250301.5c1d2e3",
        "20250302.6d2e3f4",
      ),
    );
    const f = diagnose(input("good", { console: parseConsole(other) })).findings[0];
    expect(f?.confidence).toBe("medium");
    expect(f?.evidence.some((e) => e.kind === "console")).toBe(false);
    const g = diagnose(input("good", { console: parseConsole(CONSOLES.deviceWait) })).findings[0];
    expect(g?.evidence.some((e) => e.kind === "console")).toBe(false);
  });
});

describe("space-full on the real captures of a full pool (test/fixtures/vm-captured/space)", () => {
  const S = join(import.meta.dirname, "..", "fixtures", "vm-captured", "space");
  const cap = (name: string) => readFileSync(join(S, `${name}.stdout`), "utf8");
  const D = (n: number) => `zfs-auto-snap_daily-2026-12-0${n}-0000`;
  /** SpaceFacts as app/space.ts builds them: the listings, and ZFS's dry runs of the oldest prefixes. */
  function space(over: { kept?: Record<string, string>; avail?: number } = {}): SpaceFacts {
    const root = parseDatasetSpace(cap("space-full"))[0] as ReturnType<typeof parseDatasetSpace>[number];
    const dry = [cap("destroy-dry-1"), cap("destroy-dry-12")].map((t) => parseDestroyDryRun(t).reclaim);
    let free = 0;
    return {
      pool: "nvmepool",
      avail: over.avail ?? root.avail,
      used: root.used,
      usedBySnapshots: 2416984064 + 172032,
      snapshots: groupSnapshots(parseSnapshotSpace(cap("snapshots-full"))).map((g) => {
        const kept = over.kept?.[g.snapshot] ?? null;
        return {
          snapshot: g.snapshot,
          created: g.created,
          used: g.used,
          kept,
          freesWithOlder: kept ? null : (dry[free++] ?? null),
        };
      }),
    };
  }

  it("a full pool without a journal line: the cause from the pool, the oldest snapshot that frees enough", () => {
    const d = diagnose(input("good", { space: space() }));
    const f = d.findings.find((x) => x.class === "space-full");
    expect(f?.confidence).toBe("medium");
    expect(f?.cause).toBe(
      "The installed system is out of space: pool nvmepool has 0 B free, 2.3 GiB of its 3.1 GiB held by snapshots: upgrades and rebuilds cannot write to the store until space is freed.",
    );
    expect(f?.fixes).toHaveLength(1);
    const p = f?.fixes[0];
    expect(p).toMatchObject({ kind: "snapshot-destroy", needsReadWrite: true, basis: "evidence" });
    expect(p?.title).toBe(`Free 768 MiB on nvmepool: destroy its oldest snapshot (${D(1)})`);
    expect(p?.requests).toEqual([
      {
        method: "POST",
        path: "/v1/pools/nvmepool/snapshots/destroy",
        body: { snapshots: [`nvmepool@${D(1)}`], confirm: "nvmepool", keep: 1 },
      },
    ]);
    expect(d.proposals.map((x) => x.id)).toContain("free-nvmepool");
  });

  it("never the snapshot the rollback relies on: the next oldest instead", () => {
    const i = input("good");
    const g5 = Date.parse(i.generations.find((g) => g.number === 5)?.date as string);
    // the oldest snapshot is from before generation 5: the rollback proposal cites it
    const d = diagnose({
      ...i,
      snapshots: [{ snapshot: D(1), created: new Date(g5 - 60_000).toISOString() }],
      space: space({ kept: { [D(1)]: "the rollback" } }),
    });
    const rb = d.proposals.find((p) => p.kind === "snapshot-rollback");
    expect(rb?.evidence[0]?.ref).toBe(D(1));
    const free = d.proposals.find((p) => p.kind === "snapshot-destroy");
    expect(free?.requests[0]?.body?.snapshots).toEqual([`nvmepool@${D(2)}`]);
    // even if the space view did not know: a relied-on snapshot is skipped by the class itself
    const d2 = diagnose({
      ...i,
      snapshots: [{ snapshot: D(1), created: new Date(g5 - 60_000).toISOString() }],
      space: space(),
    });
    expect(d2.proposals.find((p) => p.kind === "snapshot-destroy")?.requests[0]?.body?.snapshots).toEqual([
      `nvmepool@${D(2)}`,
    ]);
  });

  it("always keeps one snapshot; with none destroyable it says why", () => {
    const keptAll = space({ kept: { [D(1)]: "held", [D(2)]: "held", [D(3)]: "held" } });
    const d = diagnose(input("good", { space: keptAll }));
    const f = d.findings.find((x) => x.class === "space-full");
    expect(f?.fixes).toEqual([]);
    expect(f?.needs[0]).toMatch(/^no snapshot of nvmepool can be destroyed to free it/);
  });

  it("a pool with room: no finding", () => {
    const d = diagnose(input("good", { space: space({ avail: 2417242112 }) }));
    expect(d.findings.some((x) => x.class === "space-full")).toBe(false);
  });
});
