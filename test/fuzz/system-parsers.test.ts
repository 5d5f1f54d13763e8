/**
 * Fuzzing of the live-system parsers (lsblk, blkid, /proc/mounts, fstab, hostid, kernel command
 * line) and the configuration resolver: ≥ 10,000 generated inputs each from real captures. Same
 * property and fixed seed as parsers.test.ts.
 */
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { resolveConfig } from "../../agent/src/config.js";
import { parseKernelCmdline } from "../../agent/src/core/cmdline.js";
import { LifeboatError } from "../../agent/src/core/errors.js";
import { decodeHostIdFile, parseHostIdOutput } from "../../agent/src/core/hostid.js";
import { type BlockDevice, parseBlkidExport, parseLsblk } from "../../agent/src/core/lsblk.js";
import { parseFstab, parseProcMounts } from "../../agent/src/core/mounts.js";
import { FIXTURES } from "../helpers/fixtures.js";
import { fuzzParser, opts } from "./fuzz.js";
import { CMDLINES, expectTyped, FSTABS, inputs, NASTY, RUNS, seeds } from "./mutate.js";

const HOST = join(FIXTURES, "..", "host-captured");
const isStr = (v: unknown) => typeof v === "string";

fuzzParser("parseLsblk", seeds(/lsblk-(json|loop).*\.stdout$/, [FIXTURES, HOST]), parseLsblk, {
  json: true,
  check: (devs) => {
    const walk = (l: BlockDevice[]) => {
      for (const d of l) {
        expect(isStr(d.name) && d.name !== "" && isStr(d.path)).toBe(true);
        walk(d.children);
      }
    };
    walk(devs);
  },
});

fuzzParser("parseBlkidExport", seeds(/blkid-(export|loop).*\.stdout$/, [FIXTURES, HOST]), parseBlkidExport, {
  check: (m) => {
    for (const [dev, rec] of m) expect(rec.DEVNAME).toBe(dev);
  },
});

fuzzParser("parseProcMounts", seeds(/proc-mounts.*\.stdout$/), parseProcMounts, {
  check: (ms) => {
    for (const m of ms) expect(m.target).not.toBe("");
  },
});

fuzzParser("parseFstab", [...FSTABS, ...seeds(/proc-mounts.*\.stdout$/)], parseFstab, {
  // freq/passno are unused by the planner; "1e309" gives Infinity, which is harmless, NaN is not.
  check: (es) => {
    for (const e of es) expect(Number.isNaN(e.freq) || Number.isNaN(e.passno)).toBe(false);
  },
});

fuzzParser(
  "parseHostIdOutput",
  [
    { name: "hostid", text: "00bab10c\n" },
    { name: "hostid-0x", text: "0x8425e349\n" },
  ],
  parseHostIdOutput,
  { check: (h) => expect(h).toMatch(/^[0-9a-f]{8}$/) },
);

describe("decodeHostIdFile", () => {
  it(`${RUNS} byte strings: 8 hex digits or ParseError`, () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 16 }), (bytes) => {
        const r = expectTyped("decodeHostIdFile", decodeHostIdFile, bytes);
        if (r !== undefined) expect(r).toMatch(/^[0-9a-f]{8}$/);
      }),
      opts,
    );
  });
});

fuzzParser("parseKernelCmdline", CMDLINES, parseKernelCmdline, {
  allowed: null,
  check: (r) => {
    for (const v of Object.values(r)) expect(isStr(v)).toBe(true);
  },
});

describe("parseKernelCmdline round trip", () => {
  it(`${RUNS} generated lifeboat.* settings come back from a command line`, () => {
    const key = fc.stringMatching(/^[a-z][a-z0-9_.-]{0,11}$/);
    const value = fc.oneof(fc.stringMatching(/^[^\s"]{0,20}$/), fc.stringMatching(/^[^"]{0,20}$/));
    const noise = fc.constantFrom("quiet", "console=ttyS0", "init=/nix/store/x/init", "a=b=c", "lifeboat");
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(key, value), { selector: ([k]) => k, maxLength: 6 }),
        fc.array(noise, { maxLength: 4 }),
        fc.constantFrom(" ", "\t", "  ", "\n"),
        (settings, extra, sep) => {
          const parts = settings.map(([k, v]) =>
            /\s/.test(v) || v === "" ? `lifeboat.${k}="${v}"` : `lifeboat.${k}=${v}`,
          );
          const text = [...extra, ...parts].join(sep);
          const r = parseKernelCmdline(text);
          for (const [k, v] of settings) expect(r[k], text).toBe(v);
        },
      ),
      opts,
    );
  });
});

// ── resolveConfig ────────────────────────────────────────────────────────────────────────────────

const FLAG_NAMES = ["--listen", "--root", "--token-file", "--auto-mount", "--log-level"];
const configValue = fc.oneof(
  fc.constantFrom(
    "127.0.0.1:8080",
    "[::]:8080",
    "[::1]:0",
    ":99999",
    "8081",
    "a:b:c",
    "/mnt",
    "/",
    "//",
    "/../x",
    "relative",
    "ro",
    "rw",
    "readonly",
    "off",
    "0",
    "no",
    "debug",
    "silent",
    "0123456789abcdef",
    "short",
    "",
  ),
  fc.constantFrom(...NASTY),
  fc.string({ maxLength: 24 }),
);
const argvItem = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...FLAG_NAMES) },
  { weight: 3, arbitrary: configValue },
  {
    weight: 2,
    arbitrary: fc.tuple(fc.constantFrom(...FLAG_NAMES), configValue).map(([f, v]) => `${f}=${v}`),
  },
  { weight: 1, arbitrary: fc.constantFrom("-x", "--", "-", "--listen=", "=", "--ROOT") },
);
const ENV_NAMES = [
  "LIFEBOAT_LISTEN",
  "LIFEBOAT_ROOT",
  "LIFEBOAT_TOKEN_FILE",
  "LIFEBOAT_TOKEN",
  "LIFEBOAT_AUTO_MOUNT",
  "LIFEBOAT_LOG_LEVEL",
];
const cmdlineText = fc.oneof(
  inputs(CMDLINES),
  fc
    .array(
      fc
        .tuple(
          fc.constantFrom("listen", "root", "token", "tokenfile", "automount", "loglevel", "LISTEN"),
          configValue,
        )
        .map(([k, v]) => (/\s/.test(v) ? `lifeboat.${k}="${v.replace(/"/g, "")}"` : `lifeboat.${k}=${v}`)),
      { maxLength: 5 },
    )
    .map((a) => a.join(" ")),
);

describe("resolveConfig", () => {
  it(`${RUNS} argv/env/cmdline triples: a valid config or a validation-failed LifeboatError`, () => {
    fc.assert(
      fc.property(
        fc.array(argvItem, { maxLength: 8 }),
        fc.dictionary(fc.constantFrom(...ENV_NAMES), configValue, { maxKeys: 4 }),
        cmdlineText,
        (argv, env, cmdline) => {
          const input = { argv, env, cmdline };
          const action = expectTyped(
            "resolveConfig",
            (x: typeof input) => resolveConfig(x.argv, x.env, x.cmdline),
            input,
            LifeboatError,
          ) as ReturnType<typeof resolveConfig> | undefined;
          if (action === undefined) {
            expect(() => resolveConfig(argv, env, cmdline)).toThrow(
              expect.objectContaining({ code: "validation-failed" }),
            );
            return;
          }
          if (action.kind !== "run") return;
          const c = action.config;
          expect(Number.isInteger(c.port) && c.port >= 0 && c.port <= 65535).toBe(true);
          expect(c.root.startsWith("/") && c.root !== "/" && !c.root.split("/").includes("..")).toBe(true);
          expect(c.token === null || c.token.length >= 16).toBe(true);
          expect(["off", "readonly", "readwrite"]).toContain(c.autoMount);
        },
      ),
      opts,
    );
  });
});
