// Issue 14 on real OpenZFS and a journal written by the guest's real systemd-journald (guest/mkjournal.sh):
//  a) generation 4 booted fine, 5 and 6 (5 adds vfio_pci… to stage 1) never produced a boot: the
//     diagnosis names 4, the modules and the fixes; the proposals' requests then work as sent;
//  c) the same server with its journal removed: the diagnosis says so and only guesses;
//  b) generation 5 reached stage 2, vfio-bind.service failed, the journal ends abruptly.
// LIFEBOAT_VM_CAPTURE=1 also saves the journalctl outputs the diagnosis parses (test/fixtures/vm-captured/diag).
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { boot, type DiagnosisSets, ensureDiagnosisDiskSets, REPO, type Vm } from "./lab.js";
import { expectOk, finish, waitForAutoMount } from "./scenario.js";

const CAPTURE = process.env.LIFEBOAT_VM_CAPTURE === "1";
const OUT = path.join(REPO, "test/fixtures/vm-captured/diag");
const J = "journalctl -D /mnt/var/log/journal --no-pager";
const FIELDS = "--output-fields=MESSAGE,MESSAGE_ID,UNIT,PRIORITY,_TRANSPORT,SYSLOG_IDENTIFIER,_BOOT_ID";

/** Real outputs of the queries the diagnosis runs, for the parser tests (index.tsv: name, exit, command). */
async function capture(vm: Vm, kase: string): Promise<void> {
  if (!CAPTURE) return;
  const dir = path.join(OUT, kase);
  await mkdir(dir, { recursive: true });
  const boots = JSON.parse(await vm.sh(`${J} --list-boots -o json`)) as { boot_id: string; index: number }[];
  const cmds: [string, string][] = [
    ["list-boots-json", `${J} --list-boots -o json`],
    ["list-boots", `${J} --list-boots`],
  ];
  for (const b of boots) {
    const base = `${J} -b ${b.boot_id} -o json ${FIELDS}`;
    const tag = `boot${b.index}`;
    cmds.push(
      [`${tag}-kernel-head`, `${base} _TRANSPORT=kernel | head -n 300`],
      [
        `${tag}-milestones`,
        `${base} MESSAGE_ID=b07a249cd024414a82dd00cd181378ff MESSAGE_ID=98268866d1d54a499c4e98921d93bc40 MESSAGE_ID=d93fb3c9c24d451a97cea615ce59c00b + MESSAGE_ID=39f53479d3a045ac8e11786248231fbf UNIT=multi-user.target UNIT=shutdown.target UNIT=reboot.target UNIT=poweroff.target UNIT=halt.target UNIT=kexec.target + MESSAGE_ID=de5b426a63be47a7b6ac3eaac82e2f6f UNIT=systemd-journal-flush.service`,
      ],
      [
        `${tag}-failures`,
        `${base} MESSAGE_ID=be02cf6855d2428ba40df7e9d022f03d MESSAGE_ID=d9b373ed55a64feb8242e02dbe79a49c`,
      ],
      [`${tag}-kernel-errors`, `${base} -p 3 -n 10 _TRANSPORT=kernel`],
      [`${tag}-tail`, `${base} -n 1`],
    );
  }
  // store links are absolute: resolve them under /mnt by hand
  const initrdOf = (n: number) =>
    `/mnt$(readlink /mnt$(readlink /mnt/nix/var/nix/profiles/system-${n}-link)/initrd)`;
  cmds.push(["initrd-5-list", `zcat ${initrdOf(5)} | cpio -t --quiet | sort`]);
  cmds.push(["configuration-nix", "cat /mnt/etc/nixos/configuration.nix"]);
  const index: string[] = [];
  for (const [name, cmd] of cmds) {
    const r = await vm.run(cmd);
    await writeFile(path.join(dir, `${name}.stdout`), r.stdout);
    if (r.stderr) await writeFile(path.join(dir, `${name}.stderr`), r.stderr);
    index.push(`${name}\t${r.rc}\t${cmd}`);
  }
  await writeFile(path.join(dir, "index.tsv"), `${index.join("\n")}\n`);
  for (const n of [4, 5])
    await writeFile(
      path.join(dir, `initrd-${n}.gz`),
      Buffer.from(await vm.sh(`base64 -w0 ${initrdOf(n)}`), "base64"),
    );
}

let sets: DiagnosisSets;
beforeAll(async () => {
  sets = await ensureDiagnosisDiskSets();
});

describe("scenario 12a/c: 4 booted, 5 and 6 hang in stage 1 (then: no journal at all)", () => {
  let vm: Vm;
  let d: any;
  beforeAll(async () => {
    vm = await boot({ name: "s12-diag", diskSet: sets.good });
    expect((await waitForAutoMount(vm, "s12")).phase).toBe("mounted-ro");
  });
  afterAll(() => finish(vm));

  it("names generation 4, the modules new in 5's stage 1, and the fixes", async () => {
    await capture(vm, "good");
    const r = await vm.api("GET", "/v1/diagnosis");
    expectOk(r);
    d = r.body;
    if (CAPTURE) await writeFile(path.join(OUT, "good", "diagnosis.json"), `${JSON.stringify(d, null, 2)}\n`);
    expect(d.journal.state).toBe("ok");
    expect(d).toMatchObject({ lastGood: 4, firstBad: 5, bad: [5, 6] });
    expect(d.sentence).toMatch(
      /^Generation 4 booted last \(\d{4}-\d\d-\d\d, clean shutdown\); 5–6 have no boot in the journal: they hang before the root is mounted\.$/,
    );
    const b4 = d.boots.find((b: any) => b.generation === 4);
    expect(b4).toMatchObject({ reached: "multi-user", ended: "shutdown" });
    expect(b4.cmdline).toContain(`init=${sets.toplevels[4]}/init`);
    expect(b4.evidence[0]).toMatchObject({ kind: "journal" });
    expect(b4.evidence[0].ref).toMatch(/^s=[0-9a-f]{32};i=/);
    expect(d.generations.map((g: any) => [g.number, g.status])).toEqual([
      [6, "no-boot"],
      [5, "no-boot"],
      [4, "booted"],
      [3, "before-journal"],
      [2, "before-journal"],
      [1, "before-journal"],
    ]);
    expect(d.changes.initrd.loadedAdded).toEqual(["vfio_pci", "vfio", "vfio_iommu_type1"]);
    expect(d.changes.kernel).toEqual({ before: "6.6.74", after: "6.6.80" });
    expect(d.changes.kernelParams.added).toEqual(["intel_iommu=on", "iommu=pt"]);
    expect(d.changes.units.added).toEqual(["vfio-bind.service"]);
    expect(d.changes.packages.changed).toContainEqual({
      pname: "nginx",
      before: ["1.26.2"],
      after: ["1.26.3"],
    });
    expect(d.changes.packages.added.map((p: any) => p.pname)).toContain("qemu");
    expect(d.findings[0]).toMatchObject({ class: "stage1-module", confidence: "medium" });
    expect(d.cause).toBe(
      "A kernel module stops the boot in stage 1: vfio_pci, vfio, vfio_iommu_type1 are new in generation 5's initrd and loaded unconditionally in stage 1; 5–6 never got as far as mounting the root (no boot in the journal).",
    );
    expect(d.boots.every((b: any) => b.reachable === (b.reached === "multi-user"))).toBe(true);
    const kinds = d.proposals.map((p: any) => p.kind);
    expect(kinds.slice(0, 2)).toEqual(["loader-default", "kernel-param"]);
    expect(d.proposals[0].requests).toEqual([
      { method: "POST", path: "/v1/boot/default", body: { generation: 4 } },
    ]);
    expect(d.proposals[1].requests).toEqual(
      [5, 6].map((n) => ({
        method: "POST",
        path: `/v1/boot/entries/nixos-generation-${n}/kernel-params`,
        body: { add: ["module_blacklist=vfio_pci,vfio,vfio_iommu_type1"] },
      })),
    );
    const open = d.proposals.find((p: any) => p.kind === "open-config");
    expect(open.config.path).toBe("configuration.nix");
    const conf = await vm.sh("cat /mnt/etc/nixos/configuration.nix");
    expect(conf.split("\n")[open.config.line - 1]).toContain('"vfio_pci"');
    // read-only: nothing was written, no snapshot taken
    expect((await vm.api("GET", "/v1/status")).body.phase).toBe("mounted-ro");
    expect(await vm.sh("zfs list -H -t snapshot -o name -r nvmepool | wc -l")).toBe("0\n");
  });

  it("the proposals' requests work as sent, after a read-write mount", async () => {
    expectOk(await vm.api("POST", "/v1/mount", { readonly: false }));
    for (const p of d.proposals.filter((x: any) => x.kind !== "snapshot-rollback"))
      for (const q of p.requests) expectOk(await vm.api(q.method, q.path, q.body));
    expect(await vm.sh("grep ^default /mnt/boot/loader/loader.conf")).toBe(
      "default nixos-generation-4.conf\n",
    );
    expect(await vm.sh("grep ^options /mnt/boot/loader/entries/nixos-generation-5.conf")).toContain(
      " module_blacklist=vfio_pci,vfio,vfio_iommu_type1",
    );
  });

  it("without a journal it says so, and only guesses", async () => {
    expectOk(await vm.api("POST", "/v1/unmount", { export: true }));
    await vm.sh(
      "zpool import -N nvmepool && mount -t zfs nvmepool/var /mnt && rm -rf /mnt/log/journal && umount /mnt && zpool export nvmepool",
    );
    expectOk(await vm.api("POST", "/v1/mount", { readonly: true }));
    const r = await vm.api("GET", "/v1/diagnosis");
    expectOk(r);
    expect(r.body.journal.state).toBe("missing");
    expect(r.body.sentence).toMatch(
      /^The installed system has no persistent journal .*: boots cannot be matched to generations\./,
    );
    expect(r.body.boots).toEqual([]);
    expect(r.body.generations.every((g: any) => g.status === "unknown")).toBe(true);
    expect(r.body.proposals.every((p: any) => p.basis === "guess")).toBe(true);
  });
});

describe("scenario 12b: generation 5 reached stage 2, vfio-bind.service failed, the journal ends abruptly", () => {
  let vm: Vm;
  beforeAll(async () => {
    vm = await boot({ name: "s12b-diag", diskSet: sets.failed });
    expect((await waitForAutoMount(vm, "s12b")).phase).toBe("mounted-ro");
  });
  afterAll(() => finish(vm));

  it("names the failed unit, the abrupt end and the fixes", async () => {
    await capture(vm, "failed");
    const r = await vm.api("GET", "/v1/diagnosis");
    expectOk(r);
    const d = r.body;
    if (CAPTURE)
      await writeFile(path.join(OUT, "failed", "diagnosis.json"), `${JSON.stringify(d, null, 2)}\n`);
    expect(d).toMatchObject({ lastGood: 4, firstBad: 5, bad: [5, 6] });
    expect(d.sentence).toMatch(
      /^Generation 4 booted last successfully \(\d{4}-\d\d-\d\d, clean shutdown\); generation 5 booted on \d{4}-\d\d-\d\d but vfio-bind\.service failed and the journal ends abruptly; 6 has no boot in the journal: it hangs before the root is mounted\.$/,
    );
    const b5 = d.boots.find((b: any) => b.generation === 5);
    expect(b5).toMatchObject({ reached: "stage-2", ended: "abrupt" });
    expect(b5.failedUnits.map((f: any) => f.unit)).toEqual(["vfio-bind.service"]);
    expect(b5.kernelErrors.join("\n")).toContain("vfio-pci 0000:01:00.0: BAR 0");
    expect(d.generations.find((g: any) => g.number === 5).status).toBe("failed");
    expect(d.proposals[0]).toMatchObject({ kind: "loader-default", requests: [{ body: { generation: 4 } }] });
    const open = d.proposals.filter((p: any) => p.kind === "open-config");
    expect(open.map((p: any) => p.why).join("\n")).toContain("vfio-bind, which failed");
    expect(d.cause).toBe(
      "A kernel module stops the boot in stage 1: vfio_pci, vfio, vfio_iommu_type1 are new in generation 5's initrd and loaded unconditionally in stage 1; 6 never got as far as mounting the root (no boot in the journal); generation 5 reached stage 2, where vfio-bind.service failed.",
    );
  });
});
