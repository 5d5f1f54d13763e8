// GET /v1/diagnosis end to end on the recording fake: the installed system is a NixOS tree in a sandbox
// with generations 4 and 5 laid out as scenario 12's (their real initrds from the QEMU capture), and
// journalctl answers with the REAL outputs the guest's journalctl gave for the same queries on the
// journal its journald wrote (test/fixtures/vm-captured/diag/good/index.tsv lists each command).
import { readFileSync } from "node:fs";
import { lutimes, mkdir, mkdtemp, rm, symlink, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { execa } from "execa";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { buildServer } from "../../agent/src/http/server.js";
import { REDACT_PATHS } from "../../agent/src/logger.js";
import type { CommandResult, OutputLine } from "../../agent/src/system/system.js";
import { LogSink, type Rig, rig } from "../app/harness.js";
import { recordResponses, registerSecret } from "../helpers/secrets.js";

const TOKEN = "diagnosis-token-0123456789abcdef-SECRET";
registerSecret(TOKEN);
const auth = { authorization: `Bearer ${TOKEN}` };
const V = join(import.meta.dirname, "..", "fixtures", "vm-captured", "diag", "good");
const cap = (n: string) => readFileSync(join(V, `${n}.stdout`), "utf8");
const TOP: Record<number, string> = {
  4: "/nix/store/r34nj9yfkjpbwjbfb9i1lbwbjaj4lksv-nixos-system-atlas-24.11.20250210.3a2f1b4",
  5: "/nix/store/ip9yk0s67w2gjiklkvjnrpvj6dn7zxw9-nixos-system-atlas-24.11.20250301.5c1d2e3",
};

/** boot id → index, from the captured --list-boots. */
const INDEX = new Map(
  (JSON.parse(cap("list-boots-json")) as { boot_id: string; index: number }[]).map((b) => [
    b.boot_id,
    b.index,
  ]),
);

/** Which captured query a journalctl argument list is (the same matches as the capture's commands). */
function replay(args: readonly string[]): string | null {
  const b = args.indexOf("-b");
  const tag = `boot${INDEX.get(args[b + 1] ?? "") ?? "?"}`;
  if (args.includes("-p")) return `${tag}-kernel-errors`;
  if (args.some((a) => a.startsWith("MESSAGE_ID=b07a"))) return `${tag}-milestones`;
  if (args.some((a) => a.startsWith("MESSAGE_ID=be02"))) return `${tag}-failures`;
  if (args.includes("-n")) return `${tag}-tail`;
  if (args.includes("_TRANSPORT=kernel")) return `${tag}-kernel-head`;
  return null;
}

const ok = (stdout: string): CommandResult => ({
  exitCode: 0,
  stdout,
  stderr: "",
  timedOut: false,
  notFound: false,
  durationMs: 1,
});

async function generation(root: string, n: 4 | 5, date: Date): Promise<void> {
  const top = TOP[n] as string;
  const kv = n === 4 ? "6.6.74" : "6.6.80";
  const s = (name: string) => `/nix/store/${String(n).repeat(32)}-${name}`;
  const I = s(`initrd-linux-${kv}`);
  const K = s(`linux-${kv}`);
  const E = s("etc");
  const U = s("system-units");
  const SW = s("system-path");
  const w = async (p: string, data: string | Buffer) => {
    await mkdir(dirname(join(root, p)), { recursive: true });
    await writeFile(join(root, p), data);
  };
  const l = async (p: string, target: string) => {
    await mkdir(dirname(join(root, p)), { recursive: true });
    await symlink(target, join(root, p));
  };
  const params =
    n === 5 ? ["intel_iommu=on", "iommu=pt", "nohibernate", "loglevel=4"] : ["nohibernate", "loglevel=4"];
  await w(`${I}/initrd`, readFileSync(join(V, `initrd-${n}.gz`)));
  await w(`${K}/bzImage`, "MZ");
  await l(`${top}/initrd`, `${I}/initrd`);
  await l(`${top}/kernel`, `${K}/bzImage`);
  await w(`${top}/kernel-params`, params.join(" "));
  await w(`${top}/nixos-version`, `${top.split("-").at(-1)} (Vicuna)`);
  await w(
    `${top}/boot.json`,
    JSON.stringify({
      "org.nixos.bootspec.v1": {
        init: `${top}/init`,
        initrd: `${I}/initrd`,
        kernel: `${K}/bzImage`,
        kernelParams: params,
        label: "NixOS",
        system: "x86_64-linux",
        toplevel: top,
      },
      "org.nixos.specialisation.v1": {},
    }),
  );
  await l(`${top}/etc`, `${E}/etc`);
  await l(`${E}/etc/systemd/system`, U);
  for (const u of ["sshd.service", ...(n === 5 ? ["vfio-bind.service"] : [])]) {
    await w(`${s(`unit-${u}`)}/${u}`, "[Service]\n");
    await l(`${U}/${u}`, `${s(`unit-${u}`)}/${u}`);
  }
  await l(`${top}/sw`, SW);
  for (const p of [`nginx-${n === 4 ? "1.26.2" : "1.26.3"}`, ...(n === 5 ? ["qemu-9.2.0"] : [])]) {
    const P = `/nix/store/${p.length.toString().repeat(32).slice(0, 32)}-${p}`;
    await w(`${P}/bin/${p.split("-")[0]}`, "");
    await l(`${SW}/bin/${p.split("-")[0]}`, `${P}/bin/${p.split("-")[0]}`);
  }
  await l(`nix/var/nix/profiles/system-${n}-link`, top);
  await lutimes(join(root, `nix/var/nix/profiles/system-${n}-link`), date, date);
  await w(
    `boot/loader/entries/nixos-generation-${n}.conf`,
    `title NixOS\nversion Generation ${n}\nlinux /EFI/nixos/k.efi\ninitrd /EFI/nixos/i.efi\noptions init=${top}/init ${params.join(" ")}\n`,
  );
}

const open: { close: () => Promise<unknown> }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((a) => a.close()));
});

async function server(): Promise<{ r: Rig; app: Awaited<ReturnType<typeof buildServer>> }> {
  const r = await rig("single", {
    fake: {
      extra: (file, args) =>
        file === "journalctl" && args.includes("--list-boots") ? ok(cap("list-boots-json")) : undefined,
      spawnScript: (file, args) => {
        if (file !== "journalctl") return undefined;
        const name = replay(args);
        if (!name) return { lines: [], exitCode: 1 };
        const lines: OutputLine[] = cap(name)
          .split("\n")
          .filter(Boolean)
          .map((text) => ({ stream: "stdout", text }));
        return { lines, exitCode: 0 };
      },
    },
  });
  const boots = JSON.parse(cap("list-boots-json")) as { index: number; first_entry: number }[];
  const good = boots.find((b) => b.index === 0)?.first_entry as number;
  await generation(`${r.dir}/mnt`, 4, new Date(good / 1000 - 86_400_000));
  await generation(`${r.dir}/mnt`, 5, new Date(good / 1000 + 3_600_000));
  const app = await buildServer({
    token: TOKEN,
    logger: pino({ level: "info", redact: { paths: REDACT_PATHS, censor: "[redacted]" } }, new LogSink()),
    services: r.services,
  });
  open.push(app);
  recordResponses(app);
  return { r, app };
}

describe("GET /v1/diagnosis (fake system, real journal outputs, real initrds)", () => {
  it("needs the token and a mounted system", async () => {
    const { app } = await server();
    expect((await app.inject({ url: "/v1/diagnosis" })).statusCode).toBe(401);
    const r = await app.inject({ url: "/v1/diagnosis", headers: auth });
    expect(r.statusCode).toBe(409);
    expect(r.json()).toMatchObject({ code: "not-mounted" });
  });

  it("4 booted, 5 never did: the modules, the units, the packages and the fixes; nothing written", async () => {
    const { r, app } = await server();
    await r.mounts.mount();
    const before = r.sys.mutations().length;
    const res = await app.inject({ url: "/v1/diagnosis", headers: auth });
    expect(res.statusCode).toBe(200);
    const d = res.json();
    expect(d).toMatchObject({ lastGood: 4, firstBad: 5, bad: [5] });
    expect(d.sentence).toMatch(
      /^Generation 4 booted last \(.*clean shutdown\); 5 has no boot in the journal: it hangs before the root is mounted\.$/,
    );
    expect(d.changes.initrd.loadedAdded).toEqual(["vfio_pci", "vfio", "vfio_iommu_type1"]);
    expect(d.changes.kernel).toEqual({ before: "6.6.74", after: "6.6.80" });
    expect(d.changes.units.added).toEqual(["vfio-bind.service"]);
    expect(d.changes.packages.changed).toEqual([
      { pname: "linux", before: ["6.6.74"], after: ["6.6.80"] },
      { pname: "nginx", before: ["1.26.2"], after: ["1.26.3"] },
    ]);
    expect(d.changes.packages.added).toEqual([{ pname: "qemu", versions: ["9.2.0"] }]);
    expect(d.proposals.map((p: { kind: string }) => p.kind).slice(0, 2)).toEqual([
      "loader-default",
      "kernel-param",
    ]);
    expect(d.proposals[1].requests).toEqual([
      {
        method: "POST",
        path: "/v1/boot/entries/nixos-generation-5/kernel-params",
        body: { add: ["module_blacklist=vfio_pci,vfio,vfio_iommu_type1"] },
      },
    ]);
    expect(r.sys.mutations().slice(before)).toEqual([]);
    const journal = r.sys.commandLines().filter((c) => c.startsWith("journalctl"));
    expect(journal[0]).toBe("journalctl -D /mnt/var/log/journal --list-boots -o json --no-pager");
    expect(journal.every((c) => c.includes(" -D /mnt/var/log/journal "))).toBe(true);
    // every journalctl ran jailed, given only the journal directory
    const calls = r.sys.calls.filter((c) => c.file === "journalctl");
    expect(calls.length).toBeGreaterThan(1);
    for (const c of calls) expect(c.jail).toMatchObject({ profile: "journal", data: "/mnt/var/log/journal" });
  });

  it("a zstd initrd bomb (real cpio + zstd: 13 KB → 400 MiB) ends as too-large; three at once, /healthz answers meanwhile", async () => {
    const work = await mkdtemp(join(tmpdir(), "lifeboat-bomb-"));
    try {
      await mkdir(join(work, "stage"));
      await writeFile(join(work, "stage", "firmware.bin"), "");
      await truncate(join(work, "stage", "firmware.bin"), 400 * 1024 * 1024);
      const bomb = join(work, "bomb.initrd");
      await execa("sh", ["-c", `echo firmware.bin | cpio -o -H newc --quiet | zstd -q -c > ${bomb}`], {
        cwd: join(work, "stage"),
      });
      const { r, app } = await server();
      // generation 5's initrd (the one its toplevel and bootspec name) is the bomb
      await execa("cp", [
        bomb,
        join(r.dir, "mnt", `/nix/store/${"5".repeat(32)}-initrd-linux-6.6.80/initrd`),
      ]);
      await r.mounts.mount();
      let finished = 0;
      const runs = [1, 2, 3].map(() =>
        app.inject({ url: "/v1/diagnosis", headers: auth }).finally(() => {
          finished++;
        }),
      );
      const health = await app.inject({ url: "/healthz" });
      const pendingWhenHealthy = 3 - finished;
      const done = await Promise.all(runs);
      expect(health.statusCode).toBe(200);
      expect(pendingWhenHealthy).toBeGreaterThan(0);
      for (const res of done) {
        expect(res.statusCode).toBe(200);
        const d = res.json();
        expect(d).toMatchObject({ lastGood: 4, firstBad: 5 });
        expect(JSON.stringify(d)).toMatch(
          /generation 5: unreadable initrd \(too-large\): too large to read: it inflates past 256 MiB/,
        );
        // generation 4's real initrd is still read
        expect(JSON.stringify(d)).not.toMatch(/generation 4: unreadable/);
      }
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }, 120_000);

  it("no journal directory: said, with the journald setting read from the installed system", async () => {
    const { r, app } = await server();
    const { rm } = await import("node:fs/promises");
    await rm(join(r.dir, "mnt/var/log/journal"), { recursive: true });
    await r.mounts.mount();
    const d = (await app.inject({ url: "/v1/diagnosis", headers: auth })).json();
    expect(d.journal).toMatchObject({ state: "missing" });
    expect(d.sentence).toMatch(/^The installed system has no persistent journal/);
  });
});
