/**
 * Fuzzing of the rescue parsers (issue 5): journalctl JSON, systemd-boot loader.conf and entries
 * (and their edits), GRUB, bootspec, generation links and store paths. Seeds: real journalctl
 * captures (test/fixtures/host-captured/journal), the lab-written loader files
 * (test/fixtures/generated, real format) and the real profile/readlink captures; GRUB and bootspec
 * have no capture, so their seeds are the shapes the unit tests use. Same property and seed.
 */
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LifeboatError } from "../../agent/src/core/errors.js";
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
  validateKernelParam,
} from "../../agent/src/core/loader.js";
import { FIXTURES } from "../helpers/fixtures.js";
import { fuzzParser, opts } from "./fuzz.js";
import { expectTyped, inputs, NASTY, RUNS, type Seed, seeds } from "./mutate.js";

const ROOT = join(FIXTURES, "..");
const JOURNAL = join(ROOT, "host-captured", "journal");
const GENERATED = join(ROOT, "generated");
/** Linux PATH_MAX: a symlink target or file name is never longer. */
const PATH_MAX = 4096;

fuzzParser("parseJournalJson", seeds(/^(?!list-boots).*-json\.stdout$/, [JOURNAL]), parseJournalJson, {
  check: (es) => {
    for (const e of es) {
      expect(typeof e.cursor).toBe("string");
      if (e.priority !== null) expect(e.priority >= 0 && e.priority <= 7).toBe(true);
    }
  },
});

fuzzParser("parseListBoots", seeds(/^list-boots-json\.stdout$/, [JOURNAL]), parseListBoots, { json: true });

fuzzParser("classifyJournalFailure", seeds(/^[^/]*\.stderr$/, [JOURNAL]), classifyJournalFailure, {
  allowed: null,
});

const LOADER: Seed[] = [
  ...seeds(/^GENERATED-loader\.conf$/, [GENERATED]),
  // The real capture `ls -l entries/; cat loader.conf`: its loader.conf lines.
  ...seeds(/single\/nixos-boot-entries\.stdout$/).map((s) => ({
    name: s.name,
    text: s.text
      .split("\n")
      .filter((l) => !/^(total|[-dl][rwx-]{9})/.test(l))
      .join("\n"),
  })),
];
const ENTRIES: Seed[] = [...seeds(/^GENERATED-nixos-generation-3\.conf$/, [GENERATED])];
const entryFile = fc.oneof(
  fc.constantFrom(
    "nixos-generation-2.conf",
    "nixos-generation-12-specialisation-x.conf",
    "a@b%c+d=e:f,g.h_i-j",
  ),
  fc.constantFrom(...NASTY),
  fc.string({ maxLength: 30 }),
);
const param = fc.oneof(
  fc.constantFrom(
    "loglevel=7",
    "systemd.unit=rescue.target",
    "nohibernate",
    "init=/x",
    "zfs.force=1",
    'a="b"',
  ),
  fc.constantFrom(...NASTY),
  fc.stringMatching(/^[\x21-\x7e]{1,12}$/),
);

fuzzParser("parseLoaderConf", LOADER, parseLoaderConf);
fuzzParser("parseBootEntry", ENTRIES, parseBootEntry);

describe("setLoaderDefault", () => {
  it(`${RUNS} edits: a loader.conf whose default is the entry, or validation-failed; other keys kept`, () => {
    fc.assert(
      fc.property(inputs(LOADER), entryFile, (text, file) => {
        const out = expectTyped(
          "setLoaderDefault",
          (x: string) => setLoaderDefault(x, file),
          text,
          LifeboatError,
        );
        if (out === undefined) return;
        let before: ReturnType<typeof parseLoaderConf> | null = null;
        try {
          before = parseLoaderConf(text);
        } catch {
          return; // the original was not a loader.conf: nothing to compare
        }
        const after = parseLoaderConf(out as string);
        expect(after.default).toBe(file);
        for (const [k, v] of Object.entries(before.values))
          if (k !== "default") expect(after.values[k]).toBe(v);
      }),
      opts,
    );
  });
});

describe("editEntryOptions", () => {
  it(`${RUNS} edits: added present, removed gone, other lines kept; or a typed error`, () => {
    fc.assert(
      fc.property(
        // CRLF entries are a reported bug (known-bugs.test.ts): the edit ignores their options lines.
        inputs(ENTRIES).map((t) => t.replace(/\r/g, "")),
        fc.array(param, { maxLength: 3 }),
        fc.array(param, { maxLength: 3 }),
        (text, add, remove) => {
          const r = expectTyped(
            "editEntryOptions",
            (x: string) => editEntryOptions(x, add, remove),
            text,
            LifeboatError,
          ) as ReturnType<typeof editEntryOptions> | undefined;
          if (r === undefined) return;
          for (const p of add) expect(r.after).toContain(p);
          for (const p of remove) if (!add.includes(p)) expect(r.after).not.toContain(p);
          const untouched = (t: string) => t.split("\n").filter((l) => !/^\s*options(\s|$)/.test(l));
          expect(untouched(r.text).filter((l) => l !== "")).toEqual(untouched(text).filter((l) => l !== ""));
        },
      ),
      opts,
    );
  });

  it(`${RUNS} strings: validateKernelParam returns its input or throws validation-failed`, () => {
    fc.assert(
      fc.property(param, (p) => {
        const r = expectTyped("validateKernelParam", validateKernelParam, p, LifeboatError);
        if (r !== undefined) expect(r).toBe(p);
      }),
      opts,
    );
  });
});

const GRUB: Seed[] = [
  {
    // GRUB's syntax as NixOS's grub installer writes it (no capture exists; same text as the unit test).
    name: "grub.cfg",
    text: `set default="0"
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
`,
  },
];
fuzzParser("parseGrubCfg", GRUB, parseGrubCfg, {
  allowed: null,
  check: (cfg) => expect(cfg.entries.every((e) => typeof e.title === "string")).toBe(true),
});

const BOOTSPEC: Seed[] = [
  {
    name: "boot.json",
    text: JSON.stringify(
      {
        "org.nixos.bootspec.v1": {
          init: "/nix/store/d0dz311354acadf3551ab8cbc428z0ca-nixos-system-atlas-24.11.20250107.7dc3f5e/init",
          initrd: "/nix/store/b-initrd-linux-6.6.69-initrd/initrd",
          kernel: "/nix/store/c-linux-6.6.69/bzImage",
          kernelParams: ["nohibernate", "loglevel=4"],
          label: "NixOS 24.11.20250107.7dc3f5e (Linux 6.6.69)",
          system: "x86_64-linux",
          toplevel: "/nix/store/d0dz311354acadf3551ab8cbc428z0ca-nixos-system-atlas-24.11.20250107.7dc3f5e",
        },
        "org.nixos.specialisation.v1": {},
      },
      null,
      2,
    ),
  },
];
fuzzParser("parseBootspec", BOOTSPEC, parseBootspec, { json: true });

fuzzParser(
  "parseKernelParams",
  [{ name: "kernel-params", text: "nohibernate loglevel=4\n" }],
  parseKernelParams,
  {
    allowed: null,
    check: (ps) => expect(ps.every((p) => p !== "" && !/\s/.test(p))).toBe(true),
  },
);

// Store paths and link names come from readlink/readdir: bounded by PATH_MAX.
const STORE_PATHS: Seed[] = seeds(/single\/nixos-(readlink-system|profiles)\.stdout$/).flatMap((s) =>
  s.text
    .split("\n")
    .flatMap((l) => l.split(" -> "))
    .filter((x) => x.startsWith("/nix/store/") || x.startsWith("system-"))
    .map((text, i) => ({ name: `${s.name}#${i}`, text })),
);

fuzzParser("parseSystemStorePath", STORE_PATHS, parseSystemStorePath, {
  allowed: null,
  maxLen: PATH_MAX,
});
fuzzParser("generationOfLink", STORE_PATHS, generationOfLink, {
  allowed: null,
  maxLen: PATH_MAX,
  // Digits beyond 2^53 lose precision ("system-9007199254740993-link" → …992): unrealistic, noted.
  check: (g) => expect(g === null || g >= 0).toBe(true),
});
fuzzParser(
  "generationOfEntry",
  [
    { name: "entry", text: "nixos-generation-3.conf" },
    { name: "spec", text: "nixos-generation-12-specialisation-x.conf" },
  ],
  generationOfEntry,
  { allowed: null, maxLen: PATH_MAX },
);
fuzzParser(
  "kernelVersionOf",
  [{ name: "kernel", text: "/nix/store/c0dz311354acadf3551ab8cbc428z0ca-linux-6.6.69/bzImage" }],
  kernelVersionOf,
  { allowed: null, maxLen: PATH_MAX },
);
