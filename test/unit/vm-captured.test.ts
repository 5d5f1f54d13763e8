// Parsers on outputs captured in the QEMU lab (test/fixtures/vm-captured, see its PROVENANCE.md):
// OpenZFS 2.3.2, util-linux 2.38.1, cryptsetup 2.6.1, systemd 252, with udev running.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { findLuks } from "../../agent/src/core/candidates.js";
import { parseJournalJson } from "../../agent/src/core/journal.js";
import { flattenDevices, parseLsblk } from "../../agent/src/core/lsblk.js";
import { classifyImportFailure, parseZpoolImport } from "../../agent/src/core/zpoolImport.js";
import { parseZpoolStatus, unhealthyVdevs } from "../../agent/src/core/zpoolJson.js";

const V = join(import.meta.dirname, "..", "fixtures", "vm-captured");
const v = (kase: string, name: string) => readFileSync(join(V, kase, name), "utf8");

describe("VM-captured outputs", () => {
  it("a read-only import is refused for a foreign hostid just like a read-write one (names the host)", () => {
    expect(classifyImportFailure(v("single", "import-ro-no-f.stderr"))).toMatchObject({
      kind: "in-use-elsewhere",
      lastHost: "atlas",
      lastHostId: "8425e349",
    });
  });

  it("after a clean export the listing has no 'another system' status", () => {
    const [p] = parseZpoolImport(v("single", "zpool-import-list-exported.stdout"));
    expect(p).toMatchObject({ name: "nvmepool", lastAccessedByOtherSystem: false, importable: true });
  });

  it("the installed system's real journal (written by systemd-journald 252)", () => {
    const tail = parseJournalJson(v("single", "journalctl-json-tail.stdout"));
    expect(tail.length).toBeGreaterThan(0);
    expect(tail.every((e) => e.cursor.startsWith("s=") && e.time !== null)).toBe(true);
    expect(
      parseJournalJson(v("single", "journalctl-json-prio-err.stdout")).every(
        (e) => e.priority !== null && e.priority <= 3,
      ),
    ).toBe(true);
  });

  it("degraded mirror, zpool status -j --json-int: the missing member is named", () => {
    const [s] = parseZpoolStatus(v("degraded", "zpool-status-j-int.stdout"));
    expect(s?.state).toBe("DEGRADED");
    expect(unhealthyVdevs(s?.vdevs ?? [])).toHaveLength(1);
  });

  it("LUKS2 with udev: locked container, then the opened mapper with its ext4 inside", () => {
    const locked = parseLsblk(v("ext4-luks", "lsblk-json-locked.stdout"));
    expect(findLuks(locked).map((l) => [l.name, l.opened])).toEqual([["nvme0n1p2", null]]);
    const open = parseLsblk(v("ext4-luks", "lsblk-json-open.stdout"));
    const [luks] = findLuks(open);
    expect(luks?.opened).toMatch(/^\/dev\/mapper\//);
    const inner = flattenDevices(open).find((d) => d.type === "crypt");
    expect(inner).toMatchObject({ fstype: "ext4", label: "nixos" });
  });
});
