import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { FakeConfig, FakeOutputs, FakePool } from "./fake-system.js";

export const FIXTURES = join(import.meta.dirname, "..", "fixtures", "captured");
const VM = join(import.meta.dirname, "..", "fixtures", "vm-captured");

/** Real captured stdout (or stderr) of CASE/NAME, as recorded in test/fixtures/captured. */
export function fixture(kase: string, name: string, stream: "stdout" | "stderr" = "stdout"): string {
  return readFileSync(join(FIXTURES, kase, `${name}.${stream}`), "utf8");
}

export function hasFixture(kase: string, name: string, stream: "stdout" | "stderr" = "stdout"): boolean {
  return existsSync(join(FIXTURES, kase, `${name}.${stream}`));
}

/** index.tsv rows: case, name, exit code, command. */
export function fixtureIndex(): { kase: string; name: string; exit: number; command: string }[] {
  return readFileSync(join(FIXTURES, "index.tsv"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const [kase, name, exit, command] = l.split("\t");
      return { kase: kase as string, name: name as string, exit: Number(exit), command: command as string };
    });
}

export function exitCodeOf(kase: string, name: string): number {
  const row = fixtureIndex().find((r) => r.kase === kase && r.name === name);
  if (!row) throw new Error(`no fixture ${kase}/${name}`);
  return row.exit;
}

const opt = (kase: string, name: string, stream: "stdout" | "stderr" = "stdout") =>
  hasFixture(kase, name, stream) ? fixture(kase, name, stream) : undefined;

/** Outputs of a captured case, for the FakeSystem. */
export function outputsOf(kase: string): FakeOutputs {
  // encrypted, two-pools and stripe-missing have no lsblk capture: their boot disk has the same
  // shape as single's (ESP + one zfs member labelled nvmepool), so single's capture stands in.
  const lsblkCase = hasFixture(kase, "lsblk-json-cols") ? kase : "single";
  const out: FakeOutputs = {
    lsblk: fixture(lsblkCase, "lsblk-json-cols"),
    blkid: opt(kase, "blkid-export"),
    zpoolImportList: opt(kase, "zpool-import-list"),
    importRefused: fixture("single", "zpool-import-no-f", "stderr"),
    // encrypted has no `zpool list -j` capture; single's lists the same pool name (guid differs).
    zpoolListJ: opt(kase, "zpool-list-j") ?? fixture("single", "zpool-list-j"),
    zpoolStatusJ: opt(kase, "zpool-status-j"),
    zfsListHp:
      opt(kase, "zfs-list-Hp") ??
      (kase === "mirror" || kase === "degraded" ? fixture("single", "zfs-list-Hp") : undefined),
    zfsListHpUnlocked: opt(kase, "zfs-list-Hp-unlocked"),
    zfsGetCrypto: opt(kase, "zfs-get-j-crypto"),
    mountLockedStderr: opt("encrypted", "mount-locked", "stderr"),
    loadKeyWrongStderr: opt("encrypted", "zfs-load-key-wrong", "stderr"),
    loadKeyAgainStderr: opt("encrypted", "zfs-load-key-again", "stderr"),
    loadKeyChildStderr: opt("encrypted", "zfs-load-key-child", "stderr"),
    importUnavailableStderr: opt("stripe-missing", "zpool-import-f", "stderr"),
    zfsutilMissingStderr: readFileSync(join(VM, "fd-targets", "mount-nonlegacy-no-zfsutil.stderr"), "utf8"),
    zfsutilLegacyStderr: readFileSync(join(VM, "fd-targets", "mount-legacy-zfsutil.stderr"), "utf8"),
  };
  return out;
}

/** Pools of a captured case, with ids from its own listing; the server was atlas, hostid 8425e349. */
export function poolsOf(kase: string): FakePool[] {
  const list = opt(kase, "zpool-import-list") ?? "";
  const pools: FakePool[] = [];
  for (const m of list.matchAll(/pool: (\S+)\n\s+id: (\d+)\n\s+state: (\S+)/g)) {
    const pool: FakePool = { name: m[1] as string, guid: m[2] as string, lastHostId: "8425e349" };
    if (m[3] === "UNAVAIL") pool.unavailable = true;
    if (kase === "encrypted") {
      pool.encryptionRoot = pool.name;
      pool.passphrase = "correct-horse-battery";
    }
    pools.push(pool);
  }
  return pools;
}

export async function sandbox(): Promise<string> {
  return mkdtemp(join(tmpdir(), "lifeboat-test-"));
}

export function fakeConfig(kase: string, dir: string, extra: Partial<FakeConfig> = {}): FakeConfig {
  return { outputs: outputsOf(kase), pools: poolsOf(kase), hostid: "00bab10c", sandbox: dir, ...extra };
}

export interface TreeOptions {
  host?: string;
  /** fstab text placed in the newest generation's etc/ (NixOS-generated shape). */
  fstab?: string | null;
  generations?: number;
  /** Write the ESP's systemd-boot files under /boot (default true). */
  esp?: boolean;
}

export const ZFS_FSTAB = `# This is a generated file.  Do not edit!
#
# To make changes, edit the fileSystems and swapDevices NixOS options
# in your /etc/nixos/configuration.nix file.
#
# <file system> <mount point>   <filesystem type>   <options>   <dump>   <pass>

# Filesystems.
nvmepool/root / zfs defaults 0 0
nvmepool/nix /nix zfs defaults 0 0
nvmepool/home /home zfs defaults 0 0
nvmepool/var /var zfs defaults 0 0
/dev/disk/by-uuid/3302-674B /boot vfat fmask=0022,dmask=0022 0 2


# Swap devices.
`;

/**
 * A NixOS-shaped tree under `root` (host path): store paths with absolute links, profiles,
 * /etc/NIXOS, /etc/fstab → /etc/static/fstab → store. Structure as nixos-install leaves it.
 */
export async function makeNixosTree(root: string, opts: TreeOptions = {}): Promise<void> {
  const host = opts.host ?? "atlas";
  const n = opts.generations ?? 3;
  const w = async (p: string, text: string) => {
    await mkdir(dirname(join(root, p)), { recursive: true });
    await writeFile(join(root, p), text);
  };
  const l = async (p: string, target: string) => {
    await mkdir(dirname(join(root, p)), { recursive: true });
    await symlink(target, join(root, p));
  };
  for (const d of ["nix/var/nix/profiles", "home", "var/log", "boot", "etc/nixos"])
    await mkdir(join(root, d), { recursive: true });
  let last = "";
  for (let g = 1; g <= n; g++) {
    const hash = `${String(g).repeat(4)}abcdefghijklmnopqrstuvwxyz12`.slice(0, 32);
    const etc = `/nix/store/${hash.replace(/a/g, "e")}-etc/etc`;
    const sys = `/nix/store/${hash}-nixos-system-${host}-24.11.2025010${g}`;
    await w(`${sys}/nixos-version`, `24.11.2025010${g}`);
    await w(`${sys}/kernel-params`, "nohibernate loglevel=4");
    await l(`${sys}/etc`, etc);
    if (opts.fstab !== null) await w(`${etc}/fstab`, opts.fstab ?? ZFS_FSTAB);
    await l(`nix/var/nix/profiles/system-${g}-link`, sys);
    last = etc;
  }
  await l("nix/var/nix/profiles/system", `system-${n}-link`);
  if (opts.esp !== false) {
    // Same shape as the lab-generated entry (test/fixtures/generated), one per generation.
    const entry = readFileSync(
      join(import.meta.dirname, "..", "fixtures", "generated", "GENERATED-nixos-generation-3.conf"),
      "utf8",
    );
    for (let g = 1; g <= n; g++) {
      const hash = `${String(g).repeat(4)}abcdefghijklmnopqrstuvwxyz12`.slice(0, 32);
      const text = entry
        .replace(/Generation 3/, `Generation ${g}`)
        .replace(
          /\/nix\/store\/[^ ]+-nixos-system-[^/]+\/init/,
          `/nix/store/${hash}-nixos-system-${host}-24.11.2025010${g}/init`,
        );
      await w(`boot/loader/entries/nixos-generation-${g}.conf`, text);
    }
    await w(
      "boot/loader/loader.conf",
      readFileSync(
        join(import.meta.dirname, "..", "fixtures", "generated", "GENERATED-loader.conf"),
        "utf8",
      ).replace(/nixos-generation-\d+/, `nixos-generation-${n}`),
    );
  }
  await mkdir(join(root, "var/log/journal/4e94ca0830aecd9a467e26d22b49108a"), { recursive: true });
  await l("etc/static", last);
  await l("etc/fstab", "/etc/static/fstab");
  await w("etc/NIXOS", "");
  await w("etc/nixos/configuration.nix", '{ ... }: { networking.hostId = "8425e349"; }\n');
}
