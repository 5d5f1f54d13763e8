/**
 * The hostile-disk corpus, file side (issue 10): one row per attack a disk can carry against the
 * agent's file access. The same table drives the real agent on real ext4 + vfat images on loop
 * devices (test/host/hostile.test.ts, root) and the services on the recording fake, whose
 * sandbox is real files too (test/app/hostile.test.ts). A new attack is one row.
 *
 * Every row plants its attack into an otherwise normal NixOS tree (makeNixosTree), then sends one
 * request; the harness then checks what every row must hold: the rescue-side canary tree is
 * unchanged, the answer is the expected status (problem+json with a stable code for errors), no
 * canary text in any response or log, `/v1/status` answers, and the next change is accepted.
 */
import { createHash } from "node:crypto";
import {
  link,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rm,
  symlink,
  truncate,
  writeFile,
} from "node:fs/promises";
import { dirname, join } from "node:path";
import { execa } from "execa";
import { expect } from "vitest";
import { etagOf } from "../../agent/src/app/nixconfig.js";

/** Text of every canary file: a response or log containing it means a rescue-side file leaked. */
export const CANARY_TEXT = "CANARY-rescue-side-0f9e8d7c6b5a";

export interface Planter {
  /** Host path of the installed system's "/" while it is staged (the ESP mounted at /boot). */
  root: string;
  /** Host path of the rescue-side canary directory (files: authorized_keys, shadow, fstab). */
  canary: string;
  /** In-root path of the current generation's store directory. */
  system: string;
  write(p: string, text: string | Buffer): Promise<void>;
  /** A file whose name is raw bytes (need not be UTF-8) in directory `dir`. */
  writeRaw(dir: string, name: Buffer, text: string): Promise<void>;
  link(p: string, target: string): Promise<void>;
  fifo(p: string): Promise<void>;
  /** A device node (mknod), root only. */
  node(p: string, type: "c" | "b", major: number, minor: number): Promise<void>;
  sparse(p: string, bytes: number): Promise<void>;
  hardlink(p: string, existing: string): Promise<void>;
  rm(p: string): Promise<void>;
}

export interface Req {
  method?: "GET" | "POST" | "PUT";
  url: string;
  payload?: unknown;
  headers?: Record<string, string>;
}

export interface HostileCase {
  id: string;
  /** The attack family (README counts them). */
  attack:
    | "link out"
    | "link at a write path"
    | "FIFO"
    | "device node"
    | "huge file"
    | "/dev/zero link"
    | "hard link"
    | "malformed record"
    | "odd names"
    | "planted backup names"
    | "dead disk";
  /** ro: mounted read-only (the image must stay byte-identical); rw: read-write. */
  mode: "ro" | "rw";
  /**
   * What the case needs beyond a normal tree: root (mknod), a mounted FAT ESP (a kernel with vfat),
   * an ESP that is not FAT (links and FIFOs on the ESP: only the fake's plain directories can hold
   * them), fault injection (the fake), a root without ZFS (backups instead of snapshots).
   */
  needs?: ("root" | "esp" | "non-fat-esp" | "fault" | "non-zfs")[];
  plant(t: Planter): Promise<void>;
  /** Undo what would refuse every later change (so the "next change" check means something). */
  cleanup?(t: Planter): Promise<void>;
  request: Req;
  status: number;
  code?: string;
  // biome-ignore lint/suspicious/noExplicitAny: a JSON response body, checked by each row
  check?(body: any, t: Planter): void | Promise<void>;
}

const KP = "/v1/boot/entries/nixos-generation-3/kernel-params";
const kernelParams: Req = { method: "POST", url: KP, payload: { add: ["module_blacklist=vfio_pci"] } };
const ENTRY = "/boot/loader/entries/nixos-generation-3.conf";
const AUDIT = "/var/log/lifeboat";
const MID = "4e94ca0830aecd9a467e26d22b49108a";
const JOURNAL = `/var/log/journal/${MID}`;
const GIB10 = 10 * 1024 ** 3;

function putConfig(path: string, content: string, etag = "*"): Req {
  return { method: "PUT", url: `/v1/config/${path}`, payload: { content }, headers: { "if-match": etag } };
}

/** The change every row must accept afterwards (a new file: needs nothing the row planted). */
export const NEXT_CHANGE: Req = putConfig("next-change.nix", "{ }\n");

/** A well-formed job record (as the agent writes it), for the malformed-records row. */
export function jobRecord(id: string, state = "succeeded"): string {
  return JSON.stringify({
    id,
    kind: "rebuild",
    title: "nixos-rebuild boot",
    state,
    exitCode: 0,
    createdAt: "2026-11-25T00:00:00.000Z",
    endedAt: "2026-11-25T00:01:00.000Z",
    durationMs: 60000,
    steps: [{ label: "nixos-rebuild", command: ["nixos-enter", "--root", "/mnt"] }],
    currentStep: 0,
    lines: 3,
    droppedLines: 0,
    who: "tok-00000000@127.0.0.1",
  });
}
const GOOD_JOB = "11111111-1111-4111-8111-111111111111";
const KNOWN_CONFIG = "{ ... }: { }\n";

export const CASES: HostileCase[] = [
  // ── reads: fstab (the mount itself reads it) ──────────────────────────────────────────────────
  {
    id: "fstab-fifo",
    attack: "FIFO",
    mode: "ro",
    plant: async (t) => {
      await t.rm("/etc/fstab");
      await t.fifo("/etc/fstab");
    },
    request: { url: "/v1/status" },
    status: 200,
    check: (b) => expect(b.mounted).toMatchObject({ readonly: true, mounts: expect.any(Array) }),
  },
  {
    id: "fstab-link-out",
    attack: "link out",
    mode: "ro",
    plant: async (t) => {
      await t.rm("/etc/fstab");
      await t.link("/etc/fstab", `${t.canary}/fstab`);
    },
    request: { url: "/v1/status" },
    status: 200,
    check: (b) => expect(b.mounted).toMatchObject({ readonly: true, mounts: expect.any(Array) }),
  },
  {
    id: "fstab-huge-sparse",
    attack: "huge file",
    mode: "ro",
    plant: async (t) => {
      await t.rm("/etc/fstab");
      await t.sparse("/etc/fstab", GIB10);
    },
    request: { url: "/v1/status" },
    status: 200,
    check: (b) => expect(b.mounted).toMatchObject({ readonly: true, mounts: expect.any(Array) }),
  },
  // ── reads: closure files of a generation ──────────────────────────────────────────────────────
  {
    id: "closure-version-link-out",
    attack: "link out",
    mode: "ro",
    plant: async (t) => {
      await t.rm(`${t.system}/nixos-version`);
      await t.link(`${t.system}/nixos-version`, `${t.canary}/shadow`);
    },
    request: { url: "/v1/generations" },
    status: 200,
    check: (b) => expect(b.generations[0].nixosVersion).toBe("24.11.20250103"),
  },
  {
    id: "closure-params-relative-out",
    attack: "link out",
    mode: "ro",
    plant: async (t) => {
      await t.rm(`${t.system}/kernel-params`);
      await t.link(`${t.system}/kernel-params`, `${"../".repeat(20)}${t.canary.slice(1)}/shadow`);
    },
    request: { url: "/v1/generations" },
    status: 200,
    check: (b) => expect(b.generations[0].kernelParams).toEqual([]),
  },
  {
    id: "closure-params-fifo",
    attack: "FIFO",
    mode: "ro",
    plant: async (t) => {
      await t.rm(`${t.system}/kernel-params`);
      await t.fifo(`${t.system}/kernel-params`);
    },
    request: { url: "/v1/generations" },
    status: 200,
    check: (b) => expect(b.warnings.join("\n")).toMatch(/kernel-params: is a FIFO/),
  },
  {
    id: "closure-params-huge-sparse",
    attack: "huge file",
    mode: "ro",
    plant: async (t) => {
      await t.rm(`${t.system}/kernel-params`);
      await t.sparse(`${t.system}/kernel-params`, GIB10);
    },
    request: { url: "/v1/generations" },
    status: 200,
    check: (b) => expect(b.warnings.join("\n")).toMatch(/kernel-params is larger than/),
  },
  {
    id: "closure-version-dev-zero",
    attack: "/dev/zero link",
    mode: "ro",
    needs: ["root"],
    plant: async (t) => {
      await t.node("/dev/zero", "c", 1, 5);
      await t.rm(`${t.system}/nixos-version`);
      await t.link(`${t.system}/nixos-version`, "/dev/zero");
    },
    request: { url: "/v1/generations" },
    status: 200,
    check: (b) => expect(b.warnings.join("\n")).toMatch(/\/dev\/zero: is a character device node/),
  },
  {
    id: "closure-bootspec-block-device",
    attack: "device node",
    mode: "ro",
    needs: ["root"],
    plant: (t) => t.node(`${t.system}/boot.json`, "b", 7, 250),
    request: { url: "/v1/generations" },
    status: 200,
    check: (b) => expect(b.warnings.join("\n")).toMatch(/boot\.json: is a block device node/),
  },
  // ── reads: /etc/nixos ─────────────────────────────────────────────────────────────────────────
  {
    id: "config-fifo",
    attack: "FIFO",
    mode: "ro",
    plant: async (t) => {
      await t.rm("/etc/nixos/configuration.nix");
      await t.fifo("/etc/nixos/configuration.nix");
    },
    request: { url: "/v1/config/configuration.nix" },
    status: 422,
    code: "unsafe-file",
  },
  {
    id: "config-tree-fifo-and-socketlike",
    attack: "FIFO",
    mode: "ro",
    plant: (t) => t.fifo("/etc/nixos/pipe.nix"),
    request: { url: "/v1/config" },
    status: 200,
    check: (b) => expect(b.skipped).toContain("pipe.nix (a fifo)"),
  },
  {
    id: "config-link-out-absolute",
    attack: "link out",
    mode: "ro",
    plant: (t) => t.link("/etc/nixos/host.nix", `${t.canary}/shadow`),
    request: { url: "/v1/config/host.nix" },
    status: 400,
    code: "path-escape",
  },
  {
    id: "config-link-out-relative",
    attack: "link out",
    mode: "ro",
    plant: (t) => t.link("/etc/nixos/host.nix", `${"../".repeat(20)}${t.canary.slice(1)}/shadow`),
    request: { url: "/v1/config/host.nix" },
    status: 400,
    code: "path-escape",
  },
  {
    id: "config-dir-link-out",
    attack: "link out",
    mode: "ro",
    plant: (t) => t.link("/etc/nixos/hosts", t.canary),
    request: { url: "/v1/config/hosts/shadow" },
    status: 400,
    code: "path-escape",
  },
  {
    id: "config-tree-links-out",
    attack: "link out",
    mode: "ro",
    plant: async (t) => {
      await t.link("/etc/nixos/hosts", t.canary);
      await t.link("/etc/nixos/keys.nix", `${t.canary}/authorized_keys`);
    },
    request: { url: "/v1/config" },
    status: 200,
    check: (b) => expect(b.skipped).toEqual(expect.arrayContaining(["hosts (link out of /etc/nixos)"])),
  },
  {
    id: "config-huge-sparse",
    attack: "huge file",
    mode: "ro",
    plant: async (t) => {
      await t.rm("/etc/nixos/configuration.nix");
      await t.sparse("/etc/nixos/configuration.nix", GIB10);
    },
    request: { url: "/v1/config/configuration.nix" },
    status: 422,
    code: "file-too-large",
  },
  {
    id: "config-dev-zero",
    attack: "/dev/zero link",
    mode: "ro",
    needs: ["root"],
    plant: async (t) => {
      await t.node("/dev/zero", "c", 1, 5);
      await t.link("/etc/nixos/zero.nix", "/dev/zero");
    },
    request: { url: "/v1/config/zero.nix" },
    status: 400,
    code: "path-escape",
  },
  {
    id: "config-block-device",
    attack: "device node",
    mode: "ro",
    needs: ["root"],
    plant: (t) => t.node("/etc/nixos/disk.nix", "b", 7, 250),
    request: { url: "/v1/config/disk.nix" },
    status: 422,
    code: "unsafe-file",
  },
  {
    id: "config-odd-names",
    attack: "odd names",
    mode: "ro",
    plant: async (t) => {
      await t.write("/etc/nixos/new\nline.nix", "{ }\n");
      await t.writeRaw("/etc/nixos", Buffer.from([0xff, 0xfe, 0x2e, 0x6e, 0x69, 0x78]), "");
      await t.write(`/etc/nixos/${"x".repeat(250)}.nix`, "{ }\n");
    },
    request: { url: "/v1/config" },
    status: 200,
    check: (b) => {
      expect(b.files.map((f: { path: string }) => f.path)).toContain("new\nline.nix");
      expect(b.skipped.join("\n")).toMatch(/not UTF-8/);
    },
  },
  // ── reads: the journal directory ──────────────────────────────────────────────────────────────
  {
    id: "journal-file-link-out",
    attack: "link out",
    mode: "ro",
    plant: (t) => t.link(`${JOURNAL}/system.journal`, `${t.canary}/shadow`),
    request: { url: "/v1/journal?boot=0" },
    status: 422,
    code: "unsafe-file",
  },
  {
    id: "journal-machine-dir-link-out",
    attack: "link out",
    mode: "ro",
    plant: (t) => t.link("/var/log/journal/0123456789abcdef0123456789abcdef", t.canary),
    request: { url: "/v1/journal/boots" },
    status: 422,
    code: "unsafe-file",
  },
  {
    id: "journal-dir-link-out",
    attack: "link out",
    mode: "ro",
    plant: async (t) => {
      await t.rm("/var/log/journal");
      await t.link("/var/log/journal", t.canary);
    },
    request: { url: "/v1/journal?boot=0" },
    status: 404,
    code: "no-journal",
  },
  {
    // The diagnosis reads the journal by the same path as GET /v1/journal (it used to follow this link).
    id: "diagnosis-journal-machine-dir-link-out",
    attack: "link out",
    mode: "ro",
    plant: (t) => t.link("/var/log/journal/0123456789abcdef0123456789abcdef", t.canary),
    request: { url: "/v1/diagnosis" },
    status: 200,
    check: (b) => {
      expect(b.journal).toMatchObject({ state: "unreadable" });
      expect(b.journal.detail).toMatch(/is a link in the journal directory/);
    },
  },
  {
    id: "journal-fifo",
    attack: "FIFO",
    mode: "ro",
    plant: (t) => t.fifo(`${JOURNAL}/system.journal`),
    request: { url: "/v1/journal?boot=0" },
    status: 422,
    code: "unsafe-file",
  },
  // ── reads: job records left on the disk ───────────────────────────────────────────────────────
  {
    id: "job-records-malformed",
    attack: "malformed record",
    mode: "ro",
    plant: async (t) => {
      const d = `${AUDIT}/jobs`;
      await t.write(`${d}/${GOOD_JOB}.json`, jobRecord(GOOD_JOB, "running"));
      await t.write(`${d}/22222222-2222-4222-8222-222222222222.json`, "{not json");
      await t.write(
        `${d}/33333333-3333-4333-8333-333333333333.json`,
        '{"id":"33333333-3333-4333-8333-333333333333","state":"succeeded","steps":"x"}',
      );
      await t.write(`${d}/44444444-4444-4444-8444-444444444444.json`, jobRecord(GOOD_JOB));
      await t.fifo(`${d}/55555555-5555-4555-8555-555555555555.json`);
      await t.link(`${d}/66666666-6666-4666-8666-666666666666.json`, `${t.canary}/shadow`);
      await t.sparse(`${d}/77777777-7777-4777-8777-777777777777.json`, GIB10);
      await t.write(`${d}/88888888-8888-4888-8888-888888888888.json`, "[[[[[[[[[[".repeat(20_000));
      await t.write(`${d}/99999999-9999-4999-8999-999999999999.json`, '{"__proto__":{"polluted":1}}');
    },
    request: { url: "/v1/jobs" },
    status: 200,
    check: (b) => {
      expect(b.jobs.map((j: { id: string; state: string }) => [j.id, j.state])).toEqual([
        [GOOD_JOB, "interrupted"],
      ]);
      expect(b.warnings).toHaveLength(8);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    },
  },
  // ── reads: the ESP (FAT on real disks: huge files and odd names are what it can hold) ─────────
  {
    id: "loader-conf-huge",
    attack: "huge file",
    mode: "ro",
    needs: ["esp"],
    plant: (t) => t.write("/boot/loader/loader.conf", `timeout 5\n${"#".repeat(200 * 1024)}\n`),
    request: { url: "/v1/boot" },
    status: 422,
    code: "file-too-large",
  },
  {
    id: "boot-entry-huge",
    attack: "huge file",
    mode: "ro",
    needs: ["esp"],
    plant: (t) => t.write("/boot/loader/entries/nixos-generation-9.conf", "#".repeat(200 * 1024)),
    request: { url: "/v1/boot" },
    status: 200,
    check: (b) => expect(b.notes.join("\n")).toMatch(/nixos-generation-9\.conf skipped: .* larger than/),
  },
  {
    id: "loader-conf-fifo",
    attack: "FIFO",
    mode: "ro",
    needs: ["non-fat-esp"],
    plant: async (t) => {
      await t.rm("/boot/loader/loader.conf");
      await t.fifo("/boot/loader/loader.conf");
    },
    request: { url: "/v1/boot" },
    status: 422,
    code: "unsafe-file",
  },
  {
    id: "boot-entry-link-out",
    attack: "link out",
    mode: "ro",
    needs: ["non-fat-esp"],
    plant: (t) => t.link("/boot/loader/entries/nixos-generation-9.conf", `${t.canary}/shadow`),
    request: { url: "/v1/boot" },
    status: 200,
    check: (b) => expect(b.notes.join("\n")).toMatch(/nixos-generation-9\.conf skipped: .*symbolic link/),
  },
  {
    id: "grub-cfg-fifo",
    attack: "FIFO",
    mode: "ro",

    plant: async (t) => {
      await t.rm("/boot/loader/loader.conf");
      await t.fifo("/boot/grub/grub.cfg");
    },
    request: { url: "/v1/boot" },
    status: 422,
    code: "unsafe-file",
  },
  // ── writes: the audit log, job records, backups, temp files ───────────────────────────────────
  {
    id: "audit-log-fifo",
    attack: "FIFO",
    mode: "rw",
    plant: (t) => t.fifo(`${AUDIT}/audit.jsonl`),
    cleanup: (t) => t.rm(`${AUDIT}/audit.jsonl`),
    request: kernelParams,
    status: 422,
    code: "unsafe-file",
  },
  {
    id: "audit-log-link-out",
    attack: "link at a write path",
    mode: "rw",
    plant: (t) => t.link(`${AUDIT}/audit.jsonl`, `${t.canary}/authorized_keys`),
    cleanup: (t) => t.rm(`${AUDIT}/audit.jsonl`),
    request: kernelParams,
    status: 422,
    code: "unsafe-file",
  },
  {
    id: "audit-log-block-device",
    attack: "device node",
    mode: "rw",
    needs: ["root"],
    plant: (t) => t.node(`${AUDIT}/audit.jsonl`, "b", 7, 250),
    cleanup: (t) => t.rm(`${AUDIT}/audit.jsonl`),
    request: kernelParams,
    status: 422,
    code: "unsafe-file",
  },
  {
    id: "audit-log-hard-link",
    attack: "hard link",
    mode: "rw",
    plant: async (t) => {
      await t.write("/etc/shadow", "root:!:1::::::\n");
      await t.hardlink(`${AUDIT}/audit.jsonl`, "/etc/shadow");
    },
    cleanup: (t) => t.rm(`${AUDIT}/audit.jsonl`),
    request: kernelParams,
    status: 422,
    code: "unsafe-file",
  },
  {
    id: "audit-dir-link-out",
    attack: "link at a write path",
    mode: "rw",
    plant: async (t) => {
      await t.rm(AUDIT);
      await t.link(AUDIT, t.canary);
    },
    cleanup: (t) => t.rm(AUDIT),
    request: kernelParams,
    status: 422,
    code: "unsafe-file",
  },
  {
    id: "jobs-dir-link-out",
    attack: "link at a write path",
    mode: "rw",
    plant: (t) => t.link(`${AUDIT}/jobs`, t.canary),
    cleanup: (t) => t.rm(`${AUDIT}/jobs`),
    request: kernelParams,
    status: 422,
    code: "unsafe-file",
  },
  {
    id: "backups-dir-link-out",
    attack: "link at a write path",
    mode: "rw",
    plant: (t) => t.link(`${AUDIT}/backups`, t.canary),
    needs: ["non-zfs"],
    request: { method: "POST", url: "/v1/rebuild", payload: { action: "build" } },
    status: 422,
    code: "unsafe-file",
  },
  {
    id: "config-write-fifo",
    attack: "FIFO",
    mode: "rw",
    plant: async (t) => {
      await t.rm("/etc/nixos/configuration.nix");
      await t.fifo("/etc/nixos/configuration.nix");
    },
    request: putConfig("configuration.nix", "{ }\n"),
    status: 422,
    code: "unsafe-file",
  },
  {
    id: "config-write-link-out",
    attack: "link at a write path",
    mode: "rw",
    plant: (t) => t.link("/etc/nixos/host.nix", `${t.canary}/authorized_keys`),
    request: putConfig("host.nix", "{ }\n"),
    status: 400,
    code: "path-escape",
  },
  {
    id: "config-write-new-dir-link-out",
    attack: "link at a write path",
    mode: "rw",
    plant: (t) => t.link("/etc/nixos/hosts", t.canary),
    request: putConfig("hosts/new/x.nix", "{ }\n"),
    status: 400,
    code: "path-escape",
  },
  {
    id: "config-backup-names-planted",
    attack: "planted backup names",
    mode: "rw",
    plant: async (t) => {
      await t.write("/etc/nixos/configuration.nix", KNOWN_CONFIG);
      // Links at every backup name the next minutes could use (the stamp has seconds).
      const now = Date.now();
      for (let s = -5; s < 180; s++) {
        const stamp = new Date(now + s * 1000)
          .toISOString()
          .replace(/[-:]/g, "")
          .replace(/\.\d+Z$/, "Z");
        await t.link(`/etc/nixos/configuration.nix.lifeboat-${stamp}`, `${t.canary}/authorized_keys`);
      }
    },
    request: putConfig("configuration.nix", "{ fixed = true; }\n", etagOf(KNOWN_CONFIG)),
    status: 200,
    check: (b) => expect(b.result.backup).toMatch(/\.lifeboat-\d{8}T\d{6}Z-[0-9a-f]{8}$/),
  },
  {
    id: "entry-backup-link-out",
    attack: "link at a write path",
    mode: "rw",
    needs: ["non-fat-esp"],
    plant: (t) => t.link(`${ENTRY}.lifeboat-orig`, `${t.canary}/authorized_keys`),
    cleanup: (t) => t.rm(`${ENTRY}.lifeboat-orig`),
    request: kernelParams,
    status: 422,
    code: "unsafe-file",
  },
  {
    id: "loader-conf-backup-fifo",
    attack: "FIFO",
    mode: "rw",
    needs: ["non-fat-esp"],
    plant: (t) => t.fifo("/boot/loader/loader.conf.lifeboat-orig"),
    request: { method: "POST", url: "/v1/boot/default", payload: { generation: 2 } },
    status: 422,
    code: "unsafe-file",
  },
  {
    id: "entry-write-dead-disk",
    attack: "dead disk",
    mode: "rw",
    needs: ["fault"],
    plant: async () => undefined,
    request: kernelParams,
    status: 504,
    code: "file-timeout",
  },
];

/** File operations on a staged tree (host paths under `root`). */
export function planter(root: string, canary: string, system: string): Planter {
  const h = (p: string) => join(root, p);
  const parent = (p: string) => mkdir(dirname(h(p)), { recursive: true });
  return {
    root,
    canary,
    system,
    write: async (p, text) => {
      await parent(p);
      await writeFile(h(p), text);
    },
    writeRaw: async (dir, name, text) => {
      await mkdir(h(dir), { recursive: true });
      await writeFile(Buffer.concat([Buffer.from(`${h(dir)}/`), name]), text);
    },
    link: async (p, target) => {
      await parent(p);
      await symlink(target, h(p));
    },
    fifo: async (p) => {
      await parent(p);
      await execa("mkfifo", [h(p)]);
    },
    node: async (p, type, major, minor) => {
      await parent(p);
      await execa("mknod", [h(p), type, String(major), String(minor)]);
    },
    sparse: async (p, bytes) => {
      await parent(p);
      await writeFile(h(p), "");
      await truncate(h(p), bytes);
    },
    hardlink: async (p, existing) => {
      await parent(p);
      await link(h(existing), h(p));
    },
    rm: (p) => rm(h(p), { recursive: true, force: true }),
  };
}

/** In-root path of the current generation's store directory of a makeNixosTree tree. */
export async function currentSystem(root: string): Promise<string> {
  const gen = await readlink(join(root, "nix/var/nix/profiles/system"));
  return readlink(join(root, "nix/var/nix/profiles", gen));
}

/** Families of attacks in the table (README's numbers). */
export function attackFamilies(): string[] {
  return [...new Set(CASES.map((c) => c.attack))];
}

/** sha256 over a directory tree (names, modes, sizes, link targets, contents): the canary's state. */
export async function hashTree(p: string): Promise<string> {
  const h = createHash("sha256");
  const walk = async (d: string) => {
    for (const name of (await readdir(d)).sort()) {
      const full = join(d, name);
      const s = await lstat(full);
      h.update(`${full}\0${s.mode}\0${s.size}\0`);
      if (s.isDirectory()) await walk(full);
      else if (s.isSymbolicLink()) h.update(await readlink(full));
      else if (s.isFile()) h.update(await readFile(full));
    }
  };
  await walk(p);
  return h.digest("hex");
}

/** The rescue side's canary tree (laid anew if it exists): nothing the agent does may change it. */
export async function layCanary(canary: string): Promise<void> {
  await rm(canary, { recursive: true, force: true });
  await mkdir(canary);
  for (const f of ["authorized_keys", "shadow", "fstab"]) await writeFile(join(canary, f), CANARY_TEXT);
}
