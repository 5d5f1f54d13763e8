import { createHash, randomBytes } from "node:crypto";
import { LifeboatError } from "../core/errors.js";
import { type MountedRoot, type RescueContext, snapshotStamp } from "./context.js";

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

  /** A request path inside /etc/nixos (checked as text here; resolved inside the root by RootFs). */
  private path(rel: string): string {
    if (
      rel === "" ||
      rel.length > 1024 ||
      rel.includes("\0") ||
      rel.split("/").some((s) => s === ".." || s.startsWith(".lifeboat") || s.includes(".lifeboat-tmp-"))
    )
      throw new LifeboatError(
        "path-escape",
        `not a path inside ${BASE}: ${JSON.stringify(rel.slice(0, 100))}`,
      );
    return `${BASE}/${rel}`;
  }

  async tree() {
    const m = await this.ctx.mounted();
    const files = m.installed.files;
    const out: { path: string; size: number }[] = [];
    const skipped: string[] = [];
    const walk = async (rel: string, depth: number) => {
      const dir = rel ? `${BASE}/${rel}` : BASE;
      const listing = await files.list(dir, { within: BASE, max: MAX_FILES });
      if (!listing) return;
      skipped.push(...listing.skipped.map((s) => `${rel ? `${rel}/` : ""}${s}`));
      for (const e of listing.entries) {
        if (out.length >= MAX_FILES) return;
        const p = rel ? `${rel}/${e.name}` : e.name;
        if (e.name === ".git" || e.name.includes(".lifeboat-")) continue;
        if (e.kind === "dir" && depth < 8) await walk(p, depth + 1);
        else if (e.kind === "file") out.push({ path: p, size: e.size });
        else if (e.kind === "link") {
          try {
            const t = await files.stat(`${BASE}/${p}`, { within: BASE });
            if (t?.kind === "file") out.push({ path: p, size: t.size });
            else skipped.push(`${p} (link to ${t ? `a ${t.kind}` : "nothing"})`);
          } catch (err) {
            if (!(err instanceof LifeboatError)) throw err;
            skipped.push(`${p} (${err.code === "path-escape" ? `link out of ${BASE}` : err.message})`);
          }
        } else if (e.kind !== "dir") skipped.push(`${p} (a ${e.kind})`);
      }
    };
    await walk("", 0);
    const text = async (name: string) => {
      try {
        return await files.readText(`${BASE}/${name}`, { within: BASE, max: MAX_FILE });
      } catch (err) {
        if (!(err instanceof LifeboatError)) throw err;
        skipped.push(`${name} (${err.message})`);
        return null;
      }
    };
    const flake = await text("flake.nix");
    const configuration = await text("configuration.nix");
    return {
      root: BASE,
      flake: flake !== null,
      hosts: hostNames(flake, configuration),
      files: out,
      skipped: [...new Set(skipped)],
    };
  }

  async read(rel: string) {
    const path = this.path(rel);
    const m = await this.ctx.mounted();
    const info = await m.installed.files.stat(path, { within: BASE });
    if (info?.kind === "dir" || !info) throw new LifeboatError("not-found", `no file ${BASE}/${rel}`);
    const content =
      (await m.installed.files.readFile(path, { within: BASE, max: MAX_FILE })) ?? Buffer.alloc(0);
    return { path: rel, content: content.toString("utf8"), etag: etagOf(content), size: content.length };
  }

  async write(rel: string, content: string, ifMatch: string | undefined, who: string) {
    const path = this.path(rel);
    if (!ifMatch)
      throw new LifeboatError(
        "precondition-required",
        "send If-Match with the ETag you read (or * to create a new file)",
      );
    if (Buffer.byteLength(content) > MAX_FILE)
      throw new LifeboatError("too-large", "content larger than 1 MiB");
    const current = async (m: MountedRoot) => {
      const text = await m.installed.files.readFile(path, { within: BASE, max: MAX_FILE });
      if (ifMatch === "*" ? text !== null : text === null || etagOf(text) !== ifMatch)
        throw new LifeboatError(
          "precondition-failed",
          `${rel} changed since you read it (or does not exist): reload and merge`,
          {
            currentEtag: text ? etagOf(text) : null,
          },
        );
      return text;
    };
    // The same content again: nothing to write, no snapshot.
    const unchanged = async (m: MountedRoot) => {
      const text = await current(m);
      return text?.equals(Buffer.from(content))
        ? { path: rel, etag: etagOf(text), backup: null as string | null }
        : null;
    };
    return this.ctx.change(
      "config-write",
      path,
      who,
      async (m) => {
        const files = m.installed.files;
        const current = await files.readFile(path, { within: BASE, max: MAX_FILE });
        if (ifMatch === "*" ? current !== null : current === null || etagOf(current) !== ifMatch)
          throw new LifeboatError(
            "precondition-failed",
            `${rel} changed since you read it (or does not exist): reload and merge`,
            {
              currentEtag: current ? etagOf(current) : null,
            },
          );
        // The backup sits next to the file the path resolves to, created exclusively.
        const real = (await files.realpath(path)) ?? path;
        let backup: string | null = null;
        if (current) {
          const stamp = snapshotStamp();
          for (const name of [`${real}.lifeboat-${stamp}`, `${real}.lifeboat-${stamp}-${randomHex()}`]) {
            const r = await files.createNew(name, current, { within: BASE });
            if (r.created) {
              backup = r.path;
              break;
            }
          }
          if (!backup)
            throw new LifeboatError(
              "unsafe-file",
              `no backup of ${rel} could be created next to it; nothing changed`,
            );
        }
        try {
          await files.replace(path, content, { within: BASE, createParents: true });
        } catch (err) {
          if (backup) await files.remove(backup).catch(() => undefined);
          if (err instanceof LifeboatError && err.code !== "file-failed") throw err;
          throw new LifeboatError(
            "command-failed",
            `writing ${rel} failed, nothing changed: ${(err as Error).message}`,
          );
        }
        return { path: rel, etag: etagOf(content), backup };
      },
      { unchanged },
    );
  }
}

function randomHex(): string {
  return randomBytes(4).toString("hex");
}
