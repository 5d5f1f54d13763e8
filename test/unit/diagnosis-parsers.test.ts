// Parsers of the diagnosis (issue 14) on real captures: initrd archives made by GNU cpio + zstd/gzip/xz,
// bootspec documents made by jq exactly as nixpkgs' bootspec.nix does, real git output, and journals
// written by the real systemd-journald (QEMU guest) and systemd-journal-remote (host).
import { execFileSync, spawnSync } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseBootspecDocument } from "../../agent/src/core/bootspec.js";
import { isUnitName, packageDiff, parseStoreName, unitDiff } from "../../agent/src/core/closure.js";
import { ParseError } from "../../agent/src/core/errors.js";
import { GIT_LOG_FORMAT, gitInvocation, parseGitLog, parseUnifiedDiff } from "../../agent/src/core/gitlog.js";
import { readInitrd, scriptedStage1Modules } from "../../agent/src/core/initrd.js";
import {
  failedUnits,
  findCommandLine,
  initOf,
  milestones,
  parseJournalRecords,
} from "../../agent/src/core/journalBoots.js";

const FIX = join(import.meta.dirname, "..", "fixtures");
const D = join(FIX, "diagnosis");
const bytes = (f: string) => readFileSync(join(D, f));
const text = (...p: string[]) => readFileSync(join(FIX, ...p), "utf8");

describe("initrd archives (GNU cpio newc as make-initrd-ng writes them)", () => {
  it("zstd with an uncompressed microcode archive prepended, scripted stage 1", () => {
    const i = readInitrd(bytes("scripted-zstd-ucode.initrd"));
    expect(i.segments).toEqual(["cpio", "zstd"]);
    expect(i.stage1).toBe("scripted");
    expect(i.kernelVersions).toEqual(["6.6.80"]);
    expect(i.modules).toEqual([
      "ahci",
      "nvme",
      "spl",
      "vfio",
      "vfio_iommu_type1",
      "vfio_pci",
      "xhci_pci",
      "zfs",
    ]);
    expect(i.loaded).toEqual(["vfio_pci", "vfio", "vfio_iommu_type1"]);
    expect(i.loadedFrom).toMatch(/^\/nix\/store\/[0-9a-z]{32}-stage-1-init\.sh$/);
    expect(i.notes).toEqual([]);
  });
  it("gzip (nixpkgs' older default), a stage 1 that loads nothing by itself", () => {
    const i = readInitrd(bytes("scripted-gzip.initrd"));
    expect(i.segments).toEqual(["gzip"]);
    expect(i.loaded).toEqual([]);
    expect(i.modules).toEqual(["ahci", "nvme", "spl", "xhci_pci", "zfs"]);
  });
  it("systemd in stage 1: modules-load.d/nixos.conf, followed through its store link", () => {
    const i = readInitrd(bytes("systemd-zstd.initrd"));
    expect(i.stage1).toBe("systemd");
    expect(i.loaded).toEqual(["vfio_pci", "vfio"]);
    expect(i.loadedFrom).toMatch(/-nixos\.conf$/);
  });
  it("xz cannot be read here: said, not guessed", () => {
    const i = readInitrd(bytes("scripted-xz.initrd"));
    expect(i.segments).toEqual(["xz"]);
    expect(i.modules).toEqual([]);
    expect(i.loaded).toBeNull();
    expect(i.notes.join()).toMatch(/xz-compressed part at byte 0 cannot be read here/);
  });
  it("every truncation of a real archive returns data with a note, or the full result", () => {
    const buf = bytes("scripted-zstd-ucode.initrd");
    for (let n = 0; n < buf.length; n += 7) {
      const i = readInitrd(buf.subarray(0, n));
      expect(Array.isArray(i.modules)).toBe(true);
    }
  });
  it("the guest-made initrds of the QEMU scenario (gzip -9n, like boot.initrd.compressor's old default)", () => {
    const g4 = readInitrd(readFileSync(join(FIX, "vm-captured/diag/good/initrd-4.gz")));
    const g5 = readInitrd(readFileSync(join(FIX, "vm-captured/diag/good/initrd-5.gz")));
    expect(g4.loaded).toEqual([]);
    expect(g5.loaded).toEqual(["vfio_pci", "vfio", "vfio_iommu_type1"]);
    const listed = text("vm-captured/diag/good/initrd-5-list.stdout")
      .split("\n")
      .filter((l) => l.endsWith(".ko.xz"));
    expect(g5.modules).toHaveLength(listed.length);
  });
  it("stage-1-init.sh's module loop as nixpkgs substitutes it", () => {
    expect(
      scriptedStage1Modules(
        '# Load the required kernel modules.\necho /x/bin/modprobe > /proc/sys/kernel/modprobe\nfor i in dm-mod vfio_pci; do\n    info "loading module $(basename $i)..."\n',
      ),
    ).toEqual(["dm_mod", "vfio_pci"]);
    expect(scriptedStage1Modules("#!/bin/sh\nexec systemd\n")).toBeNull();
  });
});

describe("bootspec (boot.json) of several NixOS releases, generated per nixpkgs' bootspec.nix", () => {
  it("24.11: org.nixos.bootspec.v1, an extension, a specialisation", () => {
    const b = parseBootspecDocument(readFileSync(join(D, "GENERATED-boot-24.11.json"), "utf8"));
    expect(b.format).toBe("org.nixos.bootspec.v1");
    expect(b.kernelParams).toEqual(["nohibernate", "loglevel=4"]);
    expect(b.initrd).toMatch(/-initrd-linux-6\.6\.69\/initrd$/);
    expect(b.init).toBe(`${b.toplevel}/init`);
    expect(b.extensions).toEqual(["org.nixos.systemd-boot"]);
    expect(Object.keys(b.specialisations)).toEqual(["debug"]);
    expect(b.specialisations.debug?.kernelParams).toContain("systemd.log_level=debug");
  });
  it("23.05: no extensions, label without the distro name", () => {
    const b = parseBootspecDocument(readFileSync(join(D, "GENERATED-boot-23.05.json"), "utf8"));
    expect(b).toMatchObject({ format: "org.nixos.bootspec.v1", system: "x86_64-linux", extensions: [] });
    expect(b.label).toBe("NixOS Stoat 23.05.20230607.0ab1c2d (Linux 6.1.31)");
  });
  it("the preview format (v1, initrdSecrets, extensions inside)", () => {
    const b = parseBootspecDocument(readFileSync(join(D, "GENERATED-boot-preview.json"), "utf8"));
    expect(b.format).toBe("v1-preview");
    expect(b.initrdSecrets).toMatch(/append-initrd-secrets$/);
    expect(b.system).toBeNull();
  });
  it("the lab's boot.json (mkjournal.sh) and garbage", () => {
    expect(() => parseBootspecDocument("[]")).toThrow(ParseError);
    expect(() => parseBootspecDocument('{"v2":{}}')).toThrow(/neither/);
  });
});

describe("store paths, units, packages", () => {
  it("Nix's name/version split", () => {
    expect(
      parseStoreName("/nix/store/0k3f5v9q2d1r8w7x6c4b3n2m1l0p9s8a-bash-interactive-5.2p37/bin/bash"),
    ).toMatchObject({
      pname: "bash-interactive",
      version: "5.2p37",
    });
    expect(
      parseStoreName("/nix/store/0k3f5v9q2d1r8w7x6c4b3n2m1l0p9s8a-linux-6.6.69-modules-shrunk")?.pname,
    ).toBe("linux");
    expect(parseStoreName("/nix/store/0k3f5v9q2d1r8w7x6c4b3n2m1l0p9s8a-etc")?.version).toBeNull();
    expect(parseStoreName("/etc/passwd")).toBeNull();
  });
  it("package and unit differences", () => {
    const p = (n: string) => `/nix/store/${"a".repeat(32)}-${n}`;
    const d = packageDiff(
      [p("nginx-1.26.2"), p("bash-5.2"), p("etc")],
      [p("nginx-1.26.3"), p("bash-5.2"), p("qemu-9.2.0")],
    );
    expect(d).toEqual({
      added: [{ pname: "qemu", versions: ["9.2.0"] }],
      removed: [],
      changed: [{ pname: "nginx", before: ["1.26.2"], after: ["1.26.3"] }],
    });
    const u = unitDiff(
      new Map([
        ["a.service", "x"],
        ["b.service", "y"],
      ]),
      new Map([
        ["a.service", "z"],
        ["c.service", "q"],
      ]),
    );
    expect(u).toEqual({
      added: ["c.service"],
      removed: ["b.service"],
      changed: [{ unit: "a.service", before: "x", after: "z" }],
    });
    expect(isUnitName("multi-user.target.wants")).toBe(false);
    expect(isUnitName("getty@.service")).toBe(true);
  });
});

describe("git output (real git 2.39, test/fixtures/diagnosis/make-git.sh)", () => {
  it("log records and -U0 hunks", () => {
    const log = parseGitLog(readFileSync(join(D, "git-log.stdout"), "utf8"));
    expect(log.map((c) => c.subject)).toEqual(["hosts.nix", "GPU passthrough: vfio in stage 1"]);
    expect(log[1]).toMatchObject({ author: "Alice Admin", date: "2026-11-03T09:00:00+00:00" });
    const diff = parseUnifiedDiff(readFileSync(join(D, "git-diff-U0.stdout"), "utf8"));
    expect(diff[0]).toEqual({
      file: "configuration.nix",
      line: 5,
      added: ['  boot.initrd.kernelModules = [ "vfio_pci" ];', '  boot.kernelParams = [ "intel_iommu=on" ];'],
    });
    expect(diff[1]).toMatchObject({ file: "hosts.nix", line: 1 });
  });
});

describe("journal boots (journals written by the real journald / journal-remote)", () => {
  it("the kernel's command line names the generation (QEMU guest, real kmsg)", () => {
    const recs = parseJournalRecords(text("vm-captured/diag/good/boot0-kernel-head.stdout"));
    const c = findCommandLine(recs);
    expect(c?.value).toMatch(
      /init=\/nix\/store\/[0-9a-z]{32}-nixos-system-atlas-24\.11\.20250210\.3a2f1b4\/init/,
    );
    expect(c?.cursor).toMatch(/^s=[0-9a-f]{32};i=/);
    expect(initOf(c?.value ?? "")?.toplevel).toMatch(/-nixos-system-atlas-24\.11\.20250210\.3a2f1b4$/);
  });
  it("milestones of a clean boot, and of one that ended abruptly with a failed unit", () => {
    const good = milestones(parseJournalRecords(text("vm-captured/diag/good/boot0-milestones.stdout")));
    expect(good.multiUser?.value).toBe("Reached target Multi-User System.");
    expect(good.startupFinished?.value).toMatch(/^Startup finished/);
    expect(good.shutdown).not.toBeNull();
    const bad = milestones(parseJournalRecords(text("vm-captured/diag/failed/boot0-milestones.stdout")));
    expect(bad).toEqual({ multiUser: null, startupFinished: null, shutdown: null });
    const f = failedUnits(parseJournalRecords(text("vm-captured/diag/failed/boot0-failures.stdout")));
    expect(f.map((x) => [x.unit, x.count])).toEqual([["vfio-bind.service", 2]]);
  });
  it("the host-captured journal (journal-remote) and the older guest capture parse", () => {
    expect(parseJournalRecords(text("host-captured/journal/boot-last-json.stdout")).length).toBeGreaterThan(
      0,
    );
    const tail = parseJournalRecords(text("vm-captured/single/journalctl-json-tail.stdout"));
    expect(tail.some((r) => r.transport === "kernel")).toBe(true);
    expect(() => parseJournalRecords('{"MESSAGE":"x"}')).toThrow(ParseError);
  });
});

describe("git on an untrusted /etc/nixos (real git, hostile repository config)", () => {
  const git = spawnSync("git", ["--version"]).status === 0;
  it.skipIf(!git)("config that would run programs runs nothing; log/diff output parses", () => {
    const root = mkdtempSync(join(tmpdir(), "lifeboat-git-"));
    const repo = join(root, "nixos");
    const marker = join(root, "PWNED");
    const sh = (args: string[], date: string) =>
      execFileSync("git", ["-C", repo, "-c", "user.name=A", "-c", "user.email=a@b", ...args], {
        env: {
          ...process.env,
          GIT_CONFIG_NOSYSTEM: "1",
          GIT_CONFIG_GLOBAL: "/dev/null",
          GIT_COMMITTER_DATE: date,
          GIT_AUTHOR_DATE: date,
        },
      });
    mkdirSync(repo);
    sh(["init", "-q"], "2026-11-01T00:00:00Z");
    writeFileSync(join(repo, "configuration.nix"), "{ }\n");
    sh(["add", "-A"], "2026-11-01T00:00:00Z");
    sh(["commit", "-qm", "one"], "2026-11-01T00:00:00Z");
    writeFileSync(join(repo, "configuration.nix"), '{\n  boot.initrd.kernelModules = [ "vfio_pci" ];\n}\n');
    sh(["commit", "-qam", "two"], "2026-11-03T00:00:00Z");
    const evil = `!touch ${marker}`;
    writeFileSync(join(root, "outside.cfg"), `[core]\n\tpager = touch ${marker}\n`);
    appendFileSync(
      join(repo, ".git", "config"),
      `[core]\n\tfsmonitor = touch ${marker}\n\tpager = touch ${marker}\n\thooksPath = ${root}\n[diff]\n\texternal = touch ${marker}\n\tnoprefix = true\n[gpg]\n\tprogram = touch ${marker}\n[log]\n\tshowSignature = true\n[alias]\n\tlog = ${evil}\n[include]\n\tpath = ${join(root, "outside.cfg")}\n`,
    );
    const { env, args } = gitInvocation(join(repo, ".git"));
    const run = (a: string[]) =>
      execFileSync("git", [...args, ...a], { env: { ...process.env, ...env }, encoding: "utf8" });
    const log = parseGitLog(
      run([
        "log",
        "--no-color",
        "--no-show-signature",
        "--no-mailmap",
        "--since=2026-11-02T00:00:00Z",
        "--until=2026-11-04T00:00:00Z",
        "-n",
        "50",
        `--format=${GIT_LOG_FORMAT}`,
        "HEAD",
        "--",
      ]),
    );
    expect(log.map((c) => c.subject)).toEqual(["two"]);
    const a = run(["rev-list", "-n", "1", "--before=2026-11-02T00:00:00Z", "HEAD", "--"]).trim();
    const b = run(["rev-list", "-n", "1", "--before=2026-11-04T00:00:00Z", "HEAD", "--"]).trim();
    const diff = parseUnifiedDiff(
      run(["diff", "--unified=0", "--no-color", "--no-ext-diff", "--no-textconv", a, b, "--", "*.nix"]),
    );
    expect(diff[0]).toMatchObject({ file: "configuration.nix", line: 1 });
    expect(existsSync(marker)).toBe(false);
    // the same repository really is hostile: a plain `git diff` runs its diff.external
    spawnSync("git", ["--git-dir", join(repo, ".git"), "diff", a, b], {
      cwd: root, // diff.external is `touch` with git's arguments: it creates files where it runs
      env: { ...process.env, GIT_CONFIG_NOSYSTEM: "1", GIT_CONFIG_GLOBAL: "/dev/null" },
    });
    expect(existsSync(marker)).toBe(true);
  });
});

describe("mutated captures: data or a ParseError, never a crash or a hang", () => {
  let seed = 14;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const mutate = (b: Buffer) => {
    const c = Buffer.from(b);
    for (let k = 0; k < 1 + rnd(8); k++) c[rnd(c.length)] = rnd(256);
    return rnd(4) === 0 ? c.subarray(0, rnd(c.length)) : c;
  };
  it("initrd archives", () => {
    for (const f of ["scripted-zstd-ucode.initrd", "scripted-gzip.initrd", "systemd-zstd.initrd"])
      for (let i = 0; i < 300; i++) expect(Array.isArray(readInitrd(mutate(bytes(f))).modules)).toBe(true);
  });
  it("journal records, bootspec, git", () => {
    const inputs: [string, (t: string) => unknown][] = [
      [text("vm-captured/diag/good/boot0-milestones.stdout"), parseJournalRecords],
      [readFileSync(join(D, "GENERATED-boot-24.11.json"), "utf8"), parseBootspecDocument],
      [readFileSync(join(D, "git-log.stdout"), "utf8"), parseGitLog],
      [readFileSync(join(D, "git-diff-U0.stdout"), "utf8"), parseUnifiedDiff],
    ];
    for (const [t, parse] of inputs)
      for (let i = 0; i < 300; i++) {
        try {
          parse(mutate(Buffer.from(t)).toString("utf8"));
        } catch (err) {
          expect(err).toBeInstanceOf(ParseError);
        }
      }
  });
});
