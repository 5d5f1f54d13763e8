// Records real command outputs from the lab guests into test/fixtures/vm-captured/ (parser fixtures).
// Skipped unless LIFEBOAT_VM_CAPTURE=1:   LIFEBOAT_VM_CAPTURE=1 npx vitest run --project vm test/vm/capture.test.ts
// Layout: CASE/NAME.stdout (+ NAME.stderr when not empty), CASE/index.tsv and a top-level index.tsv
// (case, name, exit code, command), PROVENANCE.md (versions of the guest that produced them).
// Commands never contain a passphrase: keys are written to a file in the guest first, uncaptured.
import fs from "node:fs/promises";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  boot,
  type CaseName,
  ensureDiskSet,
  ensureGuest,
  LUKS_PASSPHRASE,
  REPO,
  shQuote,
  type Vm,
  ZFS_PASSPHRASE,
} from "./lab.js";
import { finish } from "./scenario.js";

const OUT = path.join(REPO, "test", "fixtures", "vm-captured");
const CAPTURE = process.env.LIFEBOAT_VM_CAPTURE === "1";

type Step = { name: string; cmd: string } | { setup: string };
const c = (name: string, cmd: string): Step => ({ name, cmd });
const setup = (cmd: string): Step => ({ setup: cmd });

const LSBLK =
  "lsblk --json -o NAME,PATH,TYPE,FSTYPE,FSVER,LABEL,UUID,PARTTYPE,PARTLABEL,PARTUUID,SIZE,MOUNTPOINTS";
const IMPORT_RO = "zpool import -N -R /mnt -o readonly=on";

function plan(name: CaseName, mid: string): Step[] {
  const J = `/mnt/var/log/journal/${mid}`;
  switch (name) {
    case "single":
      return [
        c(
          "versions",
          "uname -r; cat /sys/module/zfs/version; zfs version; lsblk --version; cryptsetup --version; journalctl --version | head -1; hostid",
        ),
        c("zdb-l-member", "zdb -l /dev/nvme0n1p2"),
        c("spl-hostid-param", "cat /sys/module/spl/parameters/spl_hostid"),
        c("etc-hostid-od", "od -An -tx1 /etc/hostid"),
        c("import-ro-no-f", `${IMPORT_RO} nvmepool`),
        // adopting the server's hostid the way the agent does: /etc/hostid + spl_hostid
        c(
          "adopt-hostid",
          "zgenhostid -f 8425e349 && echo 0x8425e349 >/sys/module/spl/parameters/spl_hostid && hostid && cat /sys/module/spl/parameters/spl_hostid",
        ),
        c("import-ro-after-adopt", `${IMPORT_RO} nvmepool`),
        c(
          "zpool-get-readonly",
          "zpool get -H -p -o name,property,value,source readonly,altroot,cachefile nvmepool",
        ),
        c("zpool-status-P", "zpool status -P nvmepool"),
        c("mount-root-ro", "mount -t zfs -o ro nvmepool/root /mnt && grep ' /mnt ' /proc/mounts"),
        c("write-on-ro", "touch /mnt/lifeboat-probe"),
        c("mount-var-ro", "mount -t zfs -o ro nvmepool/var /mnt/var && grep ' /mnt/var ' /proc/mounts"),
        c("journal-ls", `ls -la ${J}`),
        c("journalctl-list-boots", `journalctl --directory=${J} --list-boots --no-pager`),
        c("journalctl-json-tail", `journalctl --directory=${J} -o json -n 40 --no-pager`),
        c("journalctl-json-prio-err", `journalctl --directory=${J} -o json -p err --no-pager`),
        c("journalctl-json-ident-nginx", `journalctl --directory=${J} -o json -t nginx --no-pager`),
        c("journalctl-short-iso", `journalctl --directory=${J} -o short-iso -n 30 --no-pager`),
        c("journalctl-disk-usage", `journalctl --directory=${J} --disk-usage`),
        c("journalctl-root", "journalctl --root=/mnt -o short-iso -n 5 --no-pager"),
        c("journalctl-missing-dir", "journalctl --directory=/mnt/var/log/journal/nope -n 1 --no-pager"),
        c("umount-var-root", "umount /mnt/var && umount /mnt"),
        c("zpool-export", "zpool export nvmepool"),
        c("zdb-l-after-export", "zdb -l /dev/nvme0n1p2"),
        c("zpool-import-list-exported", "zpool import"),
        // a scan (`zpool import`) running next to an import makes the import fail now and then
        c(
          "import-during-scans",
          'zgenhostid -f 8425e349; for n in 1 2 3 4 5 6 7 8; do ( for i in 1 2 3 4 5 6 7 8; do zpool import >/dev/null 2>&1; done ) & L=$!; sleep 0.$((n % 4)); zpool import -N -R /mnt -o readonly=on nvmepool; echo "try $n rc=$?"; wait $L; zpool export nvmepool 2>/dev/null; done; zgenhostid -f 00bab10c',
        ),
      ];
    case "degraded":
      return [
        c("zdb-l-member", "zdb -l /dev/nvme0n1p2"),
        c("import-ro-f", `${IMPORT_RO} -f nvmepool`),
        c("zpool-status-P", "zpool status -P nvmepool"),
        c("zpool-status-j-int", "zpool status -j --json-int nvmepool"),
        c("zpool-get-health", "zpool get -H -p health nvmepool"),
      ];
    case "encrypted":
      return [
        setup(
          `printf '%s\\n' ${shQuote(ZFS_PASSPHRASE)} >/run/key && printf 'wrong-passphrase-1\\n' >/run/badkey`,
        ),
        c("import-ro-f", `${IMPORT_RO} -f nvmepool`),
        c(
          "zfs-get-crypto",
          "zfs get -H -p -r -o name,property,value,source keystatus,encryptionroot,keyformat,keylocation,encryption nvmepool",
        ),
        c("mount-locked-ro", "mount -t zfs -o ro nvmepool/root /mnt"),
        c("load-key-wrong-ro-import", "zfs load-key nvmepool </run/badkey"),
        c("load-key-ro-import", "zfs load-key nvmepool </run/key"),
        c("keystatus-after", "zfs get -H -p -r -o name,value keystatus nvmepool"),
        c("mount-root-ro", "mount -t zfs -o ro nvmepool/root /mnt && grep ' /mnt ' /proc/mounts"),
        c("unload-key-mounted", "zfs unload-key nvmepool"),
        c(
          "umount-unload",
          "umount /mnt && zfs unload-key nvmepool && zfs get -H -o value keystatus nvmepool",
        ),
        setup("rm -f /run/key /run/badkey"),
      ];
    case "two-pools":
      return [
        c("zdb-l-tank", "zdb -l /dev/nvme1n1p1"),
        c("import-ro-f-nvmepool", `${IMPORT_RO} -f nvmepool`),
        c("zpool-import-list-rest", "zpool import"),
        c("zpool-list-H", "zpool list -H -p -o name,health,readonly,altroot"),
      ];
    case "ext4-luks":
      return [
        setup(
          `printf '%s' ${shQuote(LUKS_PASSPHRASE)} >/run/key && printf 'wrong-passphrase-2' >/run/badkey`,
        ),
        c("lsblk-json-locked", LSBLK),
        c("lsblk-json-O-locked", "lsblk --json -O /dev/nvme0n1"),
        c("blkid-luks", "blkid -o export /dev/nvme0n1p2"),
        c("is-luks", "cryptsetup isLuks /dev/nvme0n1p2"),
        c("is-luks-esp", "cryptsetup isLuks /dev/nvme0n1p1"),
        c("luks-dump", "cryptsetup luksDump /dev/nvme0n1p2"),
        c("luks-dump-json", "cryptsetup luksDump --dump-json-metadata /dev/nvme0n1p2"),
        c("open-wrong", "cryptsetup open --key-file /run/badkey /dev/nvme0n1p2 cryptroot"),
        c("open-wrong-stdin", "cryptsetup open --key-file - /dev/nvme0n1p2 cryptroot </run/badkey"),
        c("open", "cryptsetup open --key-file /run/key /dev/nvme0n1p2 cryptroot"),
        c("open-again", "cryptsetup open --key-file /run/key /dev/nvme0n1p2 cryptroot"),
        c("open-other-name", "cryptsetup open --key-file /run/key /dev/nvme0n1p2 luks-other"),
        c("status", "cryptsetup status cryptroot"),
        c("lsblk-json-open", LSBLK),
        c("blkid-mapper", "blkid -o export /dev/mapper/cryptroot"),
        c("mapper-ls", "ls -l /dev/mapper/ && ls -l /dev/disk/by-id/ | grep -i dm-"),
        c(
          "mount-ro-noload",
          "mount -t ext4 -o ro,noload /dev/mapper/cryptroot /mnt && grep ' /mnt ' /proc/mounts",
        ),
        c("findmnt-J", "findmnt -J /mnt"),
        c("close-busy", "cryptsetup close cryptroot"),
        c("umount-close", "umount /mnt && cryptsetup close cryptroot && ls /dev/mapper"),
        c("status-closed", "cryptsetup status cryptroot"),
        setup("rm -f /run/key /run/badkey"),
      ];
    case "fault":
      return [
        c("import-ro-f", `${IMPORT_RO} -f nvmepool`),
        c("mount-root-ro", "mount -t zfs -o ro nvmepool/root /mnt"),
        c("stat-home", "stat -c '%F %s' /mnt/home"),
        c("mount-home-on-file", "mount -t zfs -o ro nvmepool/home /mnt/home"),
        c("umount-export", "umount /mnt && zpool export nvmepool"),
      ];
    case "exported":
      return [
        c("zpool-import-list", "zpool import"),
        c("zdb-l-exported", "zdb -l /dev/nvme0n1p2"),
        c("import-ro-no-f", `${IMPORT_RO} nvmepool`),
        c("zpool-status", "zpool status nvmepool"),
      ];
    default:
      return [];
  }
}

const CASES: CaseName[] = ["single", "degraded", "encrypted", "two-pools", "ext4-luks", "fault", "exported"];

describe.skipIf(!CAPTURE)("capture real outputs into test/fixtures/vm-captured", () => {
  let vm: Vm | undefined;
  afterAll(() => finish(vm));

  for (const name of CASES) {
    it(`captures ${name}`, async () => {
      const set = await ensureDiskSet(name);
      vm = await boot({ name: `capture-${name}`, diskSet: set, agent: false });
      const dir = path.join(OUT, name);
      await fs.rm(dir, { recursive: true, force: true });
      await fs.mkdir(dir, { recursive: true });
      const index: string[] = [];
      for (const step of plan(name, set.info.machineId ?? "")) {
        if ("setup" in step) {
          await vm.sh(step.setup);
          continue;
        }
        const r = await vm.run(step.cmd);
        await fs.writeFile(path.join(dir, `${step.name}.stdout`), r.stdout);
        if (r.stderr) await fs.writeFile(path.join(dir, `${step.name}.stderr`), r.stderr);
        index.push([name, step.name, String(r.rc), step.cmd].join("\t"));
      }
      await fs.writeFile(path.join(dir, "index.tsv"), `${index.join("\n")}\n`);
      await vm.shutdown({ collectLogs: false });
      vm = undefined;
      for (const secret of [ZFS_PASSPHRASE, LUKS_PASSPHRASE])
        for (const f of await fs.readdir(dir))
          expect(await fs.readFile(path.join(dir, f), "utf8"), `${f} leaks a passphrase`).not.toContain(
            secret,
          );
    }, 3_600_000); // may build the guest and the disk set first
  }

  it("writes the top-level index and the provenance", async () => {
    const guest = await ensureGuest();
    const rows: string[] = [];
    for (const name of CASES) {
      const t = await fs.readFile(path.join(OUT, name, "index.tsv"), "utf8").catch(() => "");
      rows.push(...t.split("\n").filter(Boolean));
    }
    await fs.writeFile(path.join(OUT, "index.tsv"), `${rows.join("\n")}\n`);
    const e = guest.env;
    await fs.writeFile(
      path.join(OUT, "PROVENANCE.md"),
      `# Provenance of \`test/fixtures/vm-captured/\`

Real outputs recorded by \`test/vm/capture.test.ts\` (\`LIFEBOAT_VM_CAPTURE=1\`) on ${new Date().toISOString().slice(0, 10)},
inside the VM lab's rescue guest: Debian 12, kernel ${e.KERNEL}, OpenZFS ${e.ZFS} (zfsutils-linux ${e.ZFSUTILS_DEB},
DKMS-built kmod), util-linux ${e.UTIL_LINUX_DEB}, cryptsetup ${e.CRYPTSETUP_DEB}, systemd/journalctl ${e.SYSTEMD_DEB};
rescue hostname \`rescue\`, hostid \`${e.RESCUE_HOSTID}\` (until a command adopts another).
Disk sets come from \`test/vm/guest/mkserver.sh\`, run in the same guest acting as the server \`atlas\`
(hostid \`8425e349\`), which left its pools imported (not exported) unless the case says otherwise.
The journal in \`single\` was written by a real systemd-journald (Storage=persistent, machine-id of
the server) during disk-set creation: kernel messages of that boot plus a few logger/systemd-cat lines.

Layout: \`CASE/NAME.stdout\` (always), \`CASE/NAME.stderr\` (when not empty), \`CASE/index.tsv\` and
\`index.tsv\` = case, name, exit code, command, in the order the commands ran (state carries over
from one command to the next). Commands read passphrases from files written beforehand.

Cases: single (1 NVMe disk, nvmepool), degraded (mirror with disk1 missing), encrypted (passphrase
on the pool root), two-pools (nvmepool + tank), ext4-luks (ext4 inside LUKS2, argon2id), fault
(/home on the root dataset is a regular file), exported (pool exported cleanly by the server).
Guids, UUIDs and timestamps differ between captures.
`,
    );
  });
});
