// Journal export format (systemd docs/JOURNAL_EXPORT_FORMATS.md): one "FIELD=value" line per field,
// entries separated by an empty line; __REALTIME_TIMESTAMP, __MONOTONIC_TIMESTAMP and _BOOT_ID place
// the entry. systemd-journal-remote reads that and writes a real .journal file with systemd's own code.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";

export const JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote";
export const MACHINE_ID = "4e94ca0830aecd9a467e26d22b49108a";
export const HOST = "atlas";

/** 32 hex digits, deterministic (boot ids). */
export const hex32 = (seed: string) => createHash("sha256").update(seed).digest("hex").slice(0, 32);
/** A Nix store hash (nix base32 alphabet), deterministic. */
export function storeHash(seed: string): string {
  const a = "0123456789abcdfghijklmnpqrsvwxyz";
  return [...createHash("sha256").update(seed).digest()]
    .slice(0, 32)
    .map((b) => a[b % 32])
    .join("");
}

export type Fields = Record<string, string>;
export interface Rec {
  /** Seconds since the boot started. */
  at: number;
  fields: Fields;
}

export const kern = (at: number, message: string, priority = 6): Rec => ({
  at,
  fields: {
    PRIORITY: String(priority),
    SYSLOG_FACILITY: "0",
    SYSLOG_IDENTIFIER: "kernel",
    _TRANSPORT: "kernel",
    MESSAGE: message,
  },
});

/** coreutils `date` in the C locale: "Mon Feb 10 10:00:02 UTC 2025". */
function coreutilsDate(ms: number): string {
  const d = new Date(ms);
  const day = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"][d.getUTCDay()];
  const mon = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][
    d.getUTCMonth()
  ];
  const t = d.toISOString().slice(11, 19);
  return `${day} ${mon} ${String(d.getUTCDate()).padStart(2, " ")} ${t} UTC ${d.getUTCFullYear()}`;
}

/**
 * A line of nixpkgs' stage-1-init.sh (nixos/modules/system/boot/stage-1-init.sh): it writes
 * `<7>stage-1-init: [$(date)] $line` to /dev/kmsg; journald takes the identifier from the text.
 */
const stage1 = (start: number, at: number, line: string): Rec => ({
  at,
  fields: {
    PRIORITY: "7",
    SYSLOG_FACILITY: "0",
    SYSLOG_IDENTIFIER: "stage-1-init",
    _TRANSPORT: "kernel",
    MESSAGE: `[${coreutilsDate(start * 1000 + at * 1000)}] ${line}`,
  },
});

/** PID 1's structured messages (src/core/job.c, unit.c): MESSAGE_ID, UNIT, JOB_TYPE/JOB_RESULT. */
export function pid1(
  at: number,
  message: string,
  o: { id?: string; unit?: string; priority?: number; result?: string } = {},
): Rec {
  const f: Fields = {
    PRIORITY: String(o.priority ?? 6),
    SYSLOG_FACILITY: "3",
    SYSLOG_IDENTIFIER: "systemd",
    _TRANSPORT: "journal",
    _PID: "1",
    _COMM: "systemd",
    _UID: "0",
  };
  if (o.id) f.MESSAGE_ID = o.id;
  if (o.unit) f.UNIT = o.unit;
  if (o.result) {
    f.JOB_TYPE = "start";
    f.JOB_RESULT = o.result;
  }
  f.MESSAGE = message;
  return { at, fields: f };
}

/** A syslog(3) line of a daemon, as journald stores it. */
export function syslog(
  at: number,
  ident: string,
  pid: number,
  message: string,
  o: { priority?: number; facility?: number; unit?: string } = {},
): Rec {
  return {
    at,
    fields: {
      PRIORITY: String(o.priority ?? 6),
      SYSLOG_FACILITY: String(o.facility ?? 3),
      SYSLOG_IDENTIFIER: ident,
      SYSLOG_PID: String(pid),
      _TRANSPORT: "syslog",
      _PID: String(pid),
      _UID: "0",
      ...(o.unit ? { _SYSTEMD_UNIT: o.unit } : {}),
      MESSAGE: message,
    },
  };
}

// systemd's message ids (src/systemd/sd-messages.h)
export const ID = {
  started: "39f53479d3a045ac8e11786248231fbf",
  stopped: "9d1aaa27d60140bd96365438aad20286",
  failed: "be02cf6855d2428ba40df7e9d022f03d",
  result: "d9b373ed55a64feb8242e02dbe79a49c",
  exited: "98e322203f7a4ed290d09fe03c09fe15",
  startup: "b07a249cd024414a82dd00cd181378ff",
  shutdown: "98268866d1d54a499c4e98921d93bc40",
} as const;

export interface BootSpec {
  name: string;
  /** Unix seconds. */
  start: number;
  toplevel: string;
  kernel: string;
  /** The NixOS kernel parameters after init= (boot.kernelParams). */
  params: string[];
  /** The records after the common stage-2 start; `clean` ends it with a reboot, else it just stops. */
  records: Rec[];
  multiUser: boolean;
  clean: boolean;
}

/** A NixOS boot as journald records it: the kernel, stage 1 (kmsg), systemd, the boot's own records, the end. */
export function bootRecords(b: BootSpec): Rec[] {
  const initrd = `\\EFI\\nixos\\${storeHash(`${b.toplevel}-initrd`)}-initrd-linux-${b.kernel}-initrd.efi`;
  const out: Rec[] = [
    kern(
      0,
      `Linux version ${b.kernel} (nixbld@localhost) (gcc (GCC) 13.3.0, GNU ld (GNU Binutils) 2.43.1) #1-NixOS SMP PREEMPT_DYNAMIC Thu Jan  1 00:00:01 UTC 1970`,
      5,
    ),
    kern(0, `Command line: initrd=${initrd} init=${b.toplevel}/init ${b.params.join(" ")}`),
    stage1(b.start, 2.1, "loading module zfs..."),
    stage1(b.start, 3.4, 'importing root ZFS pool "nvmepool"...'),
    stage1(b.start, 4.0, "mounting nvmepool/root on /..."),
    pid1(
      4.6,
      "systemd 256.10 running in system mode (+PAM +AUDIT -SELINUX +APPARMOR +IMA +SMACK +SECCOMP +GCRYPT -GNUTLS +OPENSSL +ACL +BLKID +CURL +ELFUTILS +FIDO2 +IDN2 -IDN +IPTC +KMOD +LIBCRYPTSETUP +LIBCRYPTSETUP_PLUGINS +LIBFDISK +PCRE2 +PWQUALITY +P11KIT +QRENCODE +TPM2 +BZIP2 +LZ4 +XZ +ZLIB +ZSTD +BPF_FRAMEWORK +BTF -XKBCOMMON +UTMP -SYSVINIT +LIBARCHIVE)",
      { priority: 6 },
    ),
    {
      at: 4.9,
      fields: {
        PRIORITY: "6",
        SYSLOG_FACILITY: "3",
        SYSLOG_IDENTIFIER: "systemd-journald",
        _TRANSPORT: "driver",
        MESSAGE: "Journal started",
      },
    },
    {
      at: 5.3,
      fields: {
        PRIORITY: "6",
        SYSLOG_FACILITY: "3",
        SYSLOG_IDENTIFIER: "systemd-journald",
        _TRANSPORT: "driver",
        MESSAGE: `Time spent on flushing to /var/log/journal/${MACHINE_ID} is 41.003ms for 912 entries.`,
      },
    },
    ...b.records,
  ];
  // multi-user is reached after the start-up records (the first two minutes), later ones happen while it runs
  const last = Math.max(...out.filter((r) => r.at <= 120).map((r) => r.at));
  const end = Math.max(...out.map((r) => r.at));
  if (b.multiUser)
    out.push(
      pid1(last + 0.5, "Reached target multi-user.target - Multi-User System.", {
        id: ID.started,
        unit: "multi-user.target",
      }),
      pid1(
        last + 0.6,
        `Startup finished in 2.981s (kernel) + 1.614s (initrd) + ${(last + 0.6 - 4.6).toFixed(3)}s (userspace) = ${(last + 0.6).toFixed(3)}s.`,
        { id: ID.startup },
      ),
    );
  if (b.clean)
    out.push({
      at: end + 3600,
      fields: {
        PRIORITY: "6",
        SYSLOG_FACILITY: "4",
        SYSLOG_IDENTIFIER: "systemd-logind",
        _TRANSPORT: "journal",
        MESSAGE_ID: ID.shutdown,
        MESSAGE: "System is rebooting.",
      },
    });
  return out;
}

/** The export text of boots (in order). */
export function exportText(boots: BootSpec[]): string {
  const parts: string[] = [];
  for (const b of boots) {
    const id = hex32(`${b.name}-boot`);
    for (const r of bootRecords(b).sort((x, y) => x.at - y.at)) {
      const us = Math.round(r.at * 1e6);
      const f: Fields = {
        __REALTIME_TIMESTAMP: String(b.start * 1e6 + us),
        __MONOTONIC_TIMESTAMP: String(1_000_000 + us),
        _BOOT_ID: id,
        _MACHINE_ID: MACHINE_ID,
        _HOSTNAME: HOST,
        ...r.fields,
      };
      parts.push(
        `${Object.entries(f)
          .map(([k, v]) => `${k}=${v}`)
          .join("\n")}\n`,
      );
    }
  }
  return `${parts.join("\n")}`;
}

/** systemd-journal-remote writes the journal file (the real systemd code) from export text. */
export function writeJournal(exportTextValue: string, file: string): void {
  if (!existsSync(JOURNAL_REMOTE))
    throw new Error(`${JOURNAL_REMOTE} is missing (apt-get install systemd-journal-remote)`);
  mkdirSync(dirname(file), { recursive: true });
  execFileSync(JOURNAL_REMOTE, ["-o", file, "-"], {
    input: exportTextValue,
    stdio: ["pipe", "ignore", "pipe"],
  });
}
