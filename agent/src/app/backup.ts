import { LifeboatError } from "../core/errors.js";
import type { RootFs } from "../system/rootfs.js";
import { AUDIT_DIR } from "./audit.js";

export const BACKUP_DIR = `${AUDIT_DIR}/backups`;
const PROFILES = "/nix/var/nix/profiles";
const MAX_FILE = 256 * 1024;
const MAX_ENTRIES = 1_000;

const README = `Lifeboat backup of the boot state, taken before a rebuild or profile switch on a root
without ZFS snapshots. To go back by hand (from the rescue system, root mounted at /mnt):

  profiles.json    the system profile links and their store paths:
                   ln -sfn <target> /mnt/nix/var/nix/profiles/<name>
  esp/loader/      loader.conf and the boot entries: copy back to the ESP's loader/
  grub/grub.cfg    copy back to /mnt/boot/grub/grub.cfg

The store itself is not copied: a rebuild only adds store paths, it removes none.
`;

/**
 * A root without ZFS has no snapshot to fall back on: before a rebuild or profile switch, copy what
 * they change (profile links, loader.conf, boot entries, grub.cfg) into a new directory under
 * /var/log/lifeboat/backups on the installed system, every file created exclusively. Returns the
 * directory (in-root path). Throws (and the change does not start) when the backup fails.
 */
export async function backupBootState(files: RootFs, esp: string | null, name: string): Promise<string> {
  const dir = `${BACKUP_DIR}/${name}`;
  // Our directories: a symlink planted at either is refused, not followed.
  await files.mkdirs(AUDIT_DIR, { follow: false });
  await files.mkdirs(BACKUP_DIR, { follow: false });
  await files.mkdirs(dir, { follow: false });
  const put = async (rel: string, data: string | Uint8Array) => {
    const r = await files.createNew(`${dir}/${rel}`, data, { mode: 0o600 });
    if (!r.created)
      throw new LifeboatError("unsafe-file", `backup ${r.path} exists already (${r.existing}); refused`, {
        path: r.path,
        found: r.existing,
      });
  };
  const links: Record<string, string> = {};
  for (const e of (await files.list(PROFILES, { max: MAX_ENTRIES }))?.entries ?? []) {
    if (e.kind !== "link" || !/^system(-\d+-link)?$/.test(e.name)) continue;
    const target = await files.readlink(`${PROFILES}/${e.name}`);
    if (target !== null) links[e.name] = target;
  }
  await put("profiles.json", `${JSON.stringify({ profiles: PROFILES, links }, null, 2)}\n`);
  if (esp) {
    const conf = await files.readFile(`${esp}/loader/loader.conf`, { max: MAX_FILE });
    if (conf) {
      await files.mkdirs(`${dir}/esp/loader/entries`);
      await put("esp/loader/loader.conf", conf);
      const entries = await files.list(`${esp}/loader/entries`, { max: MAX_ENTRIES });
      for (const e of entries?.entries ?? []) {
        if (!e.name.endsWith(".conf")) continue;
        const data = await files.readFile(`${esp}/loader/entries/${e.name}`, { max: MAX_FILE });
        if (data) await put(`esp/loader/entries/${e.name}`, data);
      }
    }
  }
  const grub = await files.readFile("/boot/grub/grub.cfg", { max: 4 * MAX_FILE });
  if (grub) {
    await files.mkdirs(`${dir}/grub`);
    await put("grub/grub.cfg", grub);
  }
  await put("README", README);
  return dir;
}
