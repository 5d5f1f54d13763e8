/**
 * Bugs the fuzzers found, reduced to minimal inputs; all fixed. Kept as regression tests.
 */
import pino from "pino";
import { describe, expect, it } from "vitest";
import { resolveConfig } from "../../agent/src/config.js";
import { findCandidates } from "../../agent/src/core/candidates.js";
import { ParseError } from "../../agent/src/core/errors.js";
import { editEntryOptions } from "../../agent/src/core/loader.js";
import { parseLsblk } from "../../agent/src/core/lsblk.js";
import { parseFstab } from "../../agent/src/core/mounts.js";
import { type MountStep, planMount } from "../../agent/src/core/plan.js";
import { parseZpoolImport } from "../../agent/src/core/zpoolImport.js";
import { parseZpoolStatus } from "../../agent/src/core/zpoolJson.js";
import { buildServer } from "../../agent/src/http/server.js";
import { rig } from "../app/harness.js";
import { fixture } from "../helpers/fixtures.js";

/** Nesting deep enough to overflow the recursive walkers (JSON.parse itself copes). */
const DEPTH = 5_000;

function typedOrData(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ParseError);
  }
}

describe("deeply nested JSON overflows the recursive parsers (RangeError, not ParseError)", () => {
  it("parseLsblk: a device nested 5,000 children deep", () => {
    let dev = '{"name":"a"}';
    for (let i = 0; i < DEPTH; i++) dev = `{"name":"a","children":[${dev}]}`;
    typedOrData(() => parseLsblk(`{"blockdevices":[${dev}]}`));
  });

  it("parseZpoolStatus: a vdev nested 5,000 vdevs deep", () => {
    let v = '{"name":"a"}';
    for (let i = 0; i < DEPTH; i++) v = `{"name":"a","vdevs":{"x":${v}}}`;
    typedOrData(() =>
      parseZpoolStatus(
        `{"output_version":{"command":"zpool status"},"pools":{"p":{"name":"p","pool_guid":"1","state":"ONLINE","vdevs":{"r":${v}}}}}`,
      ),
    );
  });
});

describe("planMount: fstab targets are not normalized", () => {
  const plan = (fstab: string) => {
    const devices = parseLsblk(fixture("single", "lsblk-json-cols"));
    const importable = parseZpoolImport(fixture("single", "zpool-import-list"));
    const [candidate] = findCandidates({
      devices,
      importable,
      imported: [],
      datasets: [],
      mounts: [],
      root: "/mnt",
    });
    if (!candidate) throw new Error("no candidate");
    return planMount({
      root: "/mnt",
      candidate,
      readonly: true,
      devices,
      datasets: [],
      fstab: parseFstab(fstab),
    }).steps.filter((s): s is MountStep => s.kind === "mount");
  };

  it("a `..` target leaves the rescue root (/mnt/../etc: the ESP over the live /etc)", () => {
    const mounts = plan("nvmepool/root / zfs defaults 0 0\n/dev/nvme0n1p1 /../etc vfat defaults 0 0\n");
    for (const m of mounts) expect(m.target.split("/")).not.toContain("..");
  });

  it("`/nix` and `/nix/` (or `/` and `//`) are planned as two mounts on one target", () => {
    const mounts = plan(
      "nvmepool/root / zfs defaults\nnvmepool/x // zfs defaults\nnvmepool/nix /nix zfs defaults\nnvmepool/n2 /nix/ zfs defaults\n",
    );
    const targets = mounts.map((m) => m.target.replace(/\/+$/, ""));
    expect(new Set(targets).size).toBe(targets.length);
  });
});

describe("resolveConfig: Object.prototype names pass as options", () => {
  it("`constructor`, `__proto__`, `toString` are unknown options (validation-failed)", () => {
    for (const argv of [["constructor", "x"], ["__proto__", "x"], ["toString=1"]])
      expect(() => resolveConfig(argv, {}, ""), argv.join(" ")).toThrow(/unknown option/);
  });
});

describe("editEntryOptions on a CRLF boot entry", () => {
  it("removing a parameter removes it (the `options` regex does not match before \\r)", () => {
    const r = editEntryOptions("title NixOS\r\noptions init=/x quiet nohibernate\r\n", [], ["nohibernate"]);
    expect(r.after).not.toContain("nohibernate");
  });
});

describe("errors the router answers itself are plain JSON, not problem+json", () => {
  const TOKEN = "known-bugs-token-0123456789";
  const get = async (url: string) => {
    const r = await rig("single");
    const app = await buildServer({ token: TOKEN, logger: pino({ level: "silent" }), services: r.services });
    try {
      return await app.inject({ url, headers: { authorization: `Bearer ${TOKEN}` } });
    } finally {
      await app.close();
    }
  };
  it("a bad percent-encoding in a path parameter (FST_ERR_BAD_URL, 400)", async () => {
    const res = await get("/v1/config/%zz");
    expect(res.headers["content-type"]).toContain("application/problem+json");
  });
  it("a path parameter over 100 characters (FST_ERR_MAX_PARAM_LENGTH, 414)", async () => {
    const res = await get(`/v1/jobs/${"x".repeat(101)}`);
    expect(res.headers["content-type"]).toContain("application/problem+json");
  });
});
