import { encodeHostIdFile, splHostIdParam } from "../core/hostid.js";
import type { System } from "../system/system.js";

export const HOSTID_FILE = "/etc/hostid";
export const SPL_HOSTID_PARAM = "/sys/module/spl/parameters/spl_hostid";

export interface HostIdBackup {
  file: Buffer | null;
  /** On NixOS /etc/hostid is a symlink into the read-only store: remember it to put it back. */
  link: string | null;
  spl: string | null;
}

/**
 * Make the live system use `hostid` (the pool's last host), as ZFSBootMenu does: write the live
 * /etc/hostid and, when the SPL module is loaded, its spl_hostid parameter (a hostid pinned by a
 * module option would otherwise win). Only the rescue system is changed; the pool is not touched.
 */
export async function adoptHostId(
  sys: System,
  hostid: string,
): Promise<{ backup: HostIdBackup; splWritten: boolean }> {
  const link = await sys.readlink(HOSTID_FILE);
  const backup: HostIdBackup = {
    file: link === null ? await sys.readFile(HOSTID_FILE) : null,
    link,
    spl: (await sys.readFile(SPL_HOSTID_PARAM))?.toString("utf8").trim() ?? null,
  };
  // Writing through the NixOS store link would fail (read-only store): replace the link by a file.
  if (link !== null) await sys.removeFile(HOSTID_FILE);
  await sys.writeFile(HOSTID_FILE, encodeHostIdFile(hostid), 0o644);
  let splWritten = false;
  if (backup.spl !== null || (await sys.lstat(SPL_HOSTID_PARAM))) {
    try {
      await sys.writeFile(SPL_HOSTID_PARAM, `${splHostIdParam(hostid)}\n`);
      splWritten = true;
    } catch {
      splWritten = false;
    }
  }
  return { backup, splWritten };
}

export async function restoreHostId(sys: System, backup: HostIdBackup): Promise<void> {
  if (backup.link !== null) {
    await sys.removeFile(HOSTID_FILE);
    await sys.symlink(backup.link, HOSTID_FILE);
  } else if (backup.file) await sys.writeFile(HOSTID_FILE, backup.file, 0o644);
  else await sys.removeFile(HOSTID_FILE);
  if (backup.spl !== null) {
    try {
      await sys.writeFile(SPL_HOSTID_PARAM, `${backup.spl}\n`);
    } catch {
      // The parameter may be read-only on this kernel; /etc/hostid is restored either way.
    }
  }
}
