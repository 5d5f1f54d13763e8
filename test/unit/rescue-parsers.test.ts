import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LifeboatError, ParseError } from "../../agent/src/core/errors.js";
import {
  generationOfLink,
  kernelVersionOf,
  parseBootspec,
  parseKernelParams,
  parseSystemStorePath,
} from "../../agent/src/core/generations.js";
import { parseGrubCfg } from "../../agent/src/core/grub.js";
import { classifyJournalFailure, parseJournalJson, parseListBoots } from "../../agent/src/core/journal.js";
import {
  editEntryOptions,
  generationOfEntry,
  parseBootEntry,
  parseLoaderConf,
  setLoaderDefault,
} from "../../agent/src/core/loader.js";
import { parseSnapshots, parseZfsColumns } from "../../agent/src/core/zfs.js";
import { fixture } from "../helpers/fixtures.js";

const J = join(import.meta.dirname, "..", "fixtures", "host-captured", "journal");
const G = join(import.meta.dirname, "..", "fixtures", "generated");
const j = (name: string, s = "stdout") => readFileSync(join(J, `${name}.${s}`), "utf8");
const g = (name: string) => readFileSync(join(G, name), "utf8");

describe("generations (captured profile listing)", () => {
  it("link names and store paths as `ls -l` showed them", () => {
    const listing = fixture("single", "nixos-profiles");
    const links = [...listing.matchAll(/(system-\d+-link) -> (\S+)/g)].map((m) => [
      generationOfLink(m[1] as string),
      parseSystemStorePath(m[2] as string),
    ]);
    expect(links).toEqual([
      [1, { host: "atlas", version: "24.05.20240610.abc1234" }],
      [2, { host: "atlas", version: "24.11.20241203.55d1f92" }],
      [3, { host: "atlas", version: "24.11.20250107.7dc3f5e" }],
    ]);
    expect(generationOfLink("system")).toBeNull();
    expect(generationOfLink("system-3-link.tmp")).toBeNull();
  });
  it("kernel version and params", () => {
    expect(kernelVersionOf("/nix/store/0123456789abcdfghijklmnpqrsvwxyz-linux-6.6.69/bzImage")).toBe(
      "6.6.69",
    );
    expect(parseKernelParams("init=/nix/store/x/init nohibernate loglevel=4\n")).toEqual([
      "init=/nix/store/x/init",
      "nohibernate",
      "loglevel=4",
    ]);
  });
  it("bootspec v1 (shape per RFC 0125)", () => {
    const spec = parseBootspec(
      JSON.stringify({
        "org.nixos.bootspec.v1": {
          init: "/nix/store/a-nixos-system-x/init",
          initrd: "/nix/store/b-initrd/initrd",
          kernel: "/nix/store/c-linux-6.6.69/bzImage",
          kernelParams: ["loglevel=4"],
          label: "NixOS 24.11 (Linux 6.6.69)",
          system: "x86_64-linux",
          toplevel: "/nix/store/a-nixos-system-x",
        },
        "org.nixos.specialisation.v1": {},
      }),
    );
    expect(spec).toMatchObject({ label: "NixOS 24.11 (Linux 6.6.69)", kernelParams: ["loglevel=4"] });
    expect(() => parseBootspec("{}")).toThrow(ParseError);
    expect(() => parseBootspec("[")).toThrow(ParseError);
  });
});

describe("systemd-boot (lab-generated loader.conf and entry, real format)", () => {
  it("loader.conf: default and timeout; captured cat output agrees", () => {
    expect(parseLoaderConf(g("GENERATED-loader.conf"))).toMatchObject({
      default: "nixos-generation-3.conf",
      timeout: "5",
    });
    const captured = fixture("single", "nixos-boot-entries")
      .split("\n")
      .filter((l) => !l.startsWith("total") && !l.startsWith("-"))
      .join("\n");
    expect(parseLoaderConf(captured).default).toBe("nixos-generation-3.conf");
  });
  it("setting the default keeps every other line", () => {
    const text = g("GENERATED-loader.conf");
    const out = setLoaderDefault(text, "nixos-generation-2.conf");
    expect(out).toBe(text.replace("default nixos-generation-3.conf", "default nixos-generation-2.conf"));
    expect(parseLoaderConf(setLoaderDefault("timeout 3\n", "nixos-generation-1.conf")).default).toBe(
      "nixos-generation-1.conf",
    );
    expect(() => setLoaderDefault(text, "x\ny")).toThrow(LifeboatError);
  });
  it("entry: options split into params; generation from the file name", () => {
    const e = parseBootEntry(g("GENERATED-nixos-generation-3.conf"));
    expect(e.title).toBe("NixOS");
    expect(e.options).toEqual([
      "init=/nix/store/d0dz311354acadf3551ab8cbc428z0ca-nixos-system-atlas-24.11.20250107.7dc3f5e/init",
      "nohibernate",
      "loglevel=4",
    ]);
    expect(generationOfEntry("nixos-generation-3.conf")).toBe(3);
    expect(generationOfEntry("nixos-generation-3-specialisation-vm.conf")).toBe(3);
    expect(generationOfEntry("other.conf")).toBeNull();
  });
  it("kernel-param hotfix: add module_blacklist, remove loglevel; other lines byte-identical", () => {
    const text = g("GENERATED-nixos-generation-3.conf");
    const r = editEntryOptions(text, ["module_blacklist=vfio_pci"], ["loglevel=4"]);
    expect(r.after).toEqual([...r.before.filter((p) => p !== "loglevel=4"), "module_blacklist=vfio_pci"]);
    const changed = r.text.split("\n").filter((l, i) => l !== text.split("\n")[i]);
    expect(changed).toHaveLength(1);
    expect(editEntryOptions(r.text, ["module_blacklist=vfio_pci"], []).text).toBe(r.text);
    for (const bad of ["a b", "", "x\ny", 'q"uote', "x".repeat(300)])
      expect(() => editEntryOptions(text, [bad], []), bad).toThrow(LifeboatError);
  });
});

describe("journal (real journalctl 252 output)", () => {
  it("--list-boots -o json", () => {
    expect(parseListBoots(j("list-boots-json"))).toEqual([
      {
        index: -1,
        bootId: "0123456789abcdef0123456789abcdef",
        first: "2025-11-25T19:00:00.000Z",
        last: "2025-11-25T19:00:05.000Z",
      },
      {
        index: 0,
        bootId: "fedcba9876543210fedcba9876543210",
        first: "2025-11-26T19:00:00.000Z",
        last: "2025-11-26T19:01:31.600Z",
      },
    ]);
  });
  it("-o json entries: where the last boot hung", () => {
    const last = parseJournalJson(j("boot-last-json"));
    expect(last).toHaveLength(4);
    expect(last[2]).toMatchObject({
      priority: 3,
      identifier: "stage-1-init",
      message: "modprobe: waiting for vfio_pci: timed out after 90 s",
      unit: null,
    });
    expect(
      last.every((e) => e.cursor.startsWith("s=") && e.bootId === "fedcba9876543210fedcba9876543210"),
    ).toBe(true);
    expect(parseJournalJson(j("boot-last-prio3-json")).map((e) => e.priority)).toEqual([3, 2]);
    expect(parseJournalJson(j("unit-json"))[0]?.unit).toBe("zfs-zed.service");
    expect(parseJournalJson(j("after-cursor-json"))).toHaveLength(2);
    expect(parseJournalJson(j("boot-last-tail2-json"))).toHaveLength(2);
  });
  it("binary MESSAGE arrays decode; bad lines are parse errors", () => {
    const e = parseJournalJson('{"__CURSOR":"s=1","MESSAGE":[104,105],"PRIORITY":"9"}\n');
    expect(e[0]).toMatchObject({ message: "hi", priority: null });
    expect(() => parseJournalJson("{}\n")).toThrow(ParseError);
    expect(() => parseJournalJson("nope\n")).toThrow(ParseError);
  });
  it("failures (exit 1) are classified", () => {
    expect(classifyJournalFailure(j("bad-boot", "stderr"))).toBe("no-such-boot");
    expect(classifyJournalFailure(j("bad-cursor", "stderr"))).toBe("bad-cursor");
    expect(classifyJournalFailure(j("empty-dir", "stderr"))).toBe("no-journal");
  });
});

describe("zfs -H -p columns", () => {
  it("generic parser on the real captures", () => {
    const rows = parseZfsColumns(fixture("single", "zfs-get-Hp-subset"), [
      "name",
      "property",
      "value",
      "source",
    ] as const);
    expect(rows.find((r) => r.name === "nvmepool/root" && r.property === "mountpoint")?.value).toBe("legacy");
    expect(() => parseZfsColumns("a\tb\n", ["x"] as const)).toThrow(ParseError);
  });
  it("snapshot names split into dataset and snapshot", () => {
    const s = parseSnapshots("nvmepool/root@lifeboat-20261125T210000Z\t1764104400\t0\n");
    expect(s[0]).toMatchObject({
      dataset: "nvmepool/root",
      snapshot: "lifeboat-20261125T210000Z",
      created: "1764104400",
    });
    expect(() => parseSnapshots("nvmepool/root\t1\t0\n")).toThrow(ParseError);
  });
});

describe("grub.cfg (read-only; constructed in GRUB's syntax, no NixOS capture available)", () => {
  it("default, timeout, entries inside a submenu", () => {
    const cfg = parseGrubCfg(`set default="0"
set timeout=5
menuentry "NixOS - Default" --class nixos --unrestricted {
  search --set=drive1 --fs-uuid 3302-674B
  linux ($drive1)//kernels/abc-linux-6.6.69-bzImage init=/nix/store/x-nixos-system-atlas-24.11/init loglevel=4
  initrd ($drive1)//kernels/def-initrd-linux-6.6.69-initrd
}
submenu "NixOS - All configurations" --class submenu {
  menuentry "NixOS - Configuration 2 (2024-12-05 - 24.11.20241203.55d1f92)" --class nixos {
    linux ($drive1)//kernels/abc-linux-6.6.63-bzImage init=/nix/store/y/init
  }
}
`);
    expect(cfg).toMatchObject({ default: "0", timeout: "5" });
    expect(cfg.entries.map((e) => [e.title, e.submenu])).toEqual([
      ["NixOS - Default", null],
      ["NixOS - Configuration 2 (2024-12-05 - 24.11.20241203.55d1f92)", "NixOS - All configurations"],
    ]);
    expect(cfg.entries[0]?.options).toEqual([
      "init=/nix/store/x-nixos-system-atlas-24.11/init",
      "loglevel=4",
    ]);
  });
});
