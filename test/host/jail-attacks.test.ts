/**
 * Disk data that tries to command the rescue side through the programs the agent runs on it, with
 * the real programs (git, journalctl, bubblewrap) on real files, as root:
 *
 * - /etc/nixos/.git set up as a partial clone whose promisor remote's `uploadpack` is a command (one
 *   object missing): reading the history must not run it. A control shows the attack is live: git
 *   run as the agent ran it before (hardened, but not jailed, no protocol.allow, no refusal) runs
 *   the disk's command as root.
 * - /var/log/journal/<machine-id> as a link to a journal outside the disk holding a secret: neither
 *   the diagnosis nor GET /v1/journal returns it (a control shows journalctl itself would print it);
 *   the same journal inside the disk, 0640 root:systemd-journal as journald writes it, IS read by the
 *   jailed journalctl (nobody, with the journal's group).
 *
 * Journal files are written by systemd-journal-remote from journal export text. Root only.
 */

import { existsSync } from "node:fs";
import { chmod, chown, copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BootService } from "../../agent/src/app/boot.js";
import type { RescueContext } from "../../agent/src/app/context.js";
import { DiagnosisService } from "../../agent/src/app/diagnosis.js";
import { gitHistory } from "../../agent/src/app/gitHistory.js";
import { JournalService } from "../../agent/src/app/journal.js";
import type { ConfigService } from "../../agent/src/app/nixconfig.js";
import { gitInvocation } from "../../agent/src/core/gitlog.js";
import { JAIL_TOOLS, which } from "../../agent/src/system/jail.js";
import { RealSystem } from "../../agent/src/system/real.js";
import { RootFs } from "../../agent/src/system/rootfs.js";
import { NodeDirFs } from "../../agent/src/system/rootfs-node.js";
import { decoderEntry } from "../helpers/decoder-entry.js";
import { registerSecret } from "../helpers/secrets.js";

const JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote";
const isRoot = process.getuid?.() === 0;
const missing = [...JAIL_TOOLS, "git", "journalctl"].filter((t) => !which(t));
if (!existsSync(JOURNAL_REMOTE)) missing.push(JOURNAL_REMOTE);
const why = !isRoot ? "needs root (the jail)" : missing.length ? `needs ${missing.join(", ")}` : "";
if (why) console.warn(`jail attacks host test SKIPPED: ${why}`);

const SECRET = "lifeboat.token=RESCUE-SIDE-SECRET-7a6b5c4d3e2f";
registerSecret(SECRET);
const MID = "4e94ca0830aecd9a467e26d22b49108a";
const BOOT = "0123456789abcdef0123456789abcdef";
/** A group id for systemd-journal that the rescue side need not have. */
const JOURNAL_GID = 62;

/** A real journal file holding one boot's kernel command line. */
async function journalFile(path: string, cmdline: string): Promise<void> {
  const us = BigInt(Date.now() - 3_600_000) * 1000n;
  const entry = (i: number, fields: Record<string, string>) =>
    `${Object.entries({
      __REALTIME_TIMESTAMP: String(us + BigInt(i)),
      __MONOTONIC_TIMESTAMP: String(1000 + i),
      _BOOT_ID: BOOT,
      _MACHINE_ID: MID,
      _HOSTNAME: "atlas",
      ...fields,
    })
      .map(([k, v]) => `${k}=${v}`)
      .join("\n")}\n\n`;
  const text =
    entry(0, {
      _TRANSPORT: "kernel",
      PRIORITY: "5",
      MESSAGE: `Command line: BOOT_IMAGE=/boot/bzImage ${cmdline}`,
    }) +
    entry(1, {
      _TRANSPORT: "journal",
      PRIORITY: "6",
      SYSLOG_IDENTIFIER: "systemd",
      MESSAGE: "Reached target Multi-User System.",
    });
  await execa(JOURNAL_REMOTE, ["-o", path, "-"], { input: text });
  // as journald leaves them: root:systemd-journal, 0640 files in 2755 directories
  await chown(path, 0, JOURNAL_GID);
  await chmod(path, 0o640);
}

async function journalDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await chown(dir, 0, JOURNAL_GID);
  await chmod(dir, 0o2755);
}

describe.skipIf(!!why)("disk data never commands the rescue side (real git, journalctl, bwrap)", () => {
  const sys = new RealSystem(pino({ level: "silent" }), decoderEntry());
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "lifeboat-jail-attacks-"));
    await chmod(dir, 0o755);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe("/etc/nixos/.git as a partial clone whose promisor runs a command", () => {
    let root = "";
    let marker = "";
    let gitDir = "";
    let revs: [string, string] = ["", ""];
    const git = (...args: string[]) => execa("git", args, { cwd: join(root, "etc/nixos") });

    beforeAll(async () => {
      root = join(dir, "git-root");
      marker = join(dir, "UPLOADPACK-RAN");
      gitDir = join(root, "etc/nixos/.git");
      await mkdir(join(root, "etc/nixos"), { recursive: true });
      await mkdir(join(dir, "upstream"));
      await git("init", "-q", ".");
      for (const [n, date] of [
        [1, "2026-01-01T00:00:00Z"],
        [2, "2026-02-01T00:00:00Z"],
      ] as const) {
        await writeFile(join(root, "etc/nixos/configuration.nix"), `{ boot.kernelParams = [ "n=${n}" ]; }\n`);
        await git("add", "configuration.nix");
        await execa(
          "git",
          [
            "-c",
            "user.name=op",
            "-c",
            "user.email=op@atlas",
            "commit",
            "-qm",
            `change ${n}`,
            `--date=${date}`,
          ],
          {
            cwd: join(root, "etc/nixos"),
            env: { GIT_COMMITTER_DATE: date },
          },
        );
      }
      revs = [(await git("rev-parse", "HEAD~1")).stdout, (await git("rev-parse", "HEAD")).stdout];
      // one object missing, and a promisor remote that "fetches" it by running the disk's command
      const blob = (await git("rev-parse", "HEAD:configuration.nix")).stdout;
      await rm(join(gitDir, "objects", blob.slice(0, 2), blob.slice(2)));
      await git("config", "core.repositoryformatversion", "1");
      await git("config", "extensions.partialClone", "origin");
      await git("config", "remote.origin.url", join(dir, "upstream"));
      await git("config", "remote.origin.promisor", "true");
      await git("config", "remote.origin.uploadpack", `touch ${marker}; git-upload-pack`);
      await execa("chmod", ["-R", "a+rX", root]);
    });

    const diffArgs = () => [
      "diff",
      "--unified=0",
      "--no-color",
      "--no-ext-diff",
      "--no-textconv",
      ...revs,
      "--",
      "*.nix",
    ];

    it("control: the attack is live (git as the agent ran it before runs the disk's command, as root)", async () => {
      // the invocation of before: the same config overrides, but not jailed, not refused, and without
      // what now stops any transport (protocol.allow=never, GIT_PROTOCOL_FROM_USER=0, GIT_NO_LAZY_FETCH)
      const { env, args } = gitInvocation(gitDir);
      const before = args.filter(
        (a, i) => a !== "protocol.allow=never" && args[i + 1] !== "protocol.allow=never",
      );
      const { GIT_NO_LAZY_FETCH: _a, GIT_PROTOCOL_FROM_USER: _b, ...oldEnv } = env;
      await execa("git", [...before, ...diffArgs()], {
        env: { ...oldEnv, HOME: "/var/empty" },
        reject: false,
      });
      expect(existsSync(marker)).toBe(true);
      await rm(marker);
    });

    it("the diagnosis's history reader refuses the repository and runs nothing", async () => {
      const files = new RootFs(new NodeDirFs(), root);
      const g = await gitHistory(sys, files, "2025-12-01T00:00:00Z", "2026-03-01T00:00:00Z");
      expect(g).toMatchObject({ state: "refused", commits: [], changes: [] });
      expect(g.detail).toMatch(/extensions\.partialClone/);
      expect(existsSync(marker)).toBe(false);
    });

    it("past the refusal, jailed hardened git still runs nothing (no transport, no network, nobody, read-only)", async () => {
      const { env, args } = gitInvocation(gitDir);
      const r = await sys.runJailed("git", "git", [...args, ...diffArgs()], { data: gitDir, env });
      expect(r.exitCode).not.toBe(0);
      expect(existsSync(marker)).toBe(false);
      // and the hardening alone (no jail) stops the fetch before any command runs
      const plain = await execa("git", [...args, ...diffArgs()], { env, reject: false });
      expect(plain.stderr).toMatch(/not allowed|lazy fetching disabled/);
      expect(existsSync(marker)).toBe(false);
    });

    it("a normal repository is read by the jailed git (commits and the .nix change)", async () => {
      await git("config", "--unset", "extensions.partialClone");
      await git("config", "--remove-section", "remote.origin");
      await git("config", "core.repositoryformatversion", "0");
      const blob = (await git("rev-parse", "HEAD:configuration.nix")).stdout;
      // put the missing object back (hash-object -w writes the same blob)
      await execa("git", [
        "--git-dir",
        gitDir,
        "hash-object",
        "-w",
        join(root, "etc/nixos/configuration.nix"),
      ]);
      expect((await git("cat-file", "-t", blob)).stdout).toBe("blob");
      await execa("chmod", ["-R", "a+rX", root]);
      const files = new RootFs(new NodeDirFs(), root);
      const g = await gitHistory(sys, files, "2025-12-01T00:00:00Z", "2026-03-01T00:00:00Z");
      expect(g.state, g.detail ?? "").toBe("ok");
      expect(g.commits.map((c) => c.subject)).toEqual(["change 2", "change 1"]);
      expect(existsSync(marker)).toBe(false);
    });
  });

  describe("/var/log/journal/<machine-id> linked to a journal outside the disk", () => {
    let root = "";
    let outside = "";

    function services() {
      const files = new RootFs(new NodeDirFs(), root);
      const ctx = {
        sys,
        root,
        mounted: async () => ({ installed: { files }, pool: null }),
        listSnapshots: async () => [],
      } as unknown as RescueContext;
      const boot = {
        generations: async () => ({ generations: [] }),
        boot: async () => null,
      } as unknown as BootService;
      const config = {
        tree: async () => {
          throw new Error("no configuration in this test");
        },
      } as unknown as ConfigService;
      return { diagnosis: new DiagnosisService(ctx, boot, config), journal: new JournalService(ctx) };
    }

    beforeAll(async () => {
      root = join(dir, "journal-root");
      outside = join(dir, "rescue-side-journal");
      await journalDir(join(outside, MID));
      await journalFile(join(outside, MID, "system.journal"), SECRET);
      await journalDir(join(root, "var/log/journal"));
      await symlink(join(outside, MID), join(root, "var/log/journal", MID));
    });

    it("control: journalctl itself follows the link and prints the secret", async () => {
      const r = await execa("journalctl", ["-D", join(root, "var/log/journal"), "-o", "json", "--no-pager"], {
        reject: false,
      });
      expect(r.stdout).toContain(SECRET);
    });

    it("the diagnosis does not return it: the journal is unreadable, and says why", async () => {
      const d = await services().diagnosis.diagnose();
      expect(JSON.stringify(d)).not.toContain(SECRET);
      expect(d.journal).toMatchObject({ state: "unreadable" });
      expect(d.journal.detail).toMatch(/link/);
    });

    it("GET /v1/journal's reader refuses it too (unsafe-file)", async () => {
      await expect(services().journal.entries({ boot: "0" })).rejects.toMatchObject({ code: "unsafe-file" });
    });

    it("the same journal inside the disk (0640 root:systemd-journal) is read by the jailed journalctl", async () => {
      await rm(join(root, "var/log/journal", MID));
      await journalDir(join(root, "var/log/journal", MID));
      await copyFile(
        join(outside, MID, "system.journal"),
        join(root, "var/log/journal", MID, "system.journal"),
      );
      await chown(join(root, "var/log/journal", MID, "system.journal"), 0, JOURNAL_GID);
      await chmod(join(root, "var/log/journal", MID, "system.journal"), 0o640);
      const { diagnosis, journal } = services();
      const d = await diagnosis.diagnose();
      expect(d.journal, JSON.stringify(d.journal)).toMatchObject({ state: "ok", bootsTotal: 1 });
      const page = await journal.entries({ boot: "0" });
      expect(page.entries.map((e) => e.message)).toContain("Reached target Multi-User System.");
    });
  });
});
