// The failure classes' own readers (core/diagnosis/classes/), on records parsed from the REAL
// journals of the catalog (systemd-journal-remote from test/fixtures/diagnosis/catalog/*.export,
// read back with the real journalctl -o json) and on hostile variants of them.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { unifiedDiff } from "../../agent/src/core/diagnosis/classes/config.js";
import { unitPath } from "../../agent/src/core/diagnosis/classes/context.js";
import { deviceRef, findDevice } from "../../agent/src/core/diagnosis/classes/devices.js";
import { addNofail } from "../../agent/src/core/diagnosis/classes/mounts.js";
import {
  firewallDrops,
  knownAddresses,
  knownUsers,
  logins,
  sshdPorts,
  unreachableReasons,
} from "../../agent/src/core/diagnosis/classes/reach.js";
import type { BootFacts } from "../../agent/src/core/diagnosis.js";
import { planEspFree } from "../../agent/src/core/espFree.js";
import { failedUnits, type JournalRecord, parseJournalRecords } from "../../agent/src/core/journalBoots.js";
import { JOURNAL_REMOTE, writeJournal } from "../diagnosis-catalog/export.js";

const EXPORTS = join(import.meta.dirname, "..", "fixtures", "diagnosis", "catalog");
const tmp = mkdtempSync(join(tmpdir(), "diag-classes-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Every record of a catalog journal, per boot, as journalctl -o json prints them. */
function bootsOf(name: string): Map<string, JournalRecord[]> {
  const file = join(tmp, name, "system.journal");
  if (!existsSync(file)) writeJournal(readFileSync(join(EXPORTS, `${name}.export`), "utf8"), file);
  const out = execFileSync("journalctl", ["--file", file, "-o", "json", "--no-pager"], { encoding: "utf8" });
  const by = new Map<string, JournalRecord[]>();
  for (const r of parseJournalRecords(out)) by.set(r.bootId ?? "", [...(by.get(r.bootId ?? "") ?? []), r]);
  return by;
}

const facts = (records: JournalRecord[]): BootFacts => ({
  bootId: records[0]?.bootId ?? "",
  index: 0,
  first: null,
  last: null,
  cmdline: null,
  milestones: { multiUser: null, startupFinished: null, shutdown: null },
  failedUnits: failedUnits(records),
  kernelErrors: [],
  lastEntry: null,
  notable: records,
});

describe.skipIf(!existsSync(JOURNAL_REMOTE))("reachability on the catalog's real journals", () => {
  it("logins: root accepted on 41, refused on 42; the scanner's 'admin' never counts", () => {
    const [b41, b42] = [...bootsOf("logins-refused").values()].map(facts) as [BootFacts, BootFacts];
    expect(logins(b41).accepted.map((a) => a.user)).toEqual(["root"]);
    const users = knownUsers([b41, b42]);
    expect([...users]).toEqual(["root"]);
    expect(unreachableReasons(b41, users)).toEqual([]);
    expect(unreachableReasons(b42, users)).toEqual([
      "every login of root was refused (3 refused, none accepted)",
    ]);
    // only the internet's noise: nobody known was refused, the boot is not called unreachable
    const noise = facts((b42.notable ?? []).filter((r) => !/root/.test(r.message)));
    expect(unreachableReasons(noise, users)).toEqual([]);
  });

  it("a process that logs sshd's words under another name is not sshd", () => {
    const [b41] = [...bootsOf("logins-refused").values()].map(facts) as [BootFacts];
    const forged = (b41.notable ?? []).map((r) =>
      /Accepted/.test(r.message) ? { ...r, identifier: "logger" } : r,
    );
    expect(logins(facts(forged)).accepted).toEqual([]);
  });

  it("sshd failed and emergency mode are each a reason", () => {
    const sshd = [...bootsOf("sshd-failed").values()].map(facts)[1] as BootFacts;
    expect(unreachableReasons(sshd, new Set())).toEqual(["sshd.service failed"]);
    const em = [...bootsOf("mount-failed").values()].map(facts)[1] as BootFacts;
    expect(unreachableReasons(em, new Set())).toEqual(["emergency mode (emergency.service)"]);
    const net = [...bootsOf("network-missing").values()].map(facts)[1] as BootFacts;
    expect(unreachableReasons(net, new Set())).toEqual([
      "sys-subsystem-net-devices-eth0.device, network-addresses-eth0.service failed",
    ]);
  });
});

describe.skipIf(!existsSync(JOURNAL_REMOTE))(
  "the firewall's refused connections on the catalog's real journal",
  () => {
    const [b41, b42] = [...bootsOf("firewall-blocks-ssh").values()].map(facts) as [BootFacts, BootFacts];
    const users = knownUsers([b41, b42]);
    const addrs = knownAddresses([b41, b42]);

    it("the operator's address, from 41's accepted login; 42's drops to sshd's port from it make 42 unreachable", () => {
      expect([...addrs]).toEqual(["192.0.2.7"]);
      expect(sshdPorts(b42)).toEqual([22]);
      expect(firewallDrops(b42).map((d) => `${d.src}:${d.port}`)).toEqual([
        "192.0.2.7:22",
        "192.0.2.7:22",
        "203.0.113.9:23",
        "192.0.2.7:22",
      ]);
      expect(unreachableReasons(b41, users, addrs)).toEqual([]);
      expect(unreachableReasons(b42, users, addrs)).toEqual([
        "the firewall refused 3 SSH connections from 192.0.2.7, which logged in before",
      ]);
    });

    it("not a reason: drops from unknown addresses, a process that writes the prefix, a boot with an accepted login", () => {
      expect(unreachableReasons(b42, users, new Set(["198.51.100.1"]))).toEqual([]);
      const forged = (b42.notable ?? []).map((r) =>
        r.transport === "kernel" ? { ...r, transport: "syslog", identifier: "logger" } : r,
      );
      expect(unreachableReasons(facts(forged), users, addrs)).toEqual([]);
      const accepted = (b41.notable ?? []).filter((r) => /^Accepted /.test(r.message));
      expect(unreachableReasons(facts([...(b42.notable ?? []), ...accepted]), users, addrs)).toEqual([]);
      // sshd on another port: drops to 22 are not SSH connections
      const moved = (b42.notable ?? []).map((r) =>
        /^Server listening/.test(r.message)
          ? { ...r, message: r.message.replace("port 22", "port 2222") }
          : r,
      );
      expect(unreachableReasons(facts(moved), users, addrs)).toEqual([]);
    });
  },
);

describe("readers", () => {
  it("unit names unescape as systemd-escape --unescape --path does", () => {
    expect(unitPath("mnt-extern.mount")).toBe("/mnt/extern");
    expect(unitPath("-.mount")).toBe("/");
    expect(
      unitPath(
        "dev-disk-by\\x2did-usb\\x2dWD_Elements_25A3_574343374B364C594C59454C\\x2d0:0\\x2dpart1.device",
      ),
    ).toBe("/dev/disk/by-id/usb-WD_Elements_25A3_574343374B364C594C59454C-0:0-part1");
  });

  it("device references: FAT UUIDs compare without case, datasets are not devices", () => {
    const devs = [
      { path: "/dev/sda1", fstype: "vfat", uuid: "3302-674B", label: null, partuuid: null, partlabel: null },
    ];
    expect(findDevice(deviceRef("/dev/disk/by-uuid/3302-674b") as never, devs)?.path).toBe("/dev/sda1");
    expect(findDevice(deviceRef("UUID=3302-674B") as never, devs)?.path).toBe("/dev/sda1");
    expect(deviceRef("nvmepool/root")).toBeNull();
    expect(deviceRef("tmpfs")).toBeNull();
    expect(findDevice(deviceRef("/dev/disk/by-label/nixos") as never, devs)).toBeNull();
  });

  it("nofail goes into the entry's options, or a new line of its block; a one-line entry is left alone", () => {
    const gen = '  fileSystems."/data" =\n    { device = "/dev/sdb1";\n      fsType = "ext4";\n    };\n';
    expect(addNofail({ path: "h.nix", text: gen }, "/data")?.text).toBe(
      '  fileSystems."/data" =\n    { device = "/dev/sdb1";\n      fsType = "ext4";\n      options = [ "nofail" ];\n    };\n',
    );
    const withOpts =
      '  fileSystems."/data" = {\n    device = "/dev/sdb1";\n    options = [ "noatime" ];\n  };\n';
    expect(addNofail({ path: "h.nix", text: withOpts }, "/data")?.text).toContain(
      'options = [ "nofail" "noatime" ];',
    );
    expect(addNofail({ path: "h.nix", text: withOpts.replace('"noatime"', '"nofail"') }, "/data")).toBeNull();
    expect(
      addNofail({ path: "h.nix", text: '  fileSystems."/data" = { device = "/dev/sdb1"; };\n' }, "/data"),
    ).toBeNull();
    expect(
      addNofail({ path: "h.nix", text: '  fileSystems."/data".device = "/dev/sdb1";\n' }, "/data")?.text,
    ).toBe('  fileSystems."/data".device = "/dev/sdb1";\n  fileSystems."/data".options = [ "nofail" ];\n');
    // another mount point with the same prefix is not this one
    expect(addNofail({ path: "h.nix", text: gen.replace('"/data"', '"/data2"') }, "/data")).toBeNull();
  });

  it("the diff of an edit is a unified diff of the changed lines", () => {
    expect(unifiedDiff("c.nix", "a\nb\nc\n", "a\nB\nc\n")).toBe(
      "--- a/c.nix\n+++ b/c.nix\n@@ -2,1 +2,1 @@\n-b\n+B\n",
    );
    expect(unifiedDiff("c.nix", "a\nc\n", "a\nb\nc\n")).toBe(
      "--- a/c.nix\n+++ b/c.nix\n@@ -2,0 +2,1 @@\n+b\n",
    );
  });
});

describe("freeing the ESP", () => {
  it("removes the entries asked for and only the NixOS copies no kept entry uses; nothing outside EFI/nixos", () => {
    const plan = planEspFree(
      [
        {
          file: "nixos-generation-1.conf",
          paths: ["/EFI/nixos/a-linux-6.6.69-bzImage.efi", "/EFI/nixos/b-initrd.efi"],
        },
        {
          file: "nixos-generation-2.conf",
          paths: ["/EFI/nixos/a-linux-6.6.69-bzImage.efi", "/EFI/nixos/c-initrd.efi"],
        },
        {
          file: "nixos-generation-3.conf",
          paths: ["/efi/NIXOS/A-LINUX-6.6.69-BZIMAGE.EFI", "/EFI/nixos/d-initrd.efi"],
        },
        {
          file: "evil.conf",
          paths: [
            "/EFI/nixos/../../loader/loader.conf",
            "/EFI/Microsoft/Boot/bootmgfw.efi",
            "\\EFI\\nixos\\e.efi",
          ],
        },
      ],
      new Set(["nixos-generation-1.conf", "nixos-generation-2.conf", "evil.conf"]),
    );
    expect(plan.entries).toEqual(["nixos-generation-1.conf", "nixos-generation-2.conf", "evil.conf"]);
    // a- is still used by generation 3 (the ESP is FAT: names compare without case)
    expect(plan.files).toEqual(["EFI/nixos/b-initrd.efi", "EFI/nixos/c-initrd.efi", "EFI/nixos/e.efi"]);
  });
});
