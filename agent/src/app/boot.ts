import { inTarget, profileSwitchCommands } from "../core/chroot.js";
import { LifeboatError } from "../core/errors.js";
import {
  generationOfLink,
  kernelVersionOf,
  parseBootspec,
  parseKernelParams,
  parseSystemStorePath,
} from "../core/generations.js";
import { parseGrubCfg } from "../core/grub.js";
import {
  editEntryOptions,
  generationOfEntry,
  parseBootEntry,
  parseLoaderConf,
  setLoaderDefault,
  validateKernelParam,
} from "../core/loader.js";
import type { RescueContext } from "./context.js";
import type { InstalledSystem } from "./installed.js";
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
const BACKUP_SUFFIX = ".lifeboat-orig";
const ENTRY_ID = /^[A-Za-z0-9@%+=:,._-]{1,200}$/;

/** Host path of the mounted ESP (vfat at /boot, /efi or /boot/efi under the root). */
function espOf(ctx: RescueContext, mounts: { target: string; fstype: string }[]): string | null {
  for (const p of ["/boot", "/efi", "/boot/efi"]) {
    const m = mounts.find((x) => x.target === `${ctx.root}${p}` && x.fstype === "vfat");
    if (m) return m.target;
  }
  return null;
}

/** Generations, boot entries and the fixes that need no rebuild. */
export class BootService {
  constructor(
    private readonly ctx: RescueContext,
    private readonly jobs: JobManager,
  ) {}

  async generations(): Promise<{ generations: Generation[]; profile: string | null }> {
    const m = await this.ctx.mounted();
    const inst = m.installed;
    const dir = await inst.resolve(PROFILES);
    const names = (await this.ctx.sys.readdir(dir)) ?? [];
    const currentLink = await this.ctx.sys.readlink(`${dir}/system`);
    const boot = await this.boot().catch((err: Error) => {
      this.ctx.log.warn(
        { err: err.message },
        "boot entries unreadable: no generation is marked as the boot default",
      );
      return null;
    });
    const defaultGen = boot?.entries.find((e) => e.isDefault)?.generation ?? null;
    const out: Generation[] = [];
    for (const name of names) {
      const n = generationOfLink(name);
      if (n === null) continue;
      out.push(await this.generation(inst, dir, name, n, currentLink, defaultGen));
    }
    out.sort((a, b) => b.number - a.number);
    return { generations: out, profile: currentLink };
  }

  private async generation(
    inst: InstalledSystem,
    dir: string,
    name: string,
    n: number,
    currentLink: string | null,
    defaultGen: number | null,
  ): Promise<Generation> {
    const sys = this.ctx.sys;
    const storePath = await sys.readlink(`${dir}/${name}`);
    const info = await sys.lstat(`${dir}/${name}`);
    const closure = storePath ? await inst.resolve(storePath) : null;
    const present = closure ? (await sys.lstat(closure))?.type === "dir" : false;
    const read = async (f: string) =>
      closure ? ((await sys.readFile(`${closure}/${f}`))?.toString("utf8") ?? null) : null;
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
    const kernelTarget = closure ? await sys.readlink(`${closure}/kernel`) : null;
    return {
      number: n,
      current: currentLink === name,
      bootDefault: defaultGen === n,
      date: info ? new Date(info.mtimeMs).toISOString() : null,
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
    const esp = espOf(this.ctx, m.mounts);
    const notes: string[] = [];
    const sys = this.ctx.sys;
    const loaderConf = esp ? await sys.readFile(`${esp}/loader/loader.conf`) : null;
    if (esp && loaderConf) {
      const conf = parseLoaderConf(loaderConf.toString("utf8"));
      const files = ((await sys.readdir(`${esp}/loader/entries`)) ?? []).filter((f) => f.endsWith(".conf"));
      const entries: BootEntryView[] = [];
      for (const file of files) {
        const text = (await sys.readFile(`${esp}/loader/entries/${file}`))?.toString("utf8") ?? "";
        const e = parseBootEntry(text);
        entries.push({
          id: file.replace(/\.conf$/, ""),
          file,
          title: e.title,
          version: e.version,
          linux: e.linux,
          options: e.options,
          generation: generationOfEntry(file),
          isDefault: conf.default === file || conf.default === file.replace(/\.conf$/, ""),
          hasBackup: (await sys.lstat(`${esp}/loader/entries/${file}${BACKUP_SUFFIX}`)) !== null,
        });
      }
      entries.sort((a, b) => (b.generation ?? -1) - (a.generation ?? -1) || a.id.localeCompare(b.id));
      if (conf.default && !entries.some((e) => e.isDefault))
        notes.push(
          `loader.conf default "${conf.default}" is a pattern or names no entry: systemd-boot picks by its own rules`,
        );
      return {
        loader: "systemd-boot",
        esp: esp.slice(this.ctx.root.length),
        default: conf.default,
        timeout: conf.timeout,
        entries,
        notes,
      };
    }
    const grub = await m.installed.readText("/boot/grub/grub.cfg");
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
      esp ? `no loader/loader.conf on the ESP (${esp})` : "no EFI system partition is mounted under the root",
    );
    return {
      loader: "unknown",
      esp: esp ? esp.slice(this.ctx.root.length) : null,
      default: null,
      timeout: null,
      entries: [],
      notes,
    };
  }

  private async systemdBoot(): Promise<{ esp: string; view: BootView }> {
    const view = await this.boot();
    if (view.loader !== "systemd-boot" || !view.esp)
      throw new LifeboatError("no-bootloader", `this needs systemd-boot; found ${view.loader}`, {
        notes: view.notes,
      });
    return { esp: `${this.ctx.root}${view.esp}`, view };
  }

  /** Fast rollback without chroot: point loader.conf's default at the generation's entry. */
  async setDefault(generation: number, who: string) {
    return this.ctx.change("boot-default", `generation ${generation}`, who, async () => {
      const { esp, view } = await this.systemdBoot();
      const entry = view.entries.find((e) => e.generation === generation && !e.id.includes("specialisation"));
      if (!entry)
        throw new LifeboatError("not-found", `no boot entry for generation ${generation}`, {
          generations: view.entries.map((e) => e.generation),
        });
      const path = `${esp}/loader/loader.conf`;
      const before = (await this.ctx.sys.readFile(path))?.toString("utf8") ?? "";
      const backup = `${path}${BACKUP_SUFFIX}`;
      if (!(await this.ctx.sys.lstat(backup))) await this.ctx.sys.writeFile(backup, before, 0o644);
      await this.ctx.atomicWrite(path, setLoaderDefault(before, entry.file));
      return {
        loader: "systemd-boot",
        default: entry.file,
        previous: view.default,
        backup: backup.slice(this.ctx.root.length),
      };
    });
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
    const snapshot = await this.ctx.snapshot(m.pool);
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
      async (say) => say(snapshot ? `snapshot ${snapshot} taken before the change` : "not ZFS: no snapshot"),
    );
    await this.ctx.audit.record({
      who,
      action: "profile-switch",
      target: `generation ${generation}`,
      result: "started",
      detail: { job: job.id, snapshot },
    });
    return job;
  }

  async kernelParams(id: string, add: string[], remove: string[], who: string) {
    if (!ENTRY_ID.test(id)) throw new LifeboatError("validation-failed", "bad entry id");
    for (const p of [...add, ...remove]) validateKernelParam(p);
    if (add.length + remove.length === 0)
      throw new LifeboatError("validation-failed", "nothing to add or remove");
    return this.ctx.change("kernel-params", id, who, async () => {
      const { esp, view } = await this.systemdBoot();
      const entry = view.entries.find((e) => e.id === id);
      if (!entry)
        throw new LifeboatError("not-found", `no boot entry ${id}`, {
          entries: view.entries.map((e) => e.id),
        });
      const path = `${esp}/loader/entries/${entry.file}`;
      const text = (await this.ctx.sys.readFile(path))?.toString("utf8") ?? "";
      const edit = editEntryOptions(text, add, remove);
      const backup = `${path}${BACKUP_SUFFIX}`;
      if (!(await this.ctx.sys.lstat(backup))) await this.ctx.sys.writeFile(backup, text, 0o644);
      if (edit.text !== text) await this.ctx.atomicWrite(path, edit.text);
      return {
        entry: id,
        before: edit.before,
        after: edit.after,
        changed: edit.text !== text,
        backup: backup.slice(this.ctx.root.length),
      };
    });
  }

  async revert(id: string, who: string) {
    if (!ENTRY_ID.test(id)) throw new LifeboatError("validation-failed", "bad entry id");
    return this.ctx.change("kernel-params-revert", id, who, async () => {
      const { esp } = await this.systemdBoot();
      const path = `${esp}/loader/entries/${id}.conf`;
      const backup = await this.ctx.sys.readFile(`${path}${BACKUP_SUFFIX}`);
      if (!backup) throw new LifeboatError("not-found", `no backup of entry ${id}: nothing to revert`);
      await this.ctx.atomicWrite(path, backup.toString("utf8"));
      await this.ctx.sys.removeFile(`${path}${BACKUP_SUFFIX}`);
      return { entry: id, restored: true, options: parseBootEntry(backup.toString("utf8")).options };
    });
  }
}
