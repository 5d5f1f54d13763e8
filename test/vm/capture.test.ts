// Records real command outputs from the lab guests into test/fixtures/vm-captured/ (parser fixtures).
// Skipped unless LIFEBOAT_VM_CAPTURE=1:   LIFEBOAT_VM_CAPTURE=1 npx vitest run --project vm test/vm/capture.test.ts
// Layout: CASE/NAME.stdout (+ NAME.stderr when not empty), CASE/index.tsv and a top-level index.tsv
// (case, name, exit code, command), PROVENANCE.md (versions of the guest that produced them).
// Commands never contain a passphrase: keys are written to a file in the guest first, uncaptured.
import fs from "node:fs/promises";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LSBLK_COLUMNS } from "../../agent/src/core/lsblk.js";
import { ZFS_LIST_COLUMNS } from "../../agent/src/core/zfs.js";
import {
  boot,
  type CaseName,
  ensureDiskSet,
  ensureGuest,
  LUKS_PASSPHRASE,
  layoutDiskSet,
  REPO,
  SERVER_HOSTID,
  shQuote,
  type Vm,
  ZFS_PASSPHRASE,
} from "./lab.js";
import { LAYOUT_EXPECTATIONS, LAYOUTS, type LayoutName, under } from "./layouts.js";
import { finish } from "./scenario.js";

const OUT = path.join(REPO, "test", "fixtures", "vm-captured");
const CAPTURE = process.env.LIFEBOAT_VM_CAPTURE === "1";

type Step = { name: string; cmd: string } | { setup: string };
const c = (name: string, cmd: string): Step => ({ name, cmd });
const setup = (cmd: string): Step => ({ setup: cmd });

const LSBLK =
  "lsblk --json -o NAME,PATH,TYPE,FSTYPE,FSVER,LABEL,UUID,PARTTYPE,PARTLABEL,PARTUUID,SIZE,MOUNTPOINTS";
const IMPORT_RO = "zpool import -N -R /mnt -o readonly=on";
/**
 * Every dataset with the columns of the agent's split listing (app/datasets.ts: its own columns and
 * what `used` is made of), by `-r`: what tells a leaf from a parent, on real pools.
 */
const SPACE_LIST = `zfs list -H -p -t filesystem,volume -r -o ${[
  ...ZFS_LIST_COLUMNS,
  "usedbydataset",
  "usedbysnapshots",
  "usedbyrefreservation",
  "usedbychildren",
].join(",")}`;

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

  it("writes the top-level index and the provenance", writeIndexAndProvenance);
});

// ------------------------------------------------------------------------------------------ layouts
/** Rescue boots of the capture: the disks the scenarios attach together (auto-mount layouts alone). */
const LAYOUT_GROUPS: LayoutName[][] = [
  ["openzfs-guide"],
  ["impermanence"],
  ["tmpfs-bpool"],
  ["hostile-zfs"],
  ["disko-zfs", "odd-names", "luks-zfs", "btrfs-subvol", "btrfs-zfs-data"],
];
const byId = (serial: string, n?: number) =>
  `/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_${serial}${n === undefined ? "" : `-part${n}`}`;
const MOUNT_OPTS = "ro,nodev,nosuid";
const READ_FSTAB =
  "P=$(readlink /mnt/nix/var/nix/profiles/system) && T=$(readlink /mnt/nix/var/nix/profiles/$P) && E=$(readlink /mnt$T/etc) && cat /mnt$E/fstab";

/** The system mounted by hand, read-only, the way its fstab and ZFS say (what the planner must do). */
function handMounts(name: Exclude<LayoutName, "hostile-zfs">): Step[] {
  const exp = LAYOUT_EXPECTATIONS[name];
  const tmpfsRoot = exp.mounts.some((m) => m.path === "/" && m.fstype === "tmpfs");
  return exp.mounts.map((m, i) => {
    const t = shQuote(under("/mnt", m.path));
    const mk = tmpfsRoot && m.path !== "/" ? `mkdir -p ${t} 2>/dev/null; ` : "";
    const slug = `mount-${String(i).padStart(2, "0")}-${m.path === "/" ? "root" : m.path.slice(1).replace(/[^A-Za-z0-9.-]+/g, "_")}`;
    const src = m.src;
    let cmd: string;
    // a tmpfs root holds no disk bytes: writable, so the mount points of the rest can be made in it
    if ("tmpfs" in src) cmd = `mount -t tmpfs -o nodev,nosuid,size=25%,mode=755 none ${t}`;
    else if ("zfs" in src) {
      const d = shQuote(src.zfs);
      cmd = `o=${MOUNT_OPTS}; [ "$(zfs get -H -o value mountpoint ${d})" = legacy ] || o=$o,zfsutil; mount -t zfs -o $o ${d} ${t}`;
    } else if ("bind" in src)
      cmd = `mount --bind ${shQuote(under("/mnt", src.bind))} ${t} && mount -o remount,bind,${MOUNT_OPTS} ${t}`;
    else {
      const dev = `$(readlink -f ${byId(src.part, src.n)})`;
      cmd =
        m.fstype === "btrfs"
          ? `mount -t btrfs -o ${MOUNT_OPTS},rescue=nologreplay,subvol=${m.subvol} ${dev} ${t}`
          : `mount -t ${m.fstype} -o ${MOUNT_OPTS} ${dev} ${t}`;
    }
    return c(slug, `${mk}${cmd}`);
  });
}

function layoutSteps(name: LayoutName): Step[] {
  const steps: Step[] = [];
  if (name === "hostile-zfs") {
    return [
      c("import-rpool", "zpool import -N -R /mnt -o readonly=on rpool"),
      c("zpool-list-j", "zpool list -j"),
      c("zpool-status-j", "zpool status -j"),
      c("zfs-list-Hp", `zfs list -H -p -o ${ZFS_LIST_COLUMNS.join(",")}`),
      c("zfs-list-space", `${SPACE_LIST} rpool`),
      c("zfs-get-j", "zfs get -j -r mountpoint,canmount,mounted,encryption,keystatus,encryptionroot rpool"),
      c("mount-00-root", `mount -t zfs -o ${MOUNT_OPTS} rpool/root /mnt`),
      c("mount-01-nix", `mount -t zfs -o ${MOUNT_OPTS} rpool/nix /mnt/nix`),
      c("mount-02-srv", `mount -t zfs -o ${MOUNT_OPTS},zfsutil rpool/srv /mnt/srv`),
      c("planted-links", "stat -c '%N %F' /mnt/escape1 /mnt/keys /mnt/data /mnt/srv/www"),
      c("proc-self-mountinfo", "cat /proc/self/mountinfo"),
      c("fstab", READ_FSTAB),
      c("umount-export", "umount -R /mnt && zpool export rpool"),
    ];
  }
  const exp = LAYOUT_EXPECTATIONS[name];
  if (exp.luks) {
    const dev = `$(readlink -f ${byId(exp.luks.part, exp.luks.n)})`;
    steps.push(
      setup(`printf '%s' ${shQuote(LUKS_PASSPHRASE)} >/run/key`),
      // the agent's mapper name (lifeboat-<kernel name>), opened the way it opens it
      c("luks-open", `d=${dev}; cryptsetup open --type luks --key-file=/run/key $d lifeboat-\${d##*/}`),
      setup("rm -f /run/key"),
      c("lsblk-json-luks-open", `lsblk --json -o ${LSBLK_COLUMNS}`),
      c("blkid-export-luks-open", "blkid -o export"),
      c("zpool-import-list-luks-open", "zpool import"),
    );
  }
  const pools = exp.pools.map(shQuote).join(" ");
  for (const p of exp.pools)
    steps.push(c(`import-${p}`, `zpool import -N -R /mnt -o readonly=on ${shQuote(p)}`));
  if (exp.pools.length > 0)
    steps.push(
      c("zpool-list-j", "zpool list -j"),
      c("zpool-status-j", "zpool status -j"),
      c("zfs-list-Hp", `zfs list -H -p -o ${ZFS_LIST_COLUMNS.join(",")}`),
      c("zfs-list-space", `${SPACE_LIST} ${pools}`),
      c(
        "zfs-get-j",
        `zfs get -j -r mountpoint,canmount,mounted,encryption,keystatus,encryptionroot ${pools}`,
      ),
    );
  steps.push(
    ...handMounts(name),
    c("proc-self-mountinfo", "cat /proc/self/mountinfo"),
    c("proc-mounts", "cat /proc/mounts"),
    c("fstab", READ_FSTAB),
    c("umount-export", `umount -R /mnt${exp.pools.length ? ` && zpool export ${pools}` : ""}`),
    c("zpool-import-list-after", "zpool import"),
  );
  if (exp.luks) steps.push(setup("for m in /dev/mapper/lifeboat-*; do cryptsetup close $m; done"));
  return steps;
}

describe.skipIf(!CAPTURE)("capture real outputs of the layouts into test/fixtures/vm-captured", () => {
  let vm: Vm | undefined;
  afterAll(() => finish(vm));

  for (const group of LAYOUT_GROUPS) {
    it(`captures layouts ${group.join(" + ")}`, async () => {
      const set = await layoutDiskSet(...group);
      vm = await boot({ name: `capture-${group[0]}`, diskSet: set, agent: false });
      const dirs = group.map((l) => path.join(OUT, l));
      const index = new Map(group.map((l) => [l, [] as string[]]));
      const record = async (layouts: LayoutName[], name: string, cmd: string) => {
        const r = await (vm as Vm).run(cmd);
        for (const l of layouts) {
          const dir = path.join(OUT, l);
          await fs.writeFile(path.join(dir, `${name}.stdout`), r.stdout);
          if (r.stderr) await fs.writeFile(path.join(dir, `${name}.stderr`), r.stderr);
          index.get(l)?.push([l, name, String(r.rc), cmd].join("\t"));
        }
      };
      for (const d of dirs) {
        await fs.rm(d, { recursive: true, force: true });
        await fs.mkdir(d, { recursive: true });
        await fs.writeFile(
          path.join(d, "attached"),
          `${set.serials.map((s, i) => `${s}\t${group.find((l) => set.info.find((x) => x.layout === l)?.disks.includes(s)) ?? "?"}\tdisk${i}`).join("\n")}\n`,
        );
      }
      // the whole boot's view before anything is imported or opened
      await record(
        group,
        "disk-serials",
        `for l in /dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_*; do printf '%s %s\\n' "\${l##*/}" "$(readlink -f "$l")"; done`,
      );
      await record(group, "lsblk-json", `lsblk --json -o ${LSBLK_COLUMNS}`);
      await record(group, "blkid-export", "blkid -o export");
      await record(group, "zpool-import-list", "zpool import");
      // the agent adopts the last host's hostid for a read-only import without -f
      await (vm as Vm).sh(
        `zgenhostid -f ${SERVER_HOSTID} && echo 0x${SERVER_HOSTID} >/sys/module/spl/parameters/spl_hostid`,
      );
      for (const l of group)
        for (const step of layoutSteps(l)) {
          if ("setup" in step) await (vm as Vm).sh(step.setup);
          else await record([l], step.name, step.cmd);
        }
      for (const l of group)
        await fs.writeFile(path.join(OUT, l, "index.tsv"), `${index.get(l)?.join("\n")}\n`);
      await vm.shutdown({ collectLogs: false });
      vm = undefined;
      for (const d of dirs)
        for (const f of await fs.readdir(d))
          expect(await fs.readFile(path.join(d, f), "utf8"), `${f} leaks a passphrase`).not.toContain(
            LUKS_PASSPHRASE,
          );
    }, 3_600_000); // may build the guest and the layout disks first
  }

  it("layouts: writes the top-level index and the provenance", writeIndexAndProvenance);
});

/** index.tsv of every captured case and layout, and PROVENANCE.md */
async function writeIndexAndProvenance(): Promise<void> {
  const guest = await ensureGuest();
  const rows: string[] = [];
  // the cases and layouts captured here, then any directory recorded another way (e.g. fd-targets)
  const dirs = (await fs.readdir(OUT, { withFileTypes: true }))
    .filter((d) => d.isDirectory())
    .map((d) => d.name);
  const known: string[] = [...CASES, ...LAYOUTS];
  for (const name of [...known, ...dirs.filter((d) => !known.includes(d)).sort()]) {
    const t = await fs.readFile(path.join(OUT, name, "index.tsv"), "utf8").catch(() => "");
    rows.push(...t.split("\n").filter(Boolean));
  }
  await fs.writeFile(path.join(OUT, "index.tsv"), `${rows.join("\n")}\n`);
  // notes written by hand after the generated text (about directories recorded another way) are kept
  const END = "Guids, UUIDs and timestamps differ between captures.\n";
  const old = await fs.readFile(path.join(OUT, "PROVENANCE.md"), "utf8").catch(() => "");
  const kept = old.includes(END) ? old.slice(old.indexOf(END) + END.length) : "";
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

Layouts (issue 12; disks from \`test/vm/guest/mklayouts.sh\`, same server, sources in its header and
in \`test/vm/layouts.ts\`): ${LAYOUTS.join(", ")}. Each was captured in a rescue boot with the disks
the scenarios attach together (\`LAYOUT_GROUPS\` in capture.test.ts; \`LAYOUT/attached\` names them):
\`disk-serials\` maps the by-id names (NVMe serials) to device paths; \`lsblk-json\` (the agent's columns), \`blkid-export\`
and \`zpool-import-list\` are the whole boot's view before any import; then, after adopting the server's
hostid, the layout's pools imported read-only (\`import-<pool>\`), \`zpool-list-j\`, \`zpool-status-j\`,
\`zfs-list-Hp\` (the agent's columns), \`zfs-list-space\` (every dataset with the columns of the listing in parts), \`zfs-get-j\`, the system mounted read-only by hand the way its
fstab and ZFS say (\`mount-*\`), \`proc-self-mountinfo\`, \`proc-mounts\`, the generation's \`fstab\`
(read through the profile links), then unmounted and exported (\`zpool-import-list-after\`: a read-only
import changes nothing, the pools are still "in use" by atlas).
Guids, UUIDs and timestamps differ between captures.
${kept}`,
  );
}
