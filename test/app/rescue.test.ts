import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { JobEvent } from "../../agent/src/app/jobs.js";
import { TARGET_SHELL, TARGET_SHELL_NAME, TARGET_SHELL_PROGRAM } from "../../agent/src/core/chroot.js";
import type { OutputLine } from "../../agent/src/system/system.js";
import { rejection } from "../helpers/assert.js";
import { type Rig, type RigOptions, rig } from "./harness.js";

const WHO = "tok-test@127.0.0.1";
const J = join(import.meta.dirname, "..", "fixtures", "host-captured", "journal");

async function mountedRw(opts: RigOptions = {}): Promise<Rig> {
  const r = await rig("single", opts);
  await r.mounts.mount({ readonly: false });
  return r;
}

const host = (r: Rig, p: string) => join(r.dir, p);

describe("read: generations and boot entries", () => {
  it("generations newest first, current and boot default, closure present", async () => {
    const r = await rig("single");
    await r.mounts.mount();
    const { generations } = await r.services.boot.generations();
    expect(generations.map((g) => [g.number, g.current, g.bootDefault, g.closurePresent])).toEqual([
      [3, true, true, true],
      [2, false, false, true],
      [1, false, false, true],
    ]);
    expect(generations[0]).toMatchObject({
      nixosVersion: "24.11.20250103",
      kernelParams: ["nohibernate", "loglevel=4"],
    });
  });

  it("a garbage-collected generation is reported without its closure", async () => {
    const r = await rig("single");
    await r.mounts.mount();
    const { generations } = await r.services.boot.generations();
    const { rm } = await import("node:fs/promises");
    await rm(host(r, `/mnt${generations[2]?.storePath}`), { recursive: true });
    const after = await r.services.boot.generations();
    expect(after.generations.find((g) => g.number === 1)?.closurePresent).toBe(false);
  });

  it("systemd-boot entries and the default", async () => {
    const r = await rig("single");
    await r.mounts.mount();
    const b = await r.services.boot.boot();
    expect(b).toMatchObject({ loader: "systemd-boot", esp: "/boot", default: "nixos-generation-3.conf" });
    expect(b.entries.map((e) => [e.id, e.generation, e.isDefault])).toEqual([
      ["nixos-generation-3", 3, true],
      ["nixos-generation-2", 2, false],
      ["nixos-generation-1", 1, false],
    ]);
  });

  it("reads need the system mounted", async () => {
    const r = await rig("single");
    expect((await rejection(r.services.boot.generations())).code).toBe("not-mounted");
  });
});

describe("change: needs read-write, snapshot first, audited", () => {
  it("a read-only mount refuses changes with a clear code", async () => {
    const r = await rig("single");
    await r.mounts.mount();
    const err = await rejection(
      r.services.boot.kernelParams("nixos-generation-3", ["module_blacklist=vfio_pci"], [], WHO),
    );
    expect(err.code).toBe("read-only-mount");
    expect(err.status).toBe(409);
  });

  it("kernel-param hotfix on every entry (the seed's fix without a rebuild), then revert", async () => {
    const r = await mountedRw();
    for (const id of ["nixos-generation-3", "nixos-generation-2", "nixos-generation-1"]) {
      const res = await r.services.boot.kernelParams(id, ["module_blacklist=vfio_pci"], [], WHO);
      expect(res.snapshot).toMatch(/^nvmepool@lifeboat-\d{8}T\d{6}Z-kernel-params$/);
      expect(res.result.after).toContain("module_blacklist=vfio_pci");
    }
    const text = await readFile(host(r, "/mnt/boot/loader/entries/nixos-generation-3.conf"), "utf8");
    expect(text).toMatch(/^options .* module_blacklist=vfio_pci$/m);
    expect((await r.services.boot.boot()).entries.every((e) => e.hasBackup)).toBe(true);
    const rev = await r.services.boot.revert("nixos-generation-3", WHO);
    expect(rev.result.options).not.toContain("module_blacklist=vfio_pci");
    expect(await readFile(host(r, "/mnt/boot/loader/entries/nixos-generation-3.conf"), "utf8")).not.toContain(
      "vfio_pci",
    );
    const snaps = r.sys.commandLines().filter((l) => l.startsWith("zfs snapshot -r nvmepool@lifeboat-"));
    expect(snaps.length).toBeGreaterThanOrEqual(4);
    const audit = r.services.audit.list();
    expect(audit.filter((a) => a.action === "kernel-params" && a.result === "ok")).toHaveLength(3);
    expect(await readFile(host(r, "/mnt/var/log/lifeboat/audit.jsonl"), "utf8")).toContain(
      '"action":"kernel-params-revert"',
    );
  });

  it("bad kernel params are refused before anything changes", async () => {
    const r = await mountedRw();
    const before = r.sys.mutations().length;
    expect((await rejection(r.services.boot.kernelParams("nixos-generation-3", ["a b"], [], WHO))).code).toBe(
      "validation-failed",
    );
    expect(r.sys.mutations().filter((c) => c.op !== "run" || !c.args.includes("snapshot")).length).toBe(
      before,
    );
  });

  it("boot default via loader.conf: reversible, every other line kept", async () => {
    const r = await mountedRw();
    const res = await r.services.boot.setDefault(2, WHO);
    expect(res.result).toMatchObject({
      default: "nixos-generation-2.conf",
      previous: "nixos-generation-3.conf",
    });
    const conf = await readFile(host(r, "/mnt/boot/loader/loader.conf"), "utf8");
    expect(conf).toBe("timeout 5\ndefault nixos-generation-2.conf\nconsole-mode keep\n");
    expect((await r.services.boot.generations()).generations.find((g) => g.bootDefault)?.number).toBe(2);
    expect((await rejection(r.services.boot.setDefault(9, WHO))).code).toBe("not-found");
  });
});

describe("config files", () => {
  it("tree, read with ETag, write with If-Match (backup), conflict 412, escapes refused", async () => {
    const r = await mountedRw();
    const tree = await r.services.config.tree();
    expect(tree.files.map((f) => f.path)).toContain("configuration.nix");
    const f = await r.services.config.read("configuration.nix");
    expect(f.etag).toMatch(/^"sha256-[0-9a-f]{32}"$/);
    const w = await r.services.config.write("configuration.nix", `${f.content}# fixed\n`, f.etag, WHO);
    expect(w.result.backup).toMatch(/^\/etc\/nixos\/configuration\.nix\.lifeboat-\d{8}T\d{6}Z$/);
    expect(await readFile(host(r, "/mnt/etc/nixos/configuration.nix"), "utf8")).toContain("# fixed");
    const stale = await rejection(r.services.config.write("configuration.nix", "x", f.etag, WHO));
    expect(stale.code).toBe("precondition-failed");
    expect(stale.status).toBe(412);
    expect((await rejection(r.services.config.write("configuration.nix", "x", undefined, WHO))).code).toBe(
      "precondition-required",
    );
    for (const bad of ["../passwd", "../../etc/shadow", "/etc/passwd/../../x", ""]) {
      expect((await rejection(r.services.config.read(bad))).code, bad).toMatch(/path-escape|not-found/);
    }
    const created = await r.services.config.write("hosts/new.nix", "{ }\n", "*", WHO);
    expect(created.result.backup).toBeNull();
  });
});

describe("rebuild job", () => {
  const script: RigOptions["fake"] = {
    spawnScript: (file, args) =>
      file === "nixos-enter" && args.includes("nixos-rebuild")
        ? {
            lines: [
              { stream: "stderr", text: "building the system configuration..." },
              { stream: "stdout", text: "/nix/store/xyz-nixos-system-atlas" },
            ] as OutputLine[],
            exitCode: 0,
          }
        : undefined,
  };

  it("runs nixos-rebuild in nixos-enter without the sandbox; log with network check; lock held; audited", async () => {
    const r = await mountedRw({ fake: script });
    const job = r.services.rebuild.start({ action: "boot", flake: "/etc/nixos#atlas" }, WHO);
    const view = await job;
    // The installed system's own nixos-rebuild through its shell and login environment (core/chroot.ts).
    expect(view.steps[0]?.command).toEqual([
      "nixos-enter",
      "--root",
      "/mnt",
      "--",
      TARGET_SHELL,
      "-c",
      TARGET_SHELL_PROGRAM,
      TARGET_SHELL_NAME,
      "", // the rescue side's resolver lines: the fake has no /etc/resolv.conf
      "nixos-rebuild",
      "boot",
      "--option",
      "sandbox",
      "false",
      "--flake",
      "/etc/nixos#atlas",
    ]);
    const done = await r.services.jobs.wait(view.id);
    expect(done).toMatchObject({ state: "succeeded", exitCode: 0 });
    const events: JobEvent[] = [];
    r.services.jobs.follow(view.id, 0, (e) => events.push(e));
    const text = events.flatMap((e) => (e.type === "line" ? [e.line.text] : [])).join("\n");
    expect(text).toContain("snapshot nvmepool@lifeboat-");
    expect(text).toContain("network: https://cache.nixos.org NOT reachable");
    expect(text).toContain("building the system configuration...");
    expect(events[events.length - 1]).toEqual({ type: "end", state: "succeeded", exitCode: 0 });
    expect(await readFile(host(r, `/mnt/var/log/lifeboat/jobs/${view.id}.log`), "utf8")).toContain(
      "building the system configuration",
    );
    expect(r.services.audit.list().map((a) => `${a.action}:${a.result}`)).toEqual(
      expect.arrayContaining(["rebuild:started", "rebuild-end:ok"]),
    );
  });

  it("a failing rebuild reports its exit code; cancel sends SIGTERM to a hanging one", async () => {
    const r = await mountedRw({
      fake: {
        spawnScript: (_f, args) =>
          args.includes("build")
            ? { lines: [{ stream: "stderr", text: "error: infinite recursion" }], exitCode: 1 }
            : { lines: [{ stream: "stdout", text: "waiting…" }], exitCode: 0, hang: true },
      },
    });
    const failed = await r.services.jobs.wait((await r.services.rebuild.start({ action: "build" }, WHO)).id);
    expect(failed).toMatchObject({ state: "failed", exitCode: 1 });
    const hanging = await r.services.rebuild.start({ action: "boot" }, WHO);
    // The job holds the one-change lock while it runs.
    expect((await rejection(r.services.boot.setDefault(2, WHO))).code).toBe("busy");
    r.services.jobs.cancel(hanging.id);
    expect((await r.services.jobs.wait(hanging.id)).state).toBe("cancelled");
    expect(r.lock.busy).toBeNull();
  });

  it("bad flake refs and extra args are refused", async () => {
    const r = await mountedRw();
    expect(
      (await rejection(r.services.rebuild.start({ action: "boot", flake: "x; rm -rf /" }, WHO))).code,
    ).toBe("validation-failed");
    expect(
      (await rejection(r.services.rebuild.start({ action: "boot", extraArgs: ["--option", "a b"] }, WHO)))
        .code,
    ).toBe("validation-failed");
  });
});

describe("journal of the installed system (real journalctl captures)", () => {
  const journal: RigOptions["fake"] = {
    extra: (file, args) => {
      if (file !== "journalctl") return undefined;
      const out = (n: string) => ({
        exitCode: 0,
        stdout: require("node:fs").readFileSync(join(J, `${n}.stdout`), "utf8"),
        stderr: "",
        timedOut: false,
        notFound: false,
        durationMs: 1,
      });
      if (args.includes("--list-boots")) return out("list-boots-json");
      if (args.includes("-b") && args[args.indexOf("-b") + 1] === "-5")
        return {
          exitCode: 1,
          stdout: "",
          stderr: require("node:fs").readFileSync(join(J, "bad-boot.stderr"), "utf8"),
          timedOut: false,
          notFound: false,
          durationMs: 1,
        };
      return out("boot-last-json");
    },
  };
  it("boots and the last boot's entries; bad boot → 404", async () => {
    const r = await rig("single", { fake: journal });
    await r.mounts.mount();
    expect((await r.services.journal.boots()).boots).toHaveLength(2);
    const e = await r.services.journal.entries({ boot: "0", limit: 50 });
    expect(e.entries.at(-2)?.message).toContain("waiting for vfio_pci");
    expect(r.sys.commandLines().at(-1)).toBe(
      "journalctl -D /mnt/var/log/journal -o json --no-pager -b 0 -n 50",
    );
    expect((await rejection(r.services.journal.entries({ boot: "-5" }))).code).toBe("not-found");
    expect((await rejection(r.services.journal.entries({ boot: "$(reboot)" }))).code).toBe(
      "validation-failed",
    );
  });
});

describe("snapshots, export, reboot", () => {
  it("create/list; rollback needs confirm equal to the name", async () => {
    const r = await mountedRw();
    const { snapshot } = await r.services.snapshots.create(WHO);
    const name = (snapshot as string).split("@")[1] as string;
    expect((await r.services.snapshots.list()).snapshots.map((s) => s.dataset)).toContain("nvmepool/root");
    expect((await rejection(r.services.snapshots.rollback(name, "yes", WHO))).code).toBe("confirm-mismatch");
    const rb = await r.services.snapshots.rollback(name, name, WHO);
    expect(rb.rolledBack).toContain(`nvmepool/root@${name}`);
  });

  it("export refuses while a job runs; reboot exports first, then reboots", async () => {
    const r = await mountedRw({ fake: { spawnScript: () => ({ lines: [], exitCode: 0, hang: true }) } });
    const job = await r.services.rebuild.start({ action: "boot" }, WHO);
    expect((await rejection(r.services.power.export(WHO))).code).toBe("busy");
    r.services.jobs.cancel(job.id);
    await r.services.jobs.wait(job.id);
    const res = await r.services.power.reboot(WHO);
    expect(res).toMatchObject({ rebooting: true, exported: ["nvmepool"] });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const lines = r.sys.commandLines();
    expect(lines.indexOf("zpool export nvmepool")).toBeLessThan(lines.indexOf("systemctl reboot"));
    expect(r.sys.imported.size).toBe(0);
  });
});

describe("jobs across an agent restart", () => {
  it("a job the previous agent left 'running' on the rescued system is reported interrupted", async () => {
    const first = await mountedRw({
      fake: { spawnScript: () => ({ lines: [{ stream: "stdout", text: "ok" }], exitCode: 0 }) },
    });
    const done = await first.services.jobs.wait(
      (await first.services.rebuild.start({ action: "build" }, WHO)).id,
    );
    const record = JSON.parse(
      await readFile(host(first, `/mnt/var/log/lifeboat/jobs/${done.id}.json`), "utf8"),
    );
    expect(record).toMatchObject({ id: done.id, state: "succeeded" });
    // The agent is killed during a second job: its record still says "running".
    const { writeFile } = await import("node:fs/promises");
    await writeFile(
      host(first, "/mnt/var/log/lifeboat/jobs/11111111-1111-4111-8111-111111111111.json"),
      JSON.stringify({
        ...record,
        id: "11111111-1111-4111-8111-111111111111",
        state: "running",
        endedAt: null,
        createdAt: "2026-11-25T00:00:00.000Z",
      }),
    );
    // A new agent on the same machine: rebuilds its view from the system.
    const { createServices } = await import("../../agent/src/app/services.js");
    const pino = (await import("pino")).default;
    const second = createServices(first.sys, pino({ level: "silent" }), {
      root: "/mnt",
      version: "t",
      autoMount: "off",
      urls: () => [],
      detectionMaxAgeMs: 0,
    });
    const { jobs } = await second.jobs.listAll();
    expect(jobs.map((j) => [j.id, j.state])).toEqual([
      [done.id, "succeeded"],
      ["11111111-1111-4111-8111-111111111111", "interrupted"],
    ]);
    expect((await second.mounts.mount({ readonly: false })).result).toBe("already-mounted");
  });
});

describe("faults in changes: nothing half-done", () => {
  it("a failing snapshot aborts the change before anything is written", async () => {
    const r = await mountedRw({
      fake: {
        fail: (f, a) =>
          f === "zfs" && a[0] === "snapshot"
            ? { exitCode: 1, stderr: "cannot create snapshot: out of space\n" }
            : undefined,
      },
    });
    const before = await readFile(host(r, "/mnt/boot/loader/entries/nixos-generation-3.conf"), "utf8");
    const err = await rejection(
      r.services.boot.kernelParams("nixos-generation-3", ["module_blacklist=vfio_pci"], [], WHO),
    );
    expect(err.code).toBe("command-failed");
    expect(err.message).toContain("out of space");
    expect(await readFile(host(r, "/mnt/boot/loader/entries/nixos-generation-3.conf"), "utf8")).toBe(before);
    expect(r.lock.busy).toBeNull();
  });

  it("a timed-out mount step rolls back like a failed one", async () => {
    const r = await rig("single", {
      fake: {
        fail: (f, a) =>
          f === "mount" && a.includes("/mnt/nix") ? { exitCode: 124, timedOut: true, stderr: "" } : undefined,
      },
    });
    const err = await rejection(r.mounts.mount());
    expect(err.extras.state).toBe("rolled-back");
    expect(err.message).toContain("timed out");
    expect(r.sys.imported.size).toBe(0);
  });

  it("a failing rollback step is reported as rollback-incomplete, naming what is left", async () => {
    const r = await rig("single", {
      fake: {
        fail: (f, a) =>
          f === "mount" && a.includes("/mnt/var")
            ? { exitCode: 32, stderr: "mount failed\n" }
            : f === "umount" && a[0] === "/mnt/nix"
              ? { exitCode: 32, stderr: "umount: /mnt/nix: target is busy.\n" }
              : undefined,
      },
    });
    const err = await rejection(r.mounts.mount());
    expect(err.extras.state).toBe("rollback-incomplete");
    expect(JSON.stringify(err.extras.rollbackFailures)).toContain("/mnt/nix");
  });
});

describe("non-ZFS roots: a backup of the boot state before a rebuild or profile switch", () => {
  const EXT4_FSTAB =
    "/dev/disk/by-uuid/b49dfb2e-68df-4dcf-9beb-c7932824fef7 / ext4 defaults 0 1\n/dev/disk/by-uuid/2922-9BB5 /boot vfat fmask=0022,dmask=0022 0 2\n";

  it("rebuild on ext4: profile links, loader.conf and entries copied first, named in the job log and the audit", async () => {
    const r = await rig("ext4", {
      tree: { fstab: EXT4_FSTAB },
      fake: { spawnScript: () => ({ lines: [], exitCode: 0 }) },
    });
    await r.mounts.mount({ readonly: false });
    const job = await r.services.rebuild.start({ action: "boot" }, WHO);
    await r.services.jobs.wait(job.id);
    const events: JobEvent[] = [];
    r.services.jobs.follow(job.id, 0, (e) => events.push(e));
    const said = events.flatMap((e) => (e.type === "line" ? [e.line.text] : []));
    const line = said.find((t) => t.startsWith("not ZFS: no snapshot; boot state backed up to "));
    const dir = line?.slice("not ZFS: no snapshot; boot state backed up to ".length) as string;
    expect(dir).toMatch(/^\/var\/log\/lifeboat\/backups\/\d{8}T\d{6}Z-rebuild-[0-9a-f]{6}$/);
    const profiles = JSON.parse(await readFile(host(r, `/mnt${dir}/profiles.json`), "utf8"));
    expect(profiles.links).toMatchObject({ system: "system-3-link" });
    expect(profiles.links["system-1-link"]).toMatch(/^\/nix\/store\/.*-nixos-system-atlas-/);
    expect(await readFile(host(r, `/mnt${dir}/esp/loader/loader.conf`), "utf8")).toBe(
      await readFile(host(r, "/mnt/boot/loader/loader.conf"), "utf8"),
    );
    expect(await readFile(host(r, `/mnt${dir}/esp/loader/entries/nixos-generation-2.conf`), "utf8")).toBe(
      await readFile(host(r, "/mnt/boot/loader/entries/nixos-generation-2.conf"), "utf8"),
    );
    expect(r.services.audit.list().find((a) => a.action === "rebuild")?.detail).toMatchObject({
      snapshot: null,
      backup: dir,
    });
  });

  it("profile switch on ext4 too; a backup that cannot be made refuses the change, no job starts", async () => {
    const r = await rig("ext4", { tree: { fstab: EXT4_FSTAB } });
    await r.mounts.mount({ readonly: false });
    const { execa } = await import("execa");
    await execa("mkfifo", [host(r, "/mnt/boot/loader/entries/nixos-generation-9.conf")]);
    const err = await rejection(r.services.boot.switchProfile(2, WHO));
    expect(err.code).toBe("unsafe-file");
    expect(r.services.jobs.list()).toEqual([]);
    expect(r.lock.busy).toBeNull();
  });
});

describe("journal output is bounded in bytes, not only entries", () => {
  it("5,000 entries of 4 KiB: the newest that fit in 8 MiB, flagged truncated", async () => {
    const { readFileSync } = await import("node:fs");
    const first = JSON.parse(readFileSync(join(J, "boot-last-json.stdout"), "utf8").split("\n")[0] as string);
    const lines = Array.from({ length: 5_000 }, (_, i) => ({
      stream: "stdout" as const,
      text: JSON.stringify({ ...first, __CURSOR: `s=x;i=${i}`, MESSAGE: `${i} ${"m".repeat(4096)}` }),
    }));
    const r = await rig("single", {
      fake: { spawnScript: (file) => (file === "journalctl" ? { lines, exitCode: 0 } : undefined) },
    });
    await r.mounts.mount();
    const page = await r.services.journal.entries({ boot: "0", limit: 5_000 });
    expect(page.truncated).toBe(true);
    expect(page.entries.length).toBeGreaterThan(1_000);
    expect(page.entries.length).toBeLessThan(5_000);
    expect(page.entries.at(-1)?.cursor).toBe("s=x;i=4999");
    const bytes = page.entries.reduce((n, e) => n + e.message.length, 0);
    expect(bytes).toBeLessThanOrEqual(8 * 1024 * 1024);
  });
});
