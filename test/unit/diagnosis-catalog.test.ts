// The diagnosis against the catalog of failures that stop NixOS servers (docs/diagnosis.md): each
// class's journal is written by systemd's own code (systemd-journal-remote, from the export text
// test/fixtures/diagnosis/catalog/<class>.export that test/diagnosis-catalog/ generates), read by the
// real journalctl, on generations laid out as nixos-rebuild leaves them and the devices of a real
// capture. The diagnosis must name the class first, cite journal lines that exist, and its fix,
// sent through the API as the diagnosis wrote it, must change the installed system as it says.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { mkdir, readdir, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { diagnoseCommand } from "../../agent/src/client/diagnose.js";
import type { Connection } from "../../agent/src/client/http.js";
import type { Diagnosis, Proposal } from "../../agent/src/core/diagnosis.js";
import { buildServer } from "../../agent/src/http/server.js";
import { REDACT_PATHS } from "../../agent/src/logger.js";
import type { CommandResult, OutputLine } from "../../agent/src/system/system.js";
import { LogSink, rig } from "../app/harness.js";
import { CONSOLES } from "../diagnosis-catalog/consoles.js";
import { exportText, JOURNAL_REMOTE, MACHINE_ID, writeJournal } from "../diagnosis-catalog/export.js";
import { SCENARIOS, type Scenario } from "../diagnosis-catalog/scenarios.js";
import { layGenerations } from "../diagnosis-catalog/tree.js";
import type { FileOp } from "../helpers/fake-system.js";

const TOKEN = "catalog-token-0123456789abcdef-SECRET";
const auth = { authorization: `Bearer ${TOKEN}` };
const EXPORTS = join(import.meta.dirname, "..", "fixtures", "diagnosis", "catalog");
const exportFile = (s: Scenario) => join(EXPORTS, `${s.name}.export`);

/** journalctl for real, on the sandbox's copy of the installed system (-D /mnt/… → <sandbox>/mnt/…). */
function journalctl(sandbox: string, args: readonly string[]): CommandResult {
  const real = args.map((a, i) => (args[i - 1] === "-D" ? `${sandbox}${a}` : a));
  try {
    const stdout = execFileSync("journalctl", real, {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      maxBuffer: 64 << 20,
    });
    return { exitCode: 0, stdout, stderr: "", timedOut: false, notFound: false, durationMs: 1 };
  } catch (e) {
    const err = e as { status?: number; stdout?: string; stderr?: string };
    return {
      exitCode: err.status ?? 1,
      stdout: err.stdout ?? "",
      stderr: err.stderr ?? "",
      timedOut: false,
      notFound: false,
      durationMs: 1,
    };
  }
}

const open: { close: () => Promise<unknown> }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((a) => a.close()));
});

/** The network check of a rebuild, answered as a reachable binary cache (tests never reach the internet). */
const online = async (urls: readonly string[]) =>
  urls.map((url) => ({ url, host: new URL(url).host, dns: "192.0.2.1", http: 200, error: null, ms: 1 }));

async function broken(
  s: Scenario,
  fileFault?: (op: FileOp, path: string) => string | undefined,
  rebuildable = false,
) {
  let sandbox = "";
  const fstab = s.rig === "ext4" ? s.gens.find((g) => g.n === 41)?.fstab : undefined;
  const r = await rig(s.rig, {
    tree: fstab ? { fstab } : {},
    ...(rebuildable ? { reach: online } : {}),
    fake: {
      fileFault,
      extra: (file, args) => (file === "journalctl" ? journalctl(sandbox, args) : undefined),
      spawnScript: (file, args) => {
        if (file !== "journalctl")
          return rebuildable
            ? { lines: [{ stream: "stdout", text: "building the system configuration..." }], exitCode: 0 }
            : undefined;
        const res = journalctl(sandbox, args);
        const lines: OutputLine[] = res.stdout
          .split("\n")
          .filter(Boolean)
          .map((text) => ({ stream: "stdout", text }));
        return { lines, exitCode: res.exitCode };
      },
    },
  });
  sandbox = r.dir;
  await layGenerations(`${r.dir}/mnt`, s.gens, s.config);
  // what the root file system holds under the ESP's mount point (the fake's non-recursive bind shows it)
  for (const [path, f] of Object.entries(s.underneath ?? {})) {
    const at = join(r.dir, ".underneath/mnt", path);
    await mkdir(dirname(at), { recursive: true });
    await writeFile(at, f.text);
    await utimes(at, new Date(f.date), new Date(f.date));
  }
  const dir = `${r.dir}/mnt/var/log/journal/${MACHINE_ID}`;
  await rm(dir, { recursive: true, force: true });
  writeJournal(readFileSync(exportFile(s), "utf8"), `${dir}/system.journal`);
  const sink = new LogSink();
  const app = await buildServer({
    token: TOKEN,
    logger: pino({ level: "trace", redact: { paths: REDACT_PATHS, censor: "[redacted]" } }, sink),
    services: r.services,
  });
  open.push(app);
  // a fstab entry whose device is gone (mount-failed's /mnt/extern) is acknowledged, as the operator would
  await r.mounts.mount({ readonly: false, ...(s.acceptSkipped ? { acceptSkipped: s.acceptSkipped } : {}) });
  return { r, app, sink };
}

/** Send a proposal's requests as the diagnosis wrote them; every one must succeed. */
async function apply(app: Awaited<ReturnType<typeof buildServer>>, p: Proposal) {
  for (const q of p.requests) {
    const res = await app.inject({
      method: q.method,
      url: q.path,
      headers: { ...auth, ...(q.headers ?? {}) },
      ...(q.body ? { payload: q.body } : {}),
    });
    expect(res.statusCode, `${q.method} ${q.path}: ${res.body}`).toBeLessThan(300);
  }
}

describe("the catalog's export texts are what test/diagnosis-catalog generates", () => {
  for (const s of SCENARIOS)
    it(s.name, () => {
      const text = exportText(s.boots);
      if (process.env.LIFEBOAT_WRITE_EXPORTS === "1") writeFileSync(exportFile(s), text);
      expect(readFileSync(exportFile(s), "utf8")).toBe(text);
    });
});

describe.skipIf(!existsSync(JOURNAL_REMOTE))(
  "GET /v1/diagnosis on each catalog failure (real journal files)",
  () => {
    const diagnose = async (app: Awaited<ReturnType<typeof buildServer>>): Promise<Diagnosis> => {
      const res = await app.inject({ url: "/v1/diagnosis", headers: auth });
      expect(res.statusCode, res.body).toBe(200);
      return res.json();
    };
    /** Every journal line the finding cites is a message of that journal (real journalctl --cursor). */
    const citesRealLines = (r: { dir: string }, d: Diagnosis) => {
      const ev = d.findings[0]?.evidence.filter((e) => e.kind === "journal") ?? [];
      for (const e of ev) {
        const out = journalctl(r.dir, [
          "-D",
          "/mnt/var/log/journal",
          `--cursor=${e.ref}`,
          "-n",
          "1",
          "-o",
          "cat",
          "--no-pager",
        ]);
        expect(out.stdout.split("\n")[0]).toBe(e.detail);
      }
      return ev.length;
    };

    it("mount-failed: /mnt/extern timed out, emergency mode; the hotfix and the nofail edit apply", async () => {
      const s = SCENARIOS.find((x) => x.name === "mount-failed") as Scenario;
      const { r, app } = await broken(s);
      const before = r.sys.mutations().length;
      const d = await diagnose(app);
      expect(r.sys.mutations().slice(before)).toEqual([]);
      // the pool's own snapshots only (what a recursive snapshot is named by), never every dataset's
      const listed = r.sys.commandLines().filter((l) => /^zfs list .*-o name,creation,used /.test(l));
      expect(listed).toEqual(["zfs list -H -p -t snapshot -o name,creation,used -d 1 nvmepool"]);
      // a pool with room: its snapshots' space is not listed (the space-full case below lists it)
      expect(r.sys.commandLines().filter((l) => l.includes("createtxg"))).toEqual([]);
      const f = d.findings[0];
      expect(f?.class).toBe("mount-failed");
      expect(f?.confidence).toBe("high");
      expect(d.cause).toMatch(
        /^\/mnt\/extern \(mnt-extern\.mount\) could not be mounted in generation 42's boot: its device .*usb-WD_Elements.* never appeared; local-fs\.target failed and systemd entered emergency mode/,
      );
      expect(citesRealLines(r, d)).toBeGreaterThanOrEqual(3);
      expect(d.generations.find((g) => g.number === 42)?.status).toBe("failed");
      expect(f?.fixes.map((p) => p.kind)).toEqual([
        "loader-default",
        "kernel-param",
        "config-edit",
        "rebuild",
      ]);
      expect(f?.needs[0]).toMatch(/generation 41 mounts \/mnt\/extern from the same device/);
      const hot = f?.fixes[1] as Proposal;
      await apply(app, hot);
      const entry = await readFile(join(r.dir, "mnt/boot/loader/entries/nixos-generation-42.conf"), "utf8");
      expect(entry).toMatch(/^options .* systemd\.mask=emergency\.service systemd\.mask=emergency\.target$/m);
      const edit = f?.fixes[2] as Proposal;
      expect(edit.diff).toContain('+      options = [ "nofail" ];');
      await apply(app, edit);
      const hw = await readFile(join(r.dir, "mnt/etc/nixos/hardware-configuration.nix"), "utf8");
      expect(hw).toContain(
        `usb-WD_Elements_25A3_574343374B364C594C59454C-0:0-part1";\n      fsType = "ext4";\n      options = [ "nofail" ];\n    };`,
      );
    });

    it("sshd-failed: 42 reached multi-user but sshd could not bind; booting 41 by default applies", async () => {
      const s = SCENARIOS.find((x) => x.name === "sshd-failed") as Scenario;
      const { r, app } = await broken(s);
      const d = await diagnose(app);
      const f = d.findings[0];
      expect(f?.class).toBe("sshd-failed");
      expect(d.cause).toBe(
        `sshd did not start in generation 42's boot (sshd: "fatal: Cannot bind any address."), so the server could not be logged into although it booted.`,
      );
      expect(d.lastGood).toBe(41);
      expect(d.boots[0]).toMatchObject({ generation: 42, reached: "multi-user", reachable: false });
      expect(citesRealLines(r, d)).toBeGreaterThanOrEqual(2);
      expect(f?.fixes.map((p) => p.kind)).toEqual(["loader-default", "open-config"]);
      expect(f?.fixes[1]?.config).toEqual({ path: "configuration.nix", line: 13 });
      await apply(app, f?.fixes[0] as Proposal);
      expect(await readFile(join(r.dir, "mnt/boot/loader/loader.conf"), "utf8")).toMatch(
        /^default nixos-generation-41\.conf$/m,
      );
    });

    it("network-missing: eth0 became ens3; the rename edit and booting 41 apply", async () => {
      const s = SCENARIOS.find((x) => x.name === "network-missing") as Scenario;
      const { r, app } = await broken(s);
      const d = await diagnose(app);
      const f = d.findings[0];
      expect(f?.class).toBe("network-missing");
      expect(d.cause).toMatch(
        /^Generation 42 configures the network on eth0, but the kernel named that interface ens3 \("virtio_net virtio0 ens3: renamed from eth0"\)/,
      );
      expect(citesRealLines(r, d)).toBeGreaterThanOrEqual(2);
      expect(f?.fixes.map((p) => p.kind)).toEqual(["loader-default", "config-edit", "rebuild"]);
      await apply(app, f?.fixes[1] as Proposal);
      const conf = await readFile(join(r.dir, "mnt/etc/nixos/configuration.nix"), "utf8");
      expect(conf).toContain("networking.interfaces.ens3.ipv4.addresses");
      expect(conf).toContain('interface = "ens3";');
      expect(conf).not.toMatch(/\beth0\b/);
      await apply(app, f?.fixes[0] as Proposal);
      expect(await readFile(join(r.dir, "mnt/boot/loader/loader.conf"), "utf8")).toMatch(
        /^default nixos-generation-41\.conf$/m,
      );
    });

    it("logins-refused: root's logins refused on 42 (scanners' noise ignored); booting 41 applies", async () => {
      const s = SCENARIOS.find((x) => x.name === "logins-refused") as Scenario;
      const { r, app } = await broken(s);
      const d = await diagnose(app);
      const f = d.findings[0];
      expect(f?.class).toBe("logins-refused");
      expect(f?.confidence).toBe("high");
      expect(d.cause).toMatch(
        /^Every SSH login of root was refused on generation 42 \(3 refused, none accepted\) while root logged in before: .*users\.mutableUsers = false/,
      );
      expect(d.boots.find((b) => b.generation === 41)?.reachable).toBe(true);
      expect(citesRealLines(r, d)).toBeGreaterThanOrEqual(4);
      expect(f?.fixes.map((p) => p.kind)).toEqual(["loader-default", "open-config", "open-config"]);
      await apply(app, f?.fixes[0] as Proposal);
      expect(await readFile(join(r.dir, "mnt/boot/loader/loader.conf"), "utf8")).toMatch(
        /^default nixos-generation-41\.conf$/m,
      );
    });

    it("root-device-missing: 42's root UUID is on no disk; the UUID edit applies", async () => {
      const s = SCENARIOS.find((x) => x.name === "root-device-missing") as Scenario;
      const { r, app } = await broken(s);
      const d = await diagnose(app);
      const f = d.findings[0];
      expect(f?.class).toBe("root-device-missing");
      expect(d.cause).toBe(
        "Generation 42 mounts / from /dev/disk/by-uuid/0f3c6a0e-8d1b-4c1e-9a57-2b7d9e4c5a10, which no disk of this machine has: its stage 1 waits for that device and gives up before the root is mounted; generation 41 mounted it from /dev/disk/by-uuid/b49dfb2e-68df-4dcf-9beb-c7932824fef7 (/dev/nvme0n1p2).",
      );
      expect(d.generations.find((g) => g.number === 42)?.status).toBe("no-boot");
      expect(f?.fixes.map((p) => p.kind)).toEqual(["loader-default", "config-edit", "rebuild"]);
      const edit = f?.fixes[1] as Proposal;
      expect(edit.diff).toContain(
        '+    { device = "/dev/disk/by-uuid/b49dfb2e-68df-4dcf-9beb-c7932824fef7";',
      );
      await apply(app, edit);
      const hw = await readFile(join(r.dir, "mnt/etc/nixos/hardware-configuration.nix"), "utf8");
      expect(hw).toContain('device = "/dev/disk/by-uuid/b49dfb2e-68df-4dcf-9beb-c7932824fef7"');
      expect(hw).not.toContain("0f3c6a0e");
    });

    it("bootloader-not-updated: 42 has no entry; the cause is in 41's boot that built it (ESP full)", async () => {
      const s = SCENARIOS.find((x) => x.name === "bootloader-not-updated") as Scenario;
      const { r, app } = await broken(s);
      const d = await diagnose(app);
      const f = d.findings[0];
      expect(f?.class).toBe("bootloader-not-updated");
      expect(f?.confidence).toBe("high");
      expect(d.cause).toBe(
        'Generation 42 never got a boot-loader entry, so it never booted: installing it failed in the boot of generation 41 that built it because /boot (the ESP) was full ("cat: write error: No space left on device").',
      );
      expect(d.sentence).toMatch(
        /; 42 has no boot-loader entry: never booted \(the boot loader was not updated for it\)\.$/,
      );
      expect(d.generations.find((g) => g.number === 42)?.words).toMatch(
        /^no boot-loader entry: it was never booted/,
      );
      expect(citesRealLines(r, d)).toBeGreaterThanOrEqual(2);
      // free /boot: generations 1–3 (older than 41, not the default) go, with the kernel only they use
      expect(f?.fixes.map((p) => p.kind)).toEqual(["esp-free", "rebuild"]);
      const free = f?.fixes[0] as Proposal;
      expect(free.requests).toEqual([
        { method: "POST", path: "/v1/boot/esp/free", body: { generations: [1, 2, 3] } },
      ]);
      const efi = "mnt/boot/EFI/nixos";
      const old = [
        "d091193c4z96ab1fff067b5zcd26ab6z-linux-6.6.69-bzImage.efi",
        "d96aczd77fdc0ff39459976a1967af46-initrd-linux-6.6.69-initrd.efi",
      ];
      await mkdir(join(r.dir, efi), { recursive: true });
      for (const n of old) await writeFile(join(r.dir, efi, n), Buffer.alloc(4096, 7));
      await writeFile(join(r.dir, efi, "kept-by-41.efi"), "x");
      await apply(app, free);
      expect(
        (await readdir(join(r.dir, "mnt/boot/loader/entries"))).filter((n) => n.endsWith(".conf")).sort(),
      ).toEqual(["nixos-generation-41.conf"]);
      expect((await readdir(join(r.dir, efi))).sort()).toEqual(["kept-by-41.efi"]);
      const [stamp] = await readdir(join(r.dir, "mnt/var/lib/lifeboat/esp-removed"));
      expect(
        (await readdir(join(r.dir, "mnt/var/lib/lifeboat/esp-removed", stamp as string))).sort(),
      ).toEqual([
        `EFI_nixos_${old[0]}`,
        `EFI_nixos_${old[1]}`,
        "loader_entries_nixos-generation-1.conf",
        "loader_entries_nixos-generation-2.conf",
        "loader_entries_nixos-generation-3.conf",
      ]);
      // the change summary lists it, with where the removed files are kept (the ESP is in no snapshot)
      const sum = (await app.inject({ method: "GET", url: "/v1/changes", headers: auth })).json();
      const freed = sum.changes.find((c: { action: string }) => c.action === "esp-free");
      expect(freed?.undo?.text).toContain(`/var/lib/lifeboat/esp-removed/${stamp}`);
      // the default is never removed
      const res = await app.inject({
        method: "POST",
        url: "/v1/boot/esp/free",
        headers: auth,
        payload: { generations: [41] },
      });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ code: "validation-failed" });
      expect(d.proposals.some((p) => p.kind === "kernel-param")).toBe(false);
    });

    it("hostid-changed: 42 changed networking.hostId with forceImportRoot off; zfs_force=1 and the hostId edit apply", async () => {
      const s = SCENARIOS.find((x) => x.name === "hostid-changed") as Scenario;
      const { r, app } = await broken(s);
      const d = await diagnose(app);
      const f = d.findings[0];
      expect(f?.class).toBe("hostid-changed");
      expect(f?.confidence).toBe("high");
      expect(d.cause).toBe(
        "Generation 42 changed networking.hostId from 8425e349 to 2f1c9a6b and boot.zfs.forceImportRoot is false: its stage 1 finds the root pool last used by another system and does not import it.",
      );
      // the pool's label, read before the rescue imported it, names 41's hostid: nothing left to ask
      expect(f?.evidence.map((e) => e.detail)).toContain(
        "Last accessed by atlas (hostid=8425e349) at Wed Nov 25 19:13:10 2026 (read before the rescue imported the pool)",
      );
      expect(f?.needs).toEqual([]);
      expect(f?.fixes.map((p) => p.kind)).toEqual([
        "loader-default",
        "kernel-param",
        "config-edit",
        "rebuild",
      ]);
      await apply(app, f?.fixes[1] as Proposal);
      expect(await readFile(join(r.dir, "mnt/boot/loader/entries/nixos-generation-42.conf"), "utf8")).toMatch(
        /^options .* zfs_force=1$/m,
      );
      const edit = f?.fixes[2] as Proposal;
      expect(edit.diff).toContain('+  networking.hostId = "8425e349";');
      await apply(app, edit);
      expect(await readFile(join(r.dir, "mnt/etc/nixos/configuration.nix"), "utf8")).toContain(
        'networking.hostId = "8425e349";',
      );
    });

    it("pool-in-use-elsewhere: the label names atlas, both generations are borealis 2f1c9a6b; zfs_force=1 and the exported hand-back apply", async () => {
      const s = SCENARIOS.find((x) => x.name === "pool-in-use-elsewhere") as Scenario;
      const { r, app } = await broken(s);
      const d = await diagnose(app);
      const f = d.findings[0];
      expect(f?.class).toBe("pool-in-use-elsewhere");
      expect(f?.confidence).toBe("high");
      expect(d.cause).toBe(
        `The root pool nvmepool was last imported by atlas (hostid 8425e349) and not exported, while generation 42's hostid is 2f1c9a6b and the root pool's import is not forced (boot.zfs.forceImportRoot = false): its stage 1 stops at "cannot import 'nvmepool': pool was previously in use from another system".`,
      );
      expect(d.findings.some((x) => x.class === "hostid-changed")).toBe(false);
      // the label as the real zpool worded it before the rescue imported the pool (read-write here)
      expect(f?.evidence[0]?.detail).toMatch(
        /^Last accessed by atlas \(hostid=8425e349\) at Wed Nov 25 19:13:10 2026 \(read .*, before the rescue imported the pool; the rescue's hostid was 00bab10c\)$/,
      );
      expect(f?.evidence.map((e) => e.detail)).toEqual(
        expect.arrayContaining([
          "generation 42: 2f1c9a6b",
          "generation 41: 2f1c9a6b",
          "line 12: boot.zfs.forceImportRoot = false;",
        ]),
      );
      expect(f?.fixes.map((p) => p.kind)).toEqual(["hand-back", "kernel-param"]);
      await apply(app, f?.fixes[1] as Proposal);
      expect(await readFile(join(r.dir, "mnt/boot/loader/entries/nixos-generation-42.conf"), "utf8")).toMatch(
        /^options .* zfs_force=1$/m,
      );
      // the rescue's own imports (read-write, the label's hostid adopted) are never read back as the label
      const again = (
        await app.inject({ url: "/v1/diagnosis?refresh=true", headers: auth })
      ).json() as Diagnosis;
      expect(again.findings[0]?.evidence[0]?.detail).toMatch(/^Last accessed by atlas \(hostid=8425e349\)/);
      // the hand-back: read-write mount (already), export; the pool is then EXPORTED, and the server
      // (hostid 2f1c9a6b) imports it without -f
      const back = f?.fixes[0] as Proposal;
      expect(back.requests.map((q) => `${q.method} ${q.path}`)).toEqual([
        "POST /v1/mount",
        "POST /v1/export",
      ]);
      await apply(app, back);
      r.sys.hostid = "2f1c9a6b";
      expect((await r.sys.run("zpool", ["import", "-N", "nvmepool"])).exitCode).toBe(0);
    });

    it("a console capture given through the API (and the client's --console FILE): its lines cited, the rest neither kept, answered nor logged", async () => {
      const s = SCENARIOS.find((x) => x.name === "pool-in-use-elsewhere") as Scenario;
      const { r, app, sink } = await broken(s);
      const text = `${CONSOLES.poolInUse}root password: hunter2-CONSOLE-SECRET\r\n`;
      const res = await app.inject({
        method: "POST",
        url: "/v1/diagnosis/console",
        headers: auth,
        payload: { text },
      });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().found.map((l: { kind: string }) => l.kind)).toEqual([
        "stage1-start",
        "module-loading",
        "pool-import",
        "pool-in-use",
        "pool-last-host",
        "stage1-error",
      ]);
      const d = await diagnose(app);
      const f = d.findings[0];
      expect(f?.class).toBe("pool-in-use-elsewhere");
      expect(f?.evidence.filter((e) => e.kind === "console").map((e) => e.detail)).toEqual([
        "cannot import 'nvmepool': pool was previously in use from another system.",
        "Last accessed by atlas (hostid=8425e349) at Wed Nov 25 19:13:10 2026",
        "An error occurred in stage 1 of the boot process, which must mount the",
      ]);
      for (const out of [res.body, JSON.stringify(d), sink.text, r.logs.text])
        expect(out).not.toContain("CONSOLE-SECRET");
      // too large, or not text: a problem, nothing kept
      const big = await app.inject({
        method: "POST",
        url: "/v1/diagnosis/console",
        headers: auth,
        payload: { text: "x".repeat(1024 * 1024 + 1) },
      });
      expect(big.statusCode).toBe(400);
      expect(big.headers["content-type"]).toMatch(/^application\/problem\+json/);
      const bad = await app.inject({
        method: "POST",
        url: "/v1/diagnosis/console",
        headers: auth,
        payload: { text: 42 },
      });
      expect(bad.statusCode).toBe(400);
      // forgotten again
      expect(
        (await app.inject({ method: "DELETE", url: "/v1/diagnosis/console", headers: auth })).statusCode,
      ).toBe(200);
      expect((await diagnose(app)).findings[0]?.evidence.some((e) => e.kind === "console")).toBe(false);
      // the client: lifeboat client diagnose --console FILE
      const file = join(r.dir, "serial.log");
      await writeFile(file, text);
      const conn = {
        json: async (method: string, path: string, body?: unknown) => {
          const q = await app.inject({
            method: method as "GET",
            url: path,
            headers: auth,
            ...(method === "GET" ? {} : { payload: body as object }),
          });
          if (q.statusCode >= 400) throw new Error(q.body);
          return q.json();
        },
      } as unknown as Connection;
      const out: string[] = [];
      const err: string[] = [];
      const io = {
        out: (x: string) => out.push(x),
        err: (x: string) => err.push(x),
        confirm: async () => true,
      };
      expect(
        await diagnoseCommand(conn, io, { json: false, yes: false, apply: undefined, console: file }),
      ).toBe(0);
      expect(err.join("")).toContain("console: 18 lines read, 6 the diagnosis can cite");
      expect(out.join("")).toContain(
        "console: Last accessed by atlas (hostid=8425e349) at Wed Nov 25 19:13:10 2026 [console line 8]",
      );
      expect(out.join("")).not.toContain("CONSOLE-SECRET");
    });

    it("storage-driver-missing: 42's initrd lost nvme, the root pool's disk's driver; adding it to availableKernelModules applies", async () => {
      const s = SCENARIOS.find((x) => x.name === "storage-driver-missing") as Scenario;
      const { r, app } = await broken(s);
      const d = await diagnose(app);
      const f = d.findings[0];
      expect(f?.class).toBe("storage-driver-missing");
      expect(f?.confidence).toBe("high");
      expect(d.cause).toBe(
        `Generation 42's initrd lacks nvme, the driver of the root pool nvmepool's disk /dev/nvme0n1p2 (an NVMe disk), which generation 41's initrd had: its stage 1 never sees the disk ("importing root ZFS pool "nvmepool"…", then "cannot import 'nvmepool': no such pool available") and gives up before the root is mounted.`,
      );
      expect(d.generations.find((g) => g.number === 42)?.status).toBe("no-boot");
      // the module lists were read from the real archives (cpio + zstd) of both generations
      expect(d.changes?.initrd.modulesRemoved.sort()).toEqual(["nvme", "nvme_core"]);
      expect(f?.evidence.map((e) => e.detail)).toContain(
        "/dev/nvme0n1p2 (zfs_member nvmepool) is an NVMe disk: driver nvme",
      );
      expect(d.findings.some((x) => x.class === "stage1-module")).toBe(false);
      expect(f?.fixes.map((p) => p.kind)).toEqual(["loader-default", "config-edit", "rebuild"]);
      const edit = f?.fixes[1] as Proposal;
      expect(edit.diff).toContain(
        '+  boot.initrd.availableKernelModules = [ "nvme" "xhci_pci" "ahci" "usbhid" "sd_mod" ];',
      );
      await apply(app, edit);
      expect(await readFile(join(r.dir, "mnt/etc/nixos/hardware-configuration.nix"), "utf8")).toContain(
        'boot.initrd.availableKernelModules = [ "nvme" "xhci_pci" "ahci" "usbhid" "sd_mod" ];',
      );
      await apply(app, f?.fixes[0] as Proposal);
      expect(await readFile(join(r.dir, "mnt/boot/loader/loader.conf"), "utf8")).toMatch(
        /^default nixos-generation-41\.conf$/m,
      );
    });

    it("stage1-kernel-param: 42 added intel_iommu=on iommu=pt and never booted; undoing them on its entry applies", async () => {
      const s = SCENARIOS.find((x) => x.name === "stage1-kernel-param") as Scenario;
      const { r, app } = await broken(s);
      const d = await diagnose(app);
      const f = d.findings[0];
      expect(f?.class).toBe("stage1-kernel-param");
      expect(f?.confidence).toBe("medium");
      expect(d.cause).toBe(
        "Generation 42 changed the kernel command line (+intel_iommu=on +iommu=pt) and 42 never got as far as mounting the root: the kernel or stage 1 hangs or panics with these parameters.",
      );
      expect(d.generations.find((g) => g.number === 42)?.status).toBe("no-boot");
      // read from the generations' bootspecs, and the configuration line that sets them
      expect(f?.evidence.map((e) => [e.kind, e.detail])).toEqual([
        ["boot-entry", "kernel parameters of generation 42 against generation 41: +intel_iommu=on +iommu=pt"],
        ["file", 'line 11: boot.kernelParams = [ "intel_iommu=on" "iommu=pt" ];'],
      ]);
      expect(d.findings.some((x) => x.class === "stage1-module")).toBe(false);
      expect(f?.fixes.map((p) => p.kind)).toEqual(["loader-default", "kernel-param"]);
      const undo = f?.fixes[1] as Proposal;
      expect(undo.requests).toEqual([
        {
          method: "POST",
          path: "/v1/boot/entries/nixos-generation-42/kernel-params",
          body: { remove: ["intel_iommu=on", "iommu=pt"] },
        },
      ]);
      const entry = join(r.dir, "mnt/boot/loader/entries/nixos-generation-42.conf");
      expect(await readFile(entry, "utf8")).toMatch(/^options .*intel_iommu=on iommu=pt/m);
      await apply(app, undo);
      const options = (await readFile(entry, "utf8")).split("\n").find((l) => l.startsWith("options ")) ?? "";
      expect(options).not.toMatch(/intel_iommu|iommu=pt/);
      expect(options).toMatch(/init=\/nix\/store\/\S+-nixos-system-\S+\/init/);
      await apply(app, f?.fixes[0] as Proposal);
      expect(await readFile(join(r.dir, "mnt/boot/loader/loader.conf"), "utf8")).toMatch(
        /^default nixos-generation-41\.conf$/m,
      );
    });

    it("zfs-module-missing: linuxPackages_latest gave 42 a kernel without zfs.ko; the kernelPackages edit applies", async () => {
      const s = SCENARIOS.find((x) => x.name === "zfs-module-missing") as Scenario;
      const { r, app } = await broken(s);
      const d = await diagnose(app);
      const f = d.findings[0];
      expect(f?.class).toBe("zfs-module-missing");
      expect(f?.confidence).toBe("high");
      expect(d.cause).toBe(
        `Generation 42's initrd has no zfs module for its kernel 6.13.2 (generation 41's, kernel 6.6.74, had one), yet its root is the ZFS pool nvmepool: its stage 1 stops at "modprobe: FATAL: Module zfs not found in directory /lib/modules/6.13.2" and cannot import the pool; boot.kernelPackages = linuxPackages_latest chose a kernel newer than the ZFS package supports.`,
      );
      expect(d.changes?.kernel).toEqual({ before: "6.6.74", after: "6.13.2" });
      expect(f?.evidence[1]?.detail).toMatch(/kernel 6\.13\.2\): no zfs module; its stage 1 loads zfs/);
      expect(f?.fixes.map((p) => p.kind)).toEqual(["loader-default", "config-edit", "rebuild"]);
      const edit = f?.fixes[1] as Proposal;
      expect(edit.diff).toContain("+  boot.kernelPackages = pkgs.linuxPackages;");
      await apply(app, edit);
      const conf = await readFile(join(r.dir, "mnt/etc/nixos/configuration.nix"), "utf8");
      expect(conf).toContain("boot.kernelPackages = pkgs.linuxPackages;");
      expect(conf).not.toContain("linuxPackages_latest");
      await apply(app, f?.fixes[0] as Proposal);
      expect(await readFile(join(r.dir, "mnt/boot/loader/loader.conf"), "utf8")).toMatch(
        /^default nixos-generation-41\.conf$/m,
      );
    });

    it("firewall-blocks-ssh: 42's firewall dropped the operator's SSH connections; the openFirewall edit and booting 41 apply", async () => {
      const s = SCENARIOS.find((x) => x.name === "firewall-blocks-ssh") as Scenario;
      const { r, app } = await broken(s);
      const d = await diagnose(app);
      const f = d.findings[0];
      expect(f?.class).toBe("firewall-blocks-ssh");
      expect(f?.confidence).toBe("high");
      expect(d.cause).toBe(
        "The firewall of generation 42 refused every SSH connection from 192.0.2.7 (3 to port 22, none accepted) although sshd ran and 192.0.2.7 logged in before: services.openssh.openFirewall = false closes sshd's port.",
      );
      expect(d.boots[0]).toMatchObject({ generation: 42, reached: "multi-user", reachable: false });
      expect(d.boots[0]?.unreachable).toEqual([
        "the firewall refused 3 SSH connections from 192.0.2.7, which logged in before",
      ]);
      expect(d.lastGood).toBe(41);
      // the accepted login on 41, sshd listening on 42, the refused connections (not the scanner's)
      expect(citesRealLines(r, d)).toBe(5);
      expect(f?.evidence.some((e) => e.detail.includes("203.0.113.9"))).toBe(false);
      expect(f?.fixes.map((p) => p.kind)).toEqual(["loader-default", "config-edit", "rebuild"]);
      const edit = f?.fixes[1] as Proposal;
      expect(edit.diff).toContain("+  services.openssh.openFirewall = true;");
      await apply(app, edit);
      expect(await readFile(join(r.dir, "mnt/etc/nixos/configuration.nix"), "utf8")).toContain(
        "services.openssh.openFirewall = true;",
      );
      await apply(app, f?.fixes[0] as Proposal);
      expect(await readFile(join(r.dir, "mnt/boot/loader/loader.conf"), "utf8")).toMatch(
        /^default nixos-generation-41\.conf$/m,
      );
    });

    it("space-full: the upgrade could not write to the store; snapshots hold the pool's space: the oldest destroyed through the API", async () => {
      const s = SCENARIOS.find((x) => x.name === "space-full") as Scenario;
      const { r, app } = await broken(s);
      // The pool as zfs-auto-snapshot leaves it: weekly recursive snapshots, each holding a deleted
      // file's 800 MiB; nothing left (the fake answers zfs list/destroy as OpenZFS 2.3 does).
      const weeks = ["2025-01-25", "2025-02-01", "2025-02-08"].map((w) => `zfs-auto-snap_weekly-${w}-0000`);
      for (const w of weeks) {
        expect((await r.sys.run("zfs", ["snapshot", "-r", `nvmepool@${w}`])).exitCode).toBe(0);
        const home = r.sys.snapMeta.get(`nvmepool/home@${w}`);
        if (home) home.used = 800 * 2 ** 20;
      }
      r.sys.poolAvail.set("nvmepool", 0);
      const before = r.sys.mutations().length;
      const d = await diagnose(app);
      expect(r.sys.mutations().slice(before)).toEqual([]);
      const f = d.findings[0];
      expect(f?.class).toBe("space-full");
      expect(f?.confidence).toBe("high");
      expect(d.cause).toBe(
        'The installed system is out of space: 1 write failed with "No space left on device" in the last boot (generation 41), in nixos-upgrade.service ("error: writing to file: No space left on device"); pool nvmepool has 0 B free, 2.3 GiB of its 2.3 GiB held by snapshots: upgrades and rebuilds cannot write to the store until space is freed.',
      );
      expect(citesRealLines(r, d)).toBe(1);
      const fix = f?.fixes[0] as Proposal;
      expect(fix.kind).toBe("snapshot-destroy");
      expect(fix.requests[0]?.body).toEqual({
        snapshots: [`nvmepool@${weeks[0]}`],
        confirm: "nvmepool",
        keep: 1,
      });
      await apply(app, fix);
      expect(r.sys.snapshots.some((n) => n.endsWith(`@${weeks[0]}`))).toBe(false);
      expect(r.sys.snapshots.filter((n) => n.endsWith(`@${weeks[1]}`))).toHaveLength(5);
      expect(r.sys.poolAvail.get("nvmepool")).toBe(800 * 2 ** 20);
      expect(
        r.sys.calls.filter((c) => c.file === "zfs" && c.args[0] === "destroy").map((c) => c.args),
      ).toEqual([
        ["destroy", "-n", "-v", "-p", "-r", `nvmepool@${weeks[0]}`],
        ["destroy", "-n", "-v", "-p", "-r", `nvmepool@${weeks[0]},${weeks[1]}`],
        ["destroy", "-n", "-v", "-p", "-r", `nvmepool@${weeks.join(",")}`],
        ["destroy", "-n", "-v", "-p", "-r", `nvmepool@${weeks[0]}`],
        ["destroy", "-v", "-p", "-r", `nvmepool@${weeks[0]}`],
      ]);
      // freed: the journal still shows the failed upgrade, nothing more to destroy
      const after = (await diagnose(app)).findings.find((x) => x.class === "space-full");
      expect(after?.cause).toMatch(/^The installed system ran out of space: 1 write failed/);
      expect(after?.fixes).toEqual([]);
      expect(after?.needs).toEqual([
        "nvmepool has 800 MiB free now: what failed for lack of space can be run again",
      ]);
    });

    it("boot-not-mounted: 42 has no entry because /boot was unmounted when 41's upgrade installed it; a rebuild, no ESP freeing", async () => {
      const s = SCENARIOS.find((x) => x.name === "boot-not-mounted") as Scenario;
      const { r, app } = await broken(s, undefined, true);
      const d = await diagnose(app);
      const f = d.findings[0];
      expect(f?.class).toBe("bootloader-not-updated");
      expect(f?.confidence).toBe("high");
      expect(d.cause).toBe(
        `Generation 42 never got a boot-loader entry, so it never booted: /boot (the ESP) was not mounted when the boot of generation 41 built it ("Unmounted boot.mount - /boot."), so installing the boot loader found no ESP ("Couldn't find EFI system partition. It is recommended to mount it to /boot/ or /efi/.").`,
      );
      expect(citesRealLines(r, d)).toBeGreaterThanOrEqual(3);
      expect(f?.fixes.map((p) => p.kind)).toEqual(["rebuild"]);
      expect(f?.fixes[0]?.requests).toEqual([
        { method: "POST", path: "/v1/rebuild", body: { action: "boot" } },
      ]);
      expect(d.proposals.some((p) => p.kind === "esp-free")).toBe(false);
      // read under the mounted ESP: bootctl refused, nothing reached the root file system's /boot
      expect(f?.evidence.at(-1)).toEqual({
        kind: "file",
        ref: "/boot (on the root file system, under the mounted ESP)",
        detail: "no boot-loader files: nothing was installed onto the root file system",
      });
      expect(f?.needs).toEqual([]);
      // the rebuild starts as a job (nixos-rebuild boot inside nixos-enter, the ESP mounted by the rescue)
      const res = await app.inject({
        method: "POST",
        url: "/v1/rebuild",
        headers: auth,
        payload: f?.fixes[0]?.requests[0]?.body,
      });
      expect(res.statusCode, res.body).toBe(202);
      const rebuild = r.sys.calls.find((c) => c.args.some((a) => a === "nixos-rebuild"));
      expect(rebuild?.args).toContain("boot");
    });

    it("boot-not-mounted-on-disk: a rebuild by hand (nothing in the journal) left 42's entry on the root file system under the ESP; cited, a rebuild, nothing moved", async () => {
      const s = SCENARIOS.find((x) => x.name === "boot-not-mounted-on-disk") as Scenario;
      const { r, app } = await broken(s, undefined, true);
      const d = await diagnose(app);
      const f = d.findings[0];
      expect(f?.class).toBe("bootloader-not-updated");
      expect(f?.confidence).toBe("high");
      expect(d.cause).toBe(
        "Generation 42 never got a boot-loader entry on the ESP, so it never booted: /boot (the ESP) was not mounted when it was installed, and its entry was written to the root file system's own /boot instead (/boot/loader/entries/nixos-generation-42.conf, 2025-03-01 04:15), which the mounted ESP hides.",
      );
      expect(f?.evidence.slice(1).map((e) => e.ref)).toEqual([
        "/boot/loader/entries/nixos-generation-42.conf (on the root file system, under the mounted ESP)",
        "/boot/loader/loader.conf (on the root file system, under the mounted ESP)",
        expect.stringMatching(/^\/boot\/EFI\/nixos\/[0-9a-z]{32}-linux-6\.6\.80-bzImage\.efi \(on the root/),
      ]);
      expect(f?.needs).toEqual([]);
      expect(f?.fixes.map((p) => p.kind)).toEqual(["rebuild"]);
      expect(f?.fixes[0]?.why).toMatch(/nothing is moved$/);
      // the view was a read-only, non-recursive, private bind, and it is gone again
      const bind = r.sys.calls.find((c) => c.file === "mount" && c.args.includes("--bind"));
      expect(bind?.args.slice(0, 4)).toEqual(["--bind", "--make-private", "-o", "ro,nosuid,nodev,noexec"]);
      expect(bind?.args[4]).toBe("/mnt");
      const view = bind?.args[5] as string;
      expect(view).toBe("/run/lifeboat/underneath");
      expect(r.sys.calls.some((c) => c.file === "umount" && c.args.at(-1) === view)).toBe(true);
      expect(
        (await app.inject({ url: "/v1/status", headers: auth }))
          .json()
          .mounted.mounts.map((m: { target: string }) => m.target),
      ).not.toContain(view);
      // the rebuild starts as a job; the ESP's own files are untouched by the diagnosis
      expect(existsSync(join(r.dir, "mnt/boot/loader/entries/nixos-generation-42.conf"))).toBe(false);
      const res = await app.inject({
        method: "POST",
        url: "/v1/rebuild",
        headers: auth,
        payload: f?.fixes[0]?.requests[0]?.body,
      });
      expect(res.statusCode, res.body).toBe(202);
    });

    it("freeing /boot that fails half-way puts back what it removed (a problem, not a half-done change)", async () => {
      const s = SCENARIOS.find((x) => x.name === "bootloader-not-updated") as Scenario;
      const { r, app } = await broken(s, (op, path) =>
        op === "unlink" && path.endsWith("/loader/entries/nixos-generation-2.conf") ? "EIO" : undefined,
      );
      const entries = join(r.dir, "mnt/boot/loader/entries");
      const before = (await readdir(entries)).sort();
      const res = await app.inject({
        method: "POST",
        url: "/v1/boot/esp/free",
        headers: auth,
        payload: { generations: [1, 2, 3] },
      });
      expect(res.statusCode).toBe(502);
      expect(res.json()).toMatchObject({ code: "file-failed" });
      expect(res.json().detail).toMatch(/put back what was removed/);
      expect((await readdir(entries)).sort()).toEqual(before);
    });

    it("lifeboat client diagnose --apply sends a config edit with its If-Match and shows its diff", async () => {
      const s = SCENARIOS.find((x) => x.name === "network-missing") as Scenario;
      const { r, app } = await broken(s);
      const conn = {
        json: async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
          const res = await app.inject({
            method: method as "GET",
            url: path,
            headers: { ...auth, ...headers },
            ...(method === "GET" ? {} : { payload: body as object }),
          });
          if (res.statusCode >= 400) throw new Error(res.body);
          return res.json();
        },
      } as unknown as Connection;
      const d = await diagnose(app);
      const n = d.proposals.findIndex((p) => p.kind === "config-edit") + 1;
      const out: string[] = [];
      const err: string[] = [];
      const io = {
        out: (x: string) => out.push(x),
        err: (x: string) => err.push(x),
        confirm: async () => true,
      };
      expect(await diagnoseCommand(conn, io, { json: false, yes: true, apply: String(n) })).toBe(0);
      expect(err.join("")).toContain("  | +  networking.interfaces.ens3.ipv4.addresses");
      expect(await readFile(join(r.dir, "mnt/etc/nixos/configuration.nix"), "utf8")).toContain(
        "networking.interfaces.ens3.ipv4.addresses",
      );
    });
  },
);
