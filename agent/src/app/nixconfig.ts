import { createHash } from "node:crypto";
import { LifeboatError } from "../core/errors.js";
import { resolveConfined } from "../core/paths.js";
import { type RescueContext, snapshotStamp } from "./context.js";

const BASE = "/etc/nixos";
const MAX_FILE = 1024 * 1024;
const MAX_FILES = 2_000;

export function etagOf(content: Buffer | string): string {
  return `"sha256-${createHash("sha256").update(content).digest("hex").slice(0, 32)}"`;
}

/** Host names a flake defines (nixosConfigurations.<name>) or a configuration sets (networking.hostName). */
export function hostNames(flake: string | null, configuration: string | null): string[] {
  const names = new Set<string>();
  if (flake) {
    for (const m of flake.matchAll(/nixosConfigurations\.("?)([A-Za-z0-9_-]+)\1\s*=/g))
      names.add(m[2] as string);
    const block = /nixosConfigurations\s*=\s*\{([\s\S]*?)\n\s*\};/.exec(flake)?.[1];
    if (block)
      for (const m of block.matchAll(
        /^\s*("?)([A-Za-z0-9_-]+)\1\s*=\s*(?:nixpkgs\.lib\.nixosSystem|lib\.nixosSystem|mk)/gm,
      ))
        names.add(m[2] as string);
  }
  const hn = configuration ? /networking\.hostName\s*=\s*"([^"]+)"/.exec(configuration)?.[1] : undefined;
  if (hn) names.add(hn);
  return [...names];
}

/** The installed system's /etc/nixos: list, read with an ETag, write with If-Match and a backup. */
export class ConfigService {
  constructor(private readonly ctx: RescueContext) {}

  private async resolve(rel: string): Promise<string> {
    if (
      rel === "" ||
      rel.length > 1024 ||
      rel.split("/").some((s) => s === ".." || s.startsWith(".lifeboat"))
    )
      throw new LifeboatError(
        "path-escape",
        `not a path inside ${BASE}: ${JSON.stringify(rel.slice(0, 100))}`,
      );
    const m = await this.ctx.mounted();
    return resolveConfined(this.ctx.root, BASE, rel, m.installed.reader);
  }

  async tree() {
    const m = await this.ctx.mounted();
    const base = await m.installed.resolve(BASE);
    const files: { path: string; size: number }[] = [];
    const skipped: string[] = [];
    const walk = async (rel: string, depth: number) => {
      const names = (await this.ctx.sys.readdir(rel ? `${base}/${rel}` : base)) ?? [];
      for (const name of names) {
        if (files.length >= MAX_FILES) return;
        const p = rel ? `${rel}/${name}` : name;
        if (name === ".git" || name.includes(".lifeboat-")) continue;
        const info = await this.ctx.sys.lstat(`${base}/${p}`);
        if (info?.type === "dir" && depth < 8) await walk(p, depth + 1);
        else if (info?.type === "file") files.push({ path: p, size: info.size });
        else if (info?.type === "link") {
          try {
            const target = await resolveConfined(this.ctx.root, BASE, p, m.installed.reader);
            const t = await this.ctx.sys.lstat(target);
            if (t?.type === "file") files.push({ path: p, size: t.size });
          } catch {
            skipped.push(`${p} (link out of ${BASE})`);
          }
        }
      }
    };
    await walk("", 0);
    const flake = (await this.ctx.sys.readFile(`${base}/flake.nix`))?.toString("utf8") ?? null;
    const configuration =
      (await this.ctx.sys.readFile(`${base}/configuration.nix`))?.toString("utf8") ?? null;
    return { root: BASE, flake: flake !== null, hosts: hostNames(flake, configuration), files, skipped };
  }

  async read(rel: string) {
    const path = await this.resolve(rel);
    const info = await this.ctx.sys.lstat(path);
    if (info?.type !== "file") throw new LifeboatError("not-found", `no file ${BASE}/${rel}`);
    if (info.size > MAX_FILE) throw new LifeboatError("too-large", `${rel} is larger than 1 MiB`);
    const content = (await this.ctx.sys.readFile(path)) ?? Buffer.alloc(0);
    return { path: rel, content: content.toString("utf8"), etag: etagOf(content), size: content.length };
  }

  async write(rel: string, content: string, ifMatch: string | undefined, who: string) {
    if (!ifMatch)
      throw new LifeboatError(
        "precondition-required",
        "send If-Match with the ETag you read (or * to create a new file)",
      );
    if (Buffer.byteLength(content) > MAX_FILE)
      throw new LifeboatError("too-large", "content larger than 1 MiB");
    return this.ctx.change("config-write", `${BASE}/${rel}`, who, async () => {
      const path = await this.resolve(rel);
      const current = await this.ctx.sys.readFile(path);
      if (ifMatch === "*" ? current !== null : current === null || etagOf(current) !== ifMatch)
        throw new LifeboatError(
          "precondition-failed",
          `${rel} changed since you read it (or does not exist): reload and merge`,
          {
            currentEtag: current ? etagOf(current) : null,
          },
        );
      const stamp = snapshotStamp();
      const backup = current ? `${path}.lifeboat-${stamp}` : null;
      if (backup && current) await this.ctx.sys.writeFile(backup, current, 0o644);
      try {
        await this.ctx.atomicWrite(path, content);
      } catch (err) {
        if (backup) await this.ctx.sys.removeFile(backup).catch(() => undefined);
        throw new LifeboatError(
          "command-failed",
          `writing ${rel} failed, nothing changed: ${(err as Error).message}`,
        );
      }
      return { path: rel, etag: etagOf(content), backup: backup ? backup.slice(this.ctx.root.length) : null };
    });
  }
}
