import { parseBootspecDocument } from "../core/bootspec.js";
import { isUnitName, parseStoreName } from "../core/closure.js";
import type { ConsoleFacts } from "../core/consoleLog.js";
import {
  type BootFacts,
  type DeviceFacts,
  type Diagnosis,
  type DiagnosisInput,
  diagnose,
  type GenerationFacts,
  type InitrdFacts,
  type JournalFacts,
  type SpaceFacts,
} from "../core/diagnosis.js";
import { LifeboatError } from "../core/errors.js";
import { decodeHostIdFile } from "../core/hostid.js";
import { parseListBoots } from "../core/journal.js";
import {
  failedUnits,
  failureMatches,
  findCommandLine,
  type JournalRecord,
  type Located,
  MESSAGE_ID,
  milestoneMatches,
  milestones,
  parseJournalRecords,
} from "../core/journalBoots.js";
import { parseBootEntry } from "../core/loader.js";
import type { BlockDevice } from "../core/lsblk.js";
import type { RootFs } from "../system/rootfs.js";
import type { BootService } from "./boot.js";
import type { MountedRoot, RescueContext } from "./context.js";
import { gitHistory } from "./gitHistory.js";
import { type JournalDir, JournalReader } from "./journal.js";
import type { ConfigService } from "./nixconfig.js";
import type { SpaceService } from "./space.js";
import { underEsp } from "./underEsp.js";

const EXAMINED_BOOTS = 8;
const MAX_INITRD = 256 * 1024 * 1024;
const MAX_CONFIG_FILES = 60;
const MAX_CONFIG_BYTES = 256 * 1024;
const FIELDS =
  "--output-fields=MESSAGE,MESSAGE_ID,UNIT,_SYSTEMD_UNIT,PRIORITY,_TRANSPORT,SYSLOG_IDENTIFIER,_BOOT_ID";

/**
 * The installed system's files as the diagnosis reads them, through the confined door
 * (system/rootfs.ts): every path resolved inside the root, no link followed out of it, only regular
 * files read and only up to a size cap; device nodes and FIFOs are refused, never opened.
 */
class InstalledFiles {
  private readonly fs: RootFs;
  constructor(m: MountedRoot) {
    this.fs = m.installed.files;
  }
  async list(path: string): Promise<string[] | null> {
    return (await this.fs.list(path))?.entries.map((e) => e.name) ?? null;
  }
  link(path: string): Promise<string | null> {
    return this.fs.readlink(path);
  }
  async stat(path: string, followLast = true): Promise<{ type: string; size: number } | null> {
    const e = await this.fs.stat(path, { follow: followLast });
    return e ? { type: e.kind, size: e.size } : null;
  }
  bytes(path: string, max: number): Promise<Buffer | null> {
    return this.fs.readFile(path, { max });
  }
  async text(path: string, max = 1024 * 1024): Promise<string | null> {
    return (await this.bytes(path, max))?.toString("utf8") ?? null;
  }
}

/** GET /v1/diagnosis: which generation last booted, what changed since, which fix fits. Read-only. */
export class DiagnosisService {
  /** The journal is read by the same confined, jailed path as GET /v1/journal. */
  private readonly reader: JournalReader;
  /** The operator's console capture of a failed boot, as read (never the text itself). */
  console: ConsoleFacts | null = null;
  constructor(
    private readonly ctx: RescueContext,
    private readonly boot: BootService,
    private readonly config: ConfigService,
    private readonly space?: SpaceService,
  ) {
    this.reader = new JournalReader(ctx);
  }

  async diagnose(): Promise<Diagnosis> {
    const m = await this.ctx.mounted();
    const files = new InstalledFiles(m);
    const [{ generations }, bootView, journal, snapshots, configFiles] = await Promise.all([
      this.boot.generations(),
      this.boot.boot().catch(() => null),
      this.journal(files),
      this.snapshots(m),
      this.configFiles(),
    ]);
    const devices = await this.devices();
    const esp = bootView?.esp ? `${bootView.esp}` : null;
    const gens: GenerationFacts[] = [];
    for (const g of generations) {
      const entry = bootView?.entries.find(
        (e) => e.generation === g.number && !e.id.includes("specialisation"),
      );
      gens.push({
        number: g.number,
        date: g.date,
        toplevel: g.storePath,
        closurePresent: g.closurePresent,
        current: g.current,
        bootDefault: g.bootDefault,
        nixosVersion: g.nixosVersion,
        kernelVersion: g.kernelVersion,
        kernelParams: g.kernelParams,
        specialisations:
          g.closurePresent && g.storePath ? await this.specialisations(files, g.storePath) : [],
        bootEntry: bootView?.loader === "systemd-boot" && entry ? entry.id : null,
        initrd: { path: null, info: null, note: null },
        units: null,
        packages: null,
      });
    }
    // A generation whose profile link is gone (nix-collect-garbage --delete-older-than removes the
    // link, then the store paths) still has its systemd-boot entry until the next rebuild: the entry
    // names its toplevel (init=), which is what a boot of it shows, so it stays a generation here.
    for (const e of bootView?.loader === "systemd-boot" ? bootView.entries : []) {
      if (e.generation === null || e.id.includes("specialisation")) continue;
      if (gens.some((g) => g.number === e.generation)) continue;
      const init = e.options.find((o) => o.startsWith("init="))?.slice(5) ?? "";
      const toplevel = /^(\/nix\/store\/[0-9a-z]{32}-[^/]+)\/init$/.exec(init)?.[1] ?? null;
      if (!toplevel) continue;
      const present = (await files.stat(toplevel, false).catch(() => null))?.type === "dir";
      gens.push({
        number: e.generation,
        date: null,
        toplevel,
        closurePresent: present,
        current: false,
        bootDefault: e.isDefault,
        nixosVersion: null,
        kernelVersion: null,
        kernelParams: e.options,
        specialisations: [],
        bootEntry: e.id,
        initrd: { path: null, info: null, note: null },
        units: null,
        packages: null,
        profileLink: false,
      });
    }
    gens.sort((a, b) => b.number - a.number);
    const input: DiagnosisInput = {
      journal: journal.facts,
      boots: journal.boots,
      generations: gens,
      loader: bootView?.loader ?? "unknown",
      snapshots,
      configFiles,
      git: { state: "no-repository", detail: null, commits: [], changes: [] },
      devices,
      poolLabel: m.pool ? this.ctx.detection.labels.first(m.pool) : null,
      console: this.console,
    };
    // First pass: which two generations to compare; then read only those two closures.
    const first = diagnose(input);
    const pair = [first.lastGood, first.firstBad].filter((n): n is number => n !== null);
    for (const n of pair) {
      const g = gens.find((x) => x.number === n) as GenerationFacts;
      const entryFile = bootView?.entries.find((e) => e.id === g.bootEntry)?.file ?? null;
      g.initrd = await this.initrd(
        files,
        g,
        esp && entryFile ? `${esp}/loader/entries/${entryFile}` : null,
        esp,
      );
      if (g.closurePresent && g.toplevel) {
        g.units = await this.units(files, g.toplevel);
        g.packages = await this.packages(files, g.toplevel);
      }
    }
    // the failure classes read the fstab of the last good generation and of the bad ones
    const def = gens.find((g) => g.bootDefault)?.number ?? null;
    for (const n of [...new Set([first.lastGood, ...first.bad, def])]
      .filter((x): x is number => x !== null)
      .slice(0, 11)) {
      const g = gens.find((x) => x.number === n);
      if (g) {
        g.fstab = await this.fstab(files, g);
        g.hostid = await this.hostid(files, g);
      }
    }
    // a generation without a boot-loader entry: what its installation left on the root file system
    // under the ESP's mount point (hidden by the mounted ESP), read in a read-only view of the root alone
    const unentered = first.bad.some((n) => {
      const g = gens.find((x) => x.number === n);
      return g !== undefined && g.bootEntry === null && gens.some((x) => x.bootEntry !== null);
    });
    if (esp && unentered && input.loader === "systemd-boot")
      input.underEsp = await underEsp(this.ctx.sys, this.ctx.root, esp);
    if (first.lastGood !== null && first.firstBad !== null) {
      const good = gens.find((x) => x.number === first.lastGood);
      const bad = gens.find((x) => x.number === first.firstBad);
      input.git = await gitHistory(this.ctx.sys, m.installed.files, good?.date ?? null, bad?.date ?? null);
    }
    input.space = await this.poolSpace(m, first);
    const d = diagnose(input);
    if (input.git.state !== "ok" && input.git.state !== "no-repository" && input.git.detail)
      d.notes.push(`/etc/nixos git history: ${input.git.detail}`);
    return d;
  }

  // ------------------------------------------------------------------------------------ journal

  private async journal(files: InstalledFiles): Promise<{ facts: JournalFacts; boots: BootFacts[] }> {
    const none = (state: JournalFacts["state"], dir: string | null, detail: string | null) => ({
      facts: { state, dir, detail, bootsTotal: 0, bootsExamined: 0, firstEntry: null },
      boots: [],
    });
    let dir: JournalDir | null;
    try {
      dir = await this.reader.locate();
    } catch (err) {
      return none("unreadable", "/var/log/journal", (err as Error).message);
    }
    const shown = dir?.shown ?? null;
    if (!dir) {
      const conf = await files.text("/etc/systemd/journald.conf").catch(() => null);
      const storage = conf ? /^\s*Storage\s*=\s*(\S+)/m.exec(conf)?.[1] : undefined;
      if (storage === "volatile" || storage === "none")
        return none("volatile", null, `Storage=${storage} in /etc/systemd/journald.conf`);
      return none(
        "missing",
        "/var/log/journal",
        "no /var/log/journal (nor a persisted copy): logs lived in memory, or /var/log is not persisted",
      );
    }
    const r = await this.reader.run(dir, ["--list-boots", "-o", "json", "--no-pager"]);
    if (r.notFound) return none("unreadable", shown, "journalctl is not available on the rescue system");
    if (r.exitCode !== 0) {
      if (/No journal files were found/i.test(r.stderr)) return none("empty", shown, null);
      return none("unreadable", shown, r.stderr.trim().split("\n")[0] ?? `exit ${r.exitCode}`);
    }
    let list: ReturnType<typeof parseListBoots>;
    try {
      list = parseListBoots(r.stdout);
    } catch (err) {
      return none("unreadable", shown, (err as Error).message);
    }
    if (list.length === 0) return none("empty", shown, null);
    const newest = [...list].sort((a, b) => b.index - a.index).slice(0, EXAMINED_BOOTS);
    const boots: BootFacts[] = [];
    for (const b of newest) boots.push(await this.bootFacts(dir, b));
    const firstEntry =
      list
        .map((b) => b.first)
        .filter((x): x is string => x !== null)
        .sort()[0] ?? null;
    return {
      facts: {
        state: "ok",
        dir: shown,
        detail: null,
        bootsTotal: list.length,
        bootsExamined: boots.length,
        firstEntry,
      },
      boots,
    };
  }

  /** Up to `max` records of a journalctl query, stopping early (a boot's journal can be large). */
  private async records(
    dir: JournalDir,
    args: string[],
    max: number,
    stop?: (r: JournalRecord) => boolean,
  ): Promise<JournalRecord[]> {
    const p = this.reader.spawn(dir, args);
    const lines: string[] = [];
    let done = false;
    p.onLine((l) => {
      if (l.stream !== "stdout" || done) return;
      lines.push(l.text);
      let hit = false;
      if (stop) {
        try {
          hit = parseJournalRecords(l.text).some(stop);
        } catch {
          hit = false;
        }
      }
      if (lines.length >= max || hit) {
        done = true;
        p.kill("SIGTERM");
      }
    });
    await p.done;
    try {
      return parseJournalRecords(lines.join("\n"));
    } catch {
      // a line cut by the kill: keep what parses
      return lines.flatMap((l) => {
        try {
          return parseJournalRecords(l);
        } catch {
          return [];
        }
      });
    }
  }

  private async bootFacts(
    dir: JournalDir,
    b: { index: number; bootId: string; first: string | null; last: string | null },
  ): Promise<BootFacts> {
    const base = ["-b", b.bootId, "-o", "json", "--no-pager", FIELDS];
    const kernel = await this.records(dir, [...base, "_TRANSPORT=kernel"], 300, (r) =>
      /^(?:Kernel )?[Cc]ommand line: /.test(r.message),
    );
    const steps = await this.records(dir, [...base, ...milestoneMatches()], 60);
    const fails = await this.records(dir, [...base, ...failureMatches()], 100);
    const errs = await this.records(dir, [...base, "-p", "3", "-n", "10", "_TRANSPORT=kernel"], 10);
    const tail = await this.records(dir, [...base, "-n", "1"], 1);
    const at = (r: JournalRecord): Located<string> => ({ value: r.message, cursor: r.cursor, time: r.time });
    return {
      bootId: b.bootId,
      index: b.index,
      first: b.first,
      last: b.last,
      cmdline: findCommandLine(kernel),
      milestones: milestones(steps),
      failedUnits: failedUnits(fails),
      kernelErrors: errs.map(at),
      lastEntry: tail[0] ? at(tail[0]) : null,
      notable: await this.notable(
        dir,
        base,
        failedUnits(fails).map((f) => f.unit),
      ),
    };
  }

  /**
   * What the failure classes read of a boot (core/diagnosis/classes/): its warnings and errors; sshd's
   * own lines (logins accepted and refused; sshd-session since OpenSSH 9.8) and emergency/rescue
   * targets reached; the kernel's interface renames (`-g` needs journalctl built with PCRE2, as
   * NixOS's is: without it that query yields nothing) and the connections its firewall refused; the
   * last lines of each failed service.
   */
  private async notable(dir: JournalDir, base: string[], failed: string[]): Promise<JournalRecord[]> {
    const errors = await this.records(dir, [...base, "-p", "4"], 300);
    const logins = await this.records(
      dir,
      [
        ...base,
        "SYSLOG_IDENTIFIER=sshd",
        "SYSLOG_IDENTIFIER=sshd-session",
        "+",
        `MESSAGE_ID=${MESSAGE_ID.unitStarted}`,
        ...["emergency.target", "emergency.service", "rescue.target", "rescue.service"].map(
          (u) => `UNIT=${u}`,
        ),
      ],
      300,
    );
    const renames = await this.records(dir, [...base, "_TRANSPORT=kernel", "-g", "renamed from"], 50);
    // what systemd said of the ESP's mount unit (unmounted, failed: a boot loader installed meanwhile missed it)
    const esp = await this.records(
      dir,
      [...base, "UNIT=boot.mount", "UNIT=efi.mount", "UNIT=boot-efi.mount"],
      40,
    );
    // connections the NixOS firewall refused (its LOG prefix; priority info)
    const refused = await this.records(
      dir,
      [...base, "_TRANSPORT=kernel", "-g", "^refused connection: "],
      100,
    );
    // the last lines a failed service printed (its stdout/stderr are priority info)
    const tails: JournalRecord[] = [];
    for (const u of failed.filter((x) => x.endsWith(".service")).slice(0, 4))
      tails.push(...(await this.records(dir, [...base, `_SYSTEMD_UNIT=${u}`, "-n", "12"], 12)));
    const seen = new Set<string>();
    return [...errors, ...logins, ...renames, ...esp, ...refused, ...tails].filter(
      (r) => !seen.has(r.cursor) && seen.add(r.cursor),
    );
  }

  // ------------------------------------------------------------------------------------ closures

  private async specialisations(files: InstalledFiles, toplevel: string): Promise<string[]> {
    const names = (await files.list(`${toplevel}/specialisation`).catch(() => null)) ?? [];
    const out: string[] = [];
    for (const n of names.slice(0, 50)) {
      const t = await files.link(`${toplevel}/specialisation/${n}`).catch(() => null);
      if (t?.startsWith("/nix/store/")) out.push(t.replace(/\/+$/, ""));
    }
    return out;
  }

  /** The generation's initrd: bootspec/toplevel link in the store, else the copy its boot entry names on the ESP. */
  private async initrd(
    files: InstalledFiles,
    g: GenerationFacts,
    entryPath: string | null,
    esp: string | null,
  ): Promise<InitrdFacts> {
    const candidates: string[] = [];
    if (g.closurePresent && g.toplevel) {
      const spec = await files.text(`${g.toplevel}/boot.json`).catch(() => null);
      let fromSpec: string | null = null;
      try {
        fromSpec = spec ? parseBootspecDocument(spec).initrd : null;
      } catch {
        fromSpec = null;
      }
      const link = await files.link(`${g.toplevel}/initrd`).catch(() => null);
      for (const c of [fromSpec, link]) if (c && !candidates.includes(c)) candidates.push(c);
    }
    if (entryPath && esp) {
      const entry = await files.text(entryPath).catch(() => null);
      const first = entry ? parseBootEntry(entry).initrd[0] : undefined;
      if (first) candidates.push(`${esp}/${first.replace(/^\/+/, "")}`);
    }
    if (candidates.length === 0)
      return {
        path: null,
        info: null,
        note: "no initrd found (closure garbage-collected and no boot entry)",
      };
    for (const c of candidates) {
      let buf: Buffer | null;
      try {
        buf = await files.bytes(c, MAX_INITRD);
      } catch (err) {
        return { path: c, info: null, note: (err as Error).message };
      }
      if (!buf) continue;
      try {
        return { path: c, info: await this.ctx.sys.decodeInitrd(buf), note: null };
      } catch (err) {
        const code = err instanceof LifeboatError ? ` (${err.code})` : "";
        return { path: c, info: null, note: `unreadable initrd${code}: ${(err as Error).message}` };
      }
    }
    return { path: candidates[0] ?? null, info: null, note: "the initrd file is missing" };
  }

  private async units(files: InstalledFiles, toplevel: string): Promise<Map<string, string> | null> {
    const dir = `${toplevel}/etc/systemd/system`;
    const names = await files.list(dir).catch(() => null);
    if (!names) return null;
    const out = new Map<string, string>();
    for (const n of names.filter(isUnitName).slice(0, 3000)) {
      const t = await files.link(`${dir}/${n}`).catch(() => null);
      out.set(n, t ?? "");
    }
    return out;
  }

  /** Store paths the toplevel links to, and those its `sw` profile (environment.systemPackages) links into. */
  private async packages(files: InstalledFiles, toplevel: string): Promise<string[] | null> {
    const names = await files.list(toplevel).catch(() => null);
    if (!names) return null;
    const out = new Set<string>();
    const add = (t: string | null) => {
      const s = t ? parseStoreName(t) : null;
      if (s) out.add(s.path);
    };
    for (const n of names.slice(0, 200)) add(await files.link(`${toplevel}/${n}`).catch(() => null));
    let budget = 4000;
    for (const sub of ["bin", "sbin", "lib", "share", "libexec"]) {
      const top = await files.link(`${toplevel}/sw/${sub}`).catch(() => null);
      if (top) {
        add(top);
        continue;
      }
      const entries = (await files.list(`${toplevel}/sw/${sub}`).catch(() => null)) ?? [];
      for (const e of entries) {
        if (--budget < 0) break;
        add(await files.link(`${toplevel}/sw/${sub}/${e}`).catch(() => null));
      }
    }
    return [...out];
  }

  // ------------------------------------------------------------------------------------ the rest

  /** The block devices the rescue system sees (detection's lsblk + blkid), flattened. */
  private async devices(): Promise<DeviceFacts[] | null> {
    try {
      const d = await this.ctx.detection.current();
      const out: DeviceFacts[] = [];
      const walk = (xs: BlockDevice[]) => {
        for (const x of xs) {
          out.push({
            path: x.path,
            fstype: x.fstype,
            uuid: x.uuid,
            label: x.label,
            partuuid: x.partuuid,
            partlabel: x.partlabel,
          });
          walk(x.children ?? []);
        }
      };
      walk(d.devices);
      return out;
    } catch {
      return null;
    }
  }

  /** The generation's etc/hostid (networking.hostId: 4 bytes, host byte order). */
  private async hostid(files: InstalledFiles, g: GenerationFacts): Promise<string | null> {
    if (!g.closurePresent || !g.toplevel) return null;
    const b = await files.bytes(`${g.toplevel}/etc/hostid`, 64).catch(() => null);
    try {
      return b && b.length === 4 ? decodeHostIdFile(b) : null;
    } catch {
      return null;
    }
  }

  /** The generation's etc/fstab (through its etc link, as systemd and stage 1 read it). */
  private async fstab(files: InstalledFiles, g: GenerationFacts): Promise<string | null> {
    if (!g.closurePresent || !g.toplevel) return null;
    return files.text(`${g.toplevel}/etc/fstab`, 256 * 1024).catch(() => null);
  }

  /** The root pool's space, with ZFS's dry-run figures for the snapshots no proposal relies on. */
  private async poolSpace(m: MountedRoot, first: Diagnosis): Promise<SpaceFacts | null> {
    if (!m.pool || !this.space) return null;
    const pins = new Map<string, string>();
    for (const p of first.proposals)
      if (p.kind === "snapshot-rollback")
        for (const e of p.evidence) if (e.kind === "snapshot") pins.set(e.ref, `${p.id} rolls back to it`);
    try {
      const v = await this.space.view(m.pool, pins, { whenFullOnly: true });
      return {
        pool: v.pool,
        avail: v.avail,
        used: v.used,
        usedBySnapshots: v.usedBySnapshots,
        snapshots: v.snapshots.map((x) => ({
          snapshot: x.snapshot,
          created: x.created,
          used: x.used,
          kept: x.kept,
          freesWithOlder: x.freesWithOlder,
        })),
      };
    } catch {
      return null;
    }
  }

  private async snapshots(m: MountedRoot): Promise<{ snapshot: string; created: string | null }[] | null> {
    if (!m.pool) return null;
    try {
      return (await this.ctx.listSnapshots(m.pool, { own: true }))
        .filter((s) => s.dataset === m.pool)
        .map((s) => ({
          snapshot: s.snapshot,
          created: /^\d+$/.test(s.created) ? new Date(Number(s.created) * 1000).toISOString() : null,
        }));
    } catch {
      return null;
    }
  }

  private async configFiles(): Promise<{ path: string; text: string; etag: string }[]> {
    try {
      const tree = await this.config.tree();
      const out: { path: string; text: string; etag: string }[] = [];
      for (const f of tree.files
        .filter((x) => x.path.endsWith(".nix") && x.size <= MAX_CONFIG_BYTES)
        .slice(0, MAX_CONFIG_FILES)) {
        const r = await this.config.read(f.path);
        out.push({ path: f.path, text: r.content, etag: r.etag });
      }
      return out;
    } catch {
      return [];
    }
  }
}
