/**
 * Bench child, bundled by bench/run.mjs with esbuild and run once per measurement (a fresh process:
 * its memory figures come from its own /proc/self/status):
 *   node entry.mjs gen N DIR                    generated inputs for N datasets, into DIR
 *   node entry.mjs parse-json|parse-json-read|parse-zfs-get[-only]|parse-zfs-list N DIR
 *   node entry.mjs plan N                       planMount over N datasets
 * Each measuring command prints one JSON line: {ms, peakBytes} — the time of the measured call and
 * how far the process's peak RSS rose during it (VmHWM after − VmRSS before; the peak is reset
 * through /proc/self/clear_refs first, so preparing the input does not count).
 *
 * Inputs are generated from real captures (test/fixtures/captured): the `zfs get -j` document is
 * the encrypted pool's capture replicated under new names, holding what detection asks for
 * (`zfs get -j -r -t filesystem,volume encryptionroot <pool>`); the `zfs list -H -p` text is the
 * single pool's capture replicated the same way; the plan input is a pool with the conventional
 * legacy datasets (root, nix, home, var, in the NixOS-generated fstab) and N more datasets with
 * their own mountpoints, as a pool with many service datasets has.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseFstab } from "../agent/src/core/mounts.js";
import { type PlanInput, planMount } from "../agent/src/core/plan.js";
import { type Dataset, parseZfsGet, parseZfsListHp } from "../agent/src/core/zfs.js";
import { FIXTURES } from "../test/helpers/fixtures.js";

const capture = (kase: string, name: string) => readFileSync(join(FIXTURES, kase, `${name}.stdout`), "utf8");

function status(): { rss: number; hwm: number } {
  const s = readFileSync("/proc/self/status", "utf8");
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? Number.NaN) * 1024;
  return { rss: kb("VmRSS"), hwm: kb("VmHWM") };
}

/** Time one call and the rise of the process's peak RSS during it. */
function measure(fn: () => unknown): void {
  (globalThis as { gc?: () => void }).gc?.();
  // "5" resets the peak RSS (VmHWM) to the current RSS (proc(5), Linux ≥ 4.0).
  writeFileSync("/proc/self/clear_refs", "5");
  const before = status().rss;
  const t0 = performance.now();
  const keep = fn();
  const ms = performance.now() - t0;
  const peakBytes = Math.max(0, status().hwm - before);
  if (keep === undefined) throw new Error("nothing measured");
  process.stdout.write(`${JSON.stringify({ ms, peakBytes })}\n`);
}

function names(n: number, protos: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++)
    for (const p of protos) if (out.length < n) out.push(p.replace(/^nvmepool/, `nvmepool/b${i}`));
  return out;
}

function generate(n: number, dir: string): void {
  const get = JSON.parse(capture("encrypted", "zfs-get-j-crypto")) as {
    output_version: unknown;
    datasets: Record<string, { name: string; properties: Record<string, unknown> }>;
  };
  const protos = Object.values(get.datasets);
  const datasets: Record<string, unknown> = {};
  const list = names(
    n,
    protos.map((p) => p.name),
  );
  list.forEach((name, i) => {
    const p = protos[i % protos.length] as (typeof protos)[number];
    datasets[name] = { ...p, name, properties: { encryptionroot: p.properties.encryptionroot } };
  });
  writeFileSync(
    join(dir, `zfs-get-${n}.json`),
    JSON.stringify({ output_version: get.output_version, datasets }),
  );
  writeFileSync(join(dir, `names-${n}.txt`), list.join("\n"));
  const rows = capture("single", "zfs-list-Hp").trim().split("\n");
  const hp: string[] = [];
  for (let i = 0; hp.length < n; i++)
    for (const r of rows) if (hp.length < n) hp.push(r.replace(/^nvmepool/, `nvmepool/b${i}`));
  writeFileSync(join(dir, `zfs-list-${n}.txt`), `${hp.join("\n")}\n`);
}

function planInput(n: number): PlanInput {
  const ds = (name: string, mountpoint: string, canmount = "on"): Dataset => ({
    name,
    pool: "tank",
    mountpoint,
    canmount,
    encryption: "off",
    keystatus: null,
    used: "98304",
    encryptionRoot: null,
  });
  const datasets = [
    ds("tank", "none", "off"),
    ...["root", "nix", "home", "var"].map((x) => ds(`tank/${x}`, "legacy")),
    ds("tank/srv", "/mnt/srv"),
  ];
  for (let i = 0; datasets.length < n; i++) datasets.push(ds(`tank/srv/d${i}`, `/mnt/srv/d${i}`));
  const fstab = parseFstab(
    ["root", "nix", "home", "var"]
      .map((x) => `tank/${x} /${x === "root" ? "" : x} zfs defaults 0 0`)
      .join("\n"),
  );
  // `pools` is read by planners that plan several pools (extra facts are ignored by others).
  const input = {
    root: "/mnt",
    candidate: {
      kind: "zfs",
      id: "zfs:tank",
      pool: "tank",
      guid: "6816711904690617069",
      state: "ONLINE",
      imported: true,
      importable: false,
      disks: ["/dev/nvme0n1"],
      score: 10,
      reasons: [],
      partOfSystem: false,
      bootPool: false,
    },
    readonly: true,
    devices: [],
    datasets,
    fstab,
    pools: [
      { name: "tank", guid: "6816711904690617069", imported: true, importable: false, altroot: "/mnt" },
    ],
  };
  return input as PlanInput;
}

const [cmd, nArg, dir = "."] = process.argv.slice(2);
const n = Number(nArg);
const read = (f: string) => readFileSync(join(dir, f), "utf8");
switch (cmd) {
  case "gen":
    generate(n, dir);
    break;
  case "parse-json": {
    const text = read(`zfs-get-${n}.json`);
    measure(() => JSON.parse(text));
    break;
  }
  case "parse-json-read": {
    // The same reads on a plain JSON.parse (no shape checks, digits not kept): what any reader pays.
    const text = read(`zfs-get-${n}.json`);
    const list = read(`names-${n}.txt`).split("\n");
    measure(() => {
      const doc = JSON.parse(text) as {
        datasets: Record<string, { properties: Record<string, { value: unknown }> }>;
      };
      let found = 0;
      for (const name of list)
        if (doc.datasets[name]?.properties.encryptionroot?.value !== undefined) found++;
      if (found !== n) throw new Error(`read ${found} of ${n} datasets`);
      return doc;
    });
    break;
  }
  case "parse-zfs-get-only": {
    // The parse alone: what parseZfsGet does before anyone reads a dataset.
    const text = read(`zfs-get-${n}.json`);
    measure(() => parseZfsGet(text));
    break;
  }
  case "parse-zfs-get": {
    // What detection does with it: parse, then read every dataset's encryption root by name.
    const text = read(`zfs-get-${n}.json`);
    const list = read(`names-${n}.txt`).split("\n");
    measure(() => {
      const props = parseZfsGet(text);
      let found = 0;
      for (const name of list) if (props.value(name, "encryptionroot") !== undefined) found++;
      if (found !== n) throw new Error(`read ${found} of ${n} datasets`);
      return props;
    });
    break;
  }
  case "parse-zfs-list": {
    const text = read(`zfs-list-${n}.txt`);
    measure(() => {
      const ds = parseZfsListHp(text);
      if (ds.length !== n) throw new Error(`parsed ${ds.length} of ${n} datasets`);
      return ds;
    });
    break;
  }
  case "plan": {
    const input = planInput(n);
    measure(() => {
      const plan = planMount(input);
      if (plan.steps.length < 4) throw new Error(`a plan of ${plan.steps.length} steps for ${n} datasets`);
      return plan;
    });
    break;
  }
  default:
    process.stderr.write(
      "usage: entry.mjs gen|parse-json|parse-json-read|parse-zfs-get[-only]|parse-zfs-list|plan N [DIR]\n",
    );
    process.exit(2);
}
