import { inTarget, profileSwitchCommands } from "../core/chroot.js";
import { LifeboatError } from "../core/errors.js";
import { type EspEntryRefs, planEspFree } from "../core/espFree.js";
import {
  generationOfLink,
  kernelVersionOf,
  parseBootspec,
  parseKernelParams,
  parseSystemStorePath,
} from "../core/generations.js";
import { parseGrubCfg } from "../core/grub.js";
import { protectedParams, refuseProtected } from "../core/kernelParams.js";
import {
  editEntryOptions,
  generationOfEntry,
  parseBootEntry,
  parseLoaderConf,
  setLoaderDefault,
  validateKernelParam,
} from "../core/loader.js";
import type { ListEntry, RootFs } from "../system/rootfs.js";
import { espOf, type RescueContext, snapshotStamp } from "./context.js";
import type { JobManager, JobView } from "./jobs.js";

export interface Generation {
  number: number;
  current: boolean;
  bootDefault: boolean;
  date: string | null;
  storePath: string | null;
  nixosVersion: string | null;
  kernelVersion: string | null;
  kernelParams: string[];
  closurePresent: boolean;
  label: string | null;
}

export interface BootEntryView {
  id: string;
  file: string;
  /** As the boot menu shows it: "NixOS (Generation 3 NixOS 24.11…, Linux Kernel 6.6.69, Built on 2025-01-09)". */
  name: string;
  /** Parameters the system cannot boot without (init=, root=, zfs=): never removed. */
  protected: string[];
  title: string | null;
  version: string | null;
  linux: string | null;
  options: string[];
  generation: number | null;
  isDefault: boolean;
  hasBackup: boolean;
}

export interface BootView {
  loader: "systemd-boot" | "grub" | "unknown";
  esp: string | null;
  default: string | null;
  timeout: string | null;
  entries: BootEntryView[];
  notes: string[];
}

const PROFILES = "/nix/var/nix/profiles";

/**
 * An entry's name as systemd-boot's menu shows it: every NixOS entry is titled "NixOS", so the menu
 * adds the version line ("Generation 3 NixOS 24.11…, Linux Kernel 6.6.69, Built on 2025-01-09").
 */
export function menuName(
  title: string | null,
  version: string | null,
  generation: number | null,
  id: string,
): string {
  const t = title?.trim() || id;
  if (version?.trim()) return `${t} (${version.trim()})`;
  return generation !== null ? `${t} (Generation ${generation})` : `${t} (${id})`;
}
const BACKUP_SUFFIX = ".lifeboat-orig";
const ENTRY_ID = /^[A-Za-z0-9@%+=:,._-]{1,200}$/;
/** Caps for what is read from the disk: closure files, loader.conf, boot entries, grub.cfg. */
const MAX_SMALL = 64 * 1024;
const MAX_GRUB = 1024 * 1024;
const MAX_ENTRIES = 2_000;
/** A kernel or initrd copy on the ESP (read whole to keep its backup). */
const MAX_ESP_FILE = 256 * 1024 * 1024;

/** A LifeboatError's message (hostile or broken disk data), anything else rethrown. */
function diskProblem(err: unknown): string {
  if (err instanceof LifeboatError) return err.message;
  throw err;
}

/** Generations, boot entries and the fixes that need no rebuild. */
export class BootService {
  constructor(
    private readonly ctx: RescueContext,
    private readonly jobs: JobManager,
  ) {}

  async generations(): Promise<{ generations: Generation[]; profile: string | null; warnings: string[] }> {
    const m = await this.ctx.mounted();
    const files = m.installed.files;
    const warnings: string[] = [];
    const listing = await files.list(PROFILES, { max: MAX_ENTRIES });
    const currentLink = await files.readlink(`${PROFILES}/system`);
    const boot = await this.boot().catch((err: Error) => {
      this.ctx.log.warn(
        { err: err.message },
        "boot entries unreadable: no generation is marked as the boot default",
      );
      warnings.push(`boot entries unreadable: ${err.message}`);
      return null;
    });
    const defaultGen = boot?.entries.find((e) => e.isDefault)?.generation ?? null;
    const out: Generation[] = [];
    for (const entry of listing?.entries ?? []) {
      const n = generationOfLink(entry.name);
      if (n === null) continue;
      out.push(await this.generation(files, entry, n, currentLink, defaultGen, warnings));
    }
    out.sort((a, b) => b.number - a.number);
    return { generations: out, profile: currentLink, warnings };
  }

  private async generation(
    files: RootFs,
    entry: ListEntry,
    n: number,
    currentLink: string | null,
    defaultGen: number | null,
    warnings: string[],
  ): Promise<Generation> {
    const link = `${PROFILES}/${entry.name}`;
    const storePath = entry.kind === "link" ? await files.readlink(link) : null;
    // Closure files are read inside the root (store links re-rooted), capped, regular files only.
    const read = async (f: string) => {
      if (!storePath) return null;
      try {
        return await files.readText(`${storePath}/${f}`, { max: MAX_SMALL });
      } catch (err) {
        warnings.push(`generation ${n}: ${diskProblem(err)}`);
        return null;
      }
    };
    const closure = storePath ? await files.stat(storePath).catch((e) => void diskProblem(e)) : null;
    const present = closure?.kind === "dir";
    let label: string | null = null;
    let params = parseKernelParams((await read("kernel-params")) ?? "");
    const bootJson = await read("boot.json");
    if (bootJson) {
      try {
        const spec = parseBootspec(bootJson);
        label = spec.label;
        if (spec.kernelParams.length > 0) params = spec.kernelParams;
      } catch {
        label = null;
      }
    }
    const kernelTarget = storePath
      ? await files.readlink(`${storePath}/kernel`).catch((e) => void diskProblem(e))
      : null;
    return {
      number: n,
      current: currentLink === entry.name,
      bootDefault: defaultGen === n,
      date: new Date(entry.mtimeMs).toISOString(),
      storePath,
      nixosVersion:
        (await read("nixos-version"))?.trim() || (storePath ? parseSystemStorePath(storePath).version : null),
      kernelVersion: kernelTarget ? kernelVersionOf(kernelTarget) : null,
      kernelParams: params,
      closurePresent: present,
      label,
    };
  }

  async boot(): Promise<BootView> {
    const m = await this.ctx.mounted();
    const esp = espOf(this.ctx.root, m.mounts);
    const notes: string[] = [];
    const files = m.installed.files;
    const loaderConf = esp ? await files.readText(`${esp}/loader/loader.conf`, { max: MAX_SMALL }) : null;
    if (esp && loaderConf !== null) {
      const conf = parseLoaderConf(loaderConf);
      const listing = await files.list(`${esp}/loader/entries`, { max: MAX_ENTRIES });
      notes.push(...(listing?.skipped ?? []).map((s) => `boot entry ${s} skipped`));
      const entries: BootEntryView[] = [];
      for (const { name: file } of listing?.entries ?? []) {
        if (!file.endsWith(".conf")) continue;
        let text: string;
        try {
          text =
            (await files.readText(`${esp}/loader/entries/${file}`, { max: MAX_SMALL, follow: false })) ?? "";
        } catch (err) {
          notes.push(`boot entry ${file} skipped: ${diskProblem(err)}`);
          continue;
        }
        const e = parseBootEntry(text);
        const id = file.replace(/\.conf$/, "");
        entries.push({
          id,
          file,
          name: menuName(e.title, e.version, generationOfEntry(file), id),
          protected: protectedParams(e.options),
          title: e.title,
          version: e.version,
          linux: e.linux,
          options: e.options,
          generation: generationOfEntry(file),
          isDefault: conf.default === file || conf.default === file.replace(/\.conf$/, ""),
          hasBackup:
            (await files.stat(`${esp}/loader/entries/${file}${BACKUP_SUFFIX}`, { follow: false })) !== null,
        });
      }
      entries.sort((a, b) => (b.generation ?? -1) - (a.generation ?? -1) || a.id.localeCompare(b.id));
      if (conf.default && !entries.some((e) => e.isDefault))
        notes.push(
          `loader.conf default "${conf.default}" is a pattern or names no entry: systemd-boot picks by its own rules`,
        );
      return {
        loader: "systemd-boot",
        esp,
        default: conf.default,
        timeout: conf.timeout,
        entries,
        notes,
      };
    }
    const grub = await files.readText("/boot/grub/grub.cfg", { max: MAX_GRUB });
    if (grub !== null) {
      const cfg = parseGrubCfg(grub);
      notes.push("GRUB is shown read-only: change generations with a profile switch or a rebuild");
      return {
        loader: "grub",
        esp,
        default: cfg.default,
        timeout: cfg.timeout,
        entries: cfg.entries.map((e, i) => ({
          id: String(i),
          file: "grub.cfg",
          name: e.submenu ? `${e.submenu} › ${e.title}` : e.title,
          protected: protectedParams(e.options),
          title: e.submenu ? `${e.submenu} › ${e.title}` : e.title,
          version: null,
          linux: e.linux,
          options: e.options,
          generation: Number(/Configuration (\d+)/.exec(e.title)?.[1]) || null,
          isDefault: cfg.default === String(i) || cfg.default === e.title,
          hasBackup: false,
        })),
        notes,
      };
    }
    notes.push(
      esp
        ? `no loader/loader.conf on the ESP (${this.ctx.root}${esp})`
        : "no EFI system partition is mounted under the root",
    );
    return {
      loader: "unknown",
      esp,
      default: null,
      timeout: null,
      entries: [],
      notes,
    };
  }

  private async systemdBoot(): Promise<{ esp: string; view: BootView; files: RootFs }> {
    const m = await this.ctx.mounted();
    const view = await this.boot();
    if (view.loader !== "systemd-boot" || !view.esp)
      throw new LifeboatError("no-bootloader", `this needs systemd-boot; found ${view.loader}`, {
        notes: view.notes,
      });
    return { esp: view.esp, view, files: m.installed.files };
  }

  /**
   * Keep the first original of a file next to it (`<file>.lifeboat-orig`), created exclusively: an
   * existing backup (a regular file) is kept; a link, FIFO or device node there refuses the change.
   */
  private async keepOriginal(files: RootFs, path: string, text: string): Promise<string> {
    const r = await files.createNew(`${path}${BACKUP_SUFFIX}`, text);
    if (!r.created && r.existing !== "file")
      throw new LifeboatError(
        "unsafe-file",
        `${r.path}: is a ${r.existing} where the backup belongs; refused`,
        { path: r.path, found: r.existing },
      );
    return r.path;
  }

  /** Fast rollback without chroot: point loader.conf's default at the generation's entry. */
  async setDefault(generation: number, who: string) {
    const entryOf = (view: BootView) => {
      const entry = view.entries.find((e) => e.generation === generation && !e.id.includes("specialisation"));
      if (!entry)
        throw new LifeboatError("not-found", `no boot entry for generation ${generation}`, {
          generations: view.entries.map((e) => e.generation),
        });
      return entry;
    };
    // Already the default: nothing to write, no snapshot.
    const unchanged = async () => {
      const { esp, view } = await this.systemdBoot();
      const entry = entryOf(view);
      return entry.isDefault
        ? {
            loader: "systemd-boot",
            default: entry.file,
            previous: view.default,
            backup: `${esp}/loader/loader.conf${BACKUP_SUFFIX}`,
          }
        : null;
    };
    return this.ctx.change(
      "boot-default",
      `generation ${generation}`,
      who,
      async () => {
        const { esp, view, files } = await this.systemdBoot();
        const entry = entryOf(view);
        const path = `${esp}/loader/loader.conf`;
        const before = (await files.readText(path, { max: MAX_SMALL })) ?? "";
        const backup = await this.keepOriginal(files, path, before);
        await files.replace(path, setLoaderDefault(before, entry.file));
        return {
          loader: "systemd-boot",
          default: entry.file,
          previous: view.default,
          backup,
        };
      },
      { unchanged },
    );
  }

  /** The full rollback, as a job: switch the profile and reinstall the boot loader from it. */
  async switchProfile(generation: number, who: string): Promise<JobView> {
    const m = await this.ctx.writable();
    this.ctx.lock.assertFree(); // before the snapshot: nothing is done when busy
    const { generations } = await this.generations();
    const g = generations.find((x) => x.number === generation);
    if (!g) throw new LifeboatError("not-found", `no generation ${generation}`);
    if (!g.closurePresent)
      throw new LifeboatError(
        "not-found",
        `generation ${generation}'s closure is not in the store (garbage-collected)`,
      );
    const { snapshot, backup } = await this.ctx.safeguard(m, "profile-switch");
    // The installed system's own nix-env and switch-to-configuration (core/chroot.ts).
    const cmds = profileSwitchCommands(generation);
    const job = this.jobs.start(
      "profile-switch",
      `switch to generation ${generation}`,
      [
        { label: "switch profile", ...inTarget(this.ctx.root, cmds.switchProfile) },
        { label: "install boot entries", ...inTarget(this.ctx.root, cmds.installBoot) },
      ],
      who,
      async (say) =>
        say(
          snapshot
            ? `snapshot ${snapshot} taken before the change`
            : `not ZFS: no snapshot; boot state backed up to ${backup}`,
        ),
    );
    await this.ctx.audit.record({
      who,
      action: "profile-switch",
      target: `generation ${generation}`,
      result: "started",
      detail: { job: job.id, snapshot, backup },
    });
    return job;
  }

  async kernelParams(id: string, add: string[], remove: string[], who: string) {
    if (!ENTRY_ID.test(id)) throw new LifeboatError("validation-failed", "bad entry id");
    for (const p of [...add, ...remove]) validateKernelParam(p);
    if (add.length + remove.length === 0)
      throw new LifeboatError("validation-failed", "nothing to add or remove");
    const read = async () => {
      const { esp, view, files } = await this.systemdBoot();
      const entry = view.entries.find((e) => e.id === id);
      if (!entry)
        throw new LifeboatError("not-found", `no boot entry ${id}`, {
          entries: view.entries.map((e) => e.id),
        });
      const path = `${esp}/loader/entries/${entry.file}`;
      const text = (await files.readText(path, { max: MAX_SMALL, follow: false })) ?? "";
      refuseProtected(remove, entry.options);
      return { path, text, files, edit: editEntryOptions(text, add, remove) };
    };
    // Every parameter to add is there, none to remove is: nothing to write, no snapshot.
    const unchanged = async () => {
      const { path, text, edit } = await read();
      return edit.text === text
        ? {
            entry: id,
            before: edit.before,
            after: edit.after,
            changed: false,
            backup: `${path}${BACKUP_SUFFIX}`,
          }
        : null;
    };
    return this.ctx.change(
      "kernel-params",
      id,
      who,
      async () => {
        const { path, text, files, edit } = await read();
        const backup = await this.keepOriginal(files, path, text);
        if (edit.text !== text) await files.replace(path, edit.text, { follow: false });
        return {
          entry: id,
          before: edit.before,
          after: edit.after,
          changed: edit.text !== text,
          backup,
        };
      },
      { unchanged },
    );
  }

  /**
   * Free a full ESP: remove the boot entries of the given generations and the kernel/initrd copies
   * in EFI/nixos/ that no remaining entry uses. Never the boot default, never every entry. Each file
   * is copied to the installed root first (/var/lib/lifeboat/esp-removed/<time>/, after the
   * change's snapshot); a removal that fails puts back what was removed.
   */
  async freeEsp(generations: number[], who: string) {
    if (generations.length === 0) throw new LifeboatError("validation-failed", "no generation given");
    return this.ctx.change("esp-free", `generations ${generations.join(",")}`, who, async () => {
      const { esp, view, files } = await this.systemdBoot();
      const targets = view.entries.filter((e) => e.generation !== null && generations.includes(e.generation));
      const missing = generations.filter((g) => !targets.some((e) => e.generation === g));
      if (missing.length)
        throw new LifeboatError("not-found", `no boot entry for generation ${missing.join(", ")}`, {
          generations: view.entries.map((e) => e.generation),
        });
      const def = targets.find((e) => e.isDefault);
      if (def) throw new LifeboatError("validation-failed", `${def.id} is the boot default: not removed`);
      if (targets.length >= view.entries.length)
        throw new LifeboatError("validation-failed", "that would remove every boot entry");
      const refs: EspEntryRefs[] = [];
      for (const e of view.entries) {
        const text =
          (await files.readText(`${esp}/loader/entries/${e.file}`, { max: MAX_SMALL, follow: false })) ?? "";
        const b = parseBootEntry(text);
        refs.push({ file: e.file, paths: [...(b.linux ? [b.linux] : []), ...b.initrd] });
      }
      const plan = planEspFree(refs, new Set(targets.map((e) => e.file)));
      const paths = [...plan.entries.map((f) => `loader/entries/${f}`), ...plan.files];
      const backupDir = await files.mkdirs(`/var/lib/lifeboat/esp-removed/${snapshotStamp()}`);
      // one file in memory at a time: the copy on the installed root is what a failure restores from
      const saved: { path: string; backup: string; size: number }[] = [];
      for (const rel of paths) {
        const data = await files.readFile(`${esp}/${rel}`, { max: MAX_ESP_FILE, follow: false });
        if (data === null) continue;
        const r = await files.createNew(`${backupDir}/${rel.replace(/\//g, "_")}`, data);
        if (!r.created) throw new LifeboatError("unsafe-file", `${r.path}: exists; refused`);
        saved.push({ path: rel, backup: r.path, size: data.length });
      }
      const removed: typeof saved = [];
      try {
        for (const f of saved) if (await files.remove(`${esp}/${f.path}`)) removed.push(f);
      } catch (err) {
        for (const f of removed) {
          const data = await files.readFile(f.backup, { max: MAX_ESP_FILE }).catch(() => null);
          if (data) await files.createNew(`${esp}/${f.path}`, data).catch(() => undefined);
        }
        throw new LifeboatError(
          "file-failed",
          `removing ${esp} files failed, put back what was removed: ${(err as Error).message}`,
        );
      }
      return {
        removed: removed.map((f) => `${esp}/${f.path}`),
        freedBytes: removed.reduce((n, f) => n + f.size, 0),
        backup: backupDir,
      };
    });
  }

  async revert(id: string, who: string) {
    if (!ENTRY_ID.test(id)) throw new LifeboatError("validation-failed", "bad entry id");
    return this.ctx.change("kernel-params-revert", id, who, async () => {
      const { esp, files } = await this.systemdBoot();
      const path = `${esp}/loader/entries/${id}.conf`;
      const backup = await files.readText(`${path}${BACKUP_SUFFIX}`, { max: MAX_SMALL, follow: false });
      if (backup === null)
        throw new LifeboatError("not-found", `no backup of entry ${id}: nothing to revert`);
      await files.replace(path, backup, { follow: false });
      await files.remove(`${path}${BACKUP_SUFFIX}`);
      return { entry: id, restored: true, options: parseBootEntry(backup).options };
    });
  }
}
