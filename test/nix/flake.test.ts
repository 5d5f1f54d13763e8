/**
 * The Nix side (flake.nix, flake.lock, iso/) as far as it can be checked without building anything:
 *  - flake.lock is the verified nixos-25.11 node of ../shared/nix (lock format 7, nixpkgs only);
 *  - iso/*.sh pass `bash -n` (and shellcheck when installed);
 *  - ../shared/nixcheck/check.sh, run on a staged copy of the repository: `nix-instantiate --parse` of
 *    every .nix file, test/nix/eval-check.nix + test/nix/stub-check.nix (module tests, expected
 *    failures), `nix flake show`, `nix flake check --no-build` and `bash -n` of the build phases, all
 *    against the real nixpkgs lib with stub packages and NixOS options.
 *
 * Why staged: check.sh reads module tests from nix/eval-check.nix; this repository keeps them in
 * test/nix (evaluation tests are not product code). The staged project is the working tree's tracked
 * and untracked-not-ignored files plus nix/eval-check.nix (a few lines joining test/nix/eval-check.nix
 * and test/nix/stub-check.nix), committed into a throw-away git repository. The staged checker is a
 * copy of ../shared/nixcheck with check.sh byte-identical; its fake nixpkgs is extended by
 * test/nix/nixcheck-stubs/ and by the facts recorded from nixpkgs at the pin
 * (test/nix/nixpkgs-facts/nixos-25.11.json): every nixpkgs module named there (the installer chain,
 * profiles, networkmanager, zfs, ...) gets a one-line stub at its nixpkgs path that defines what the
 * real module defines, at the same priorities, and asserts what it asserts.
 *
 * What is missing on this machine is skipped with the reason in the test title, never passed.
 */
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const shared = resolve(repo, "../shared");
const checkerDir = join(shared, "nixcheck");
const checkSh = join(checkerDir, "check.sh");
const pinFile = join(shared, "nix", "nixpkgs-pin.json");
const stubsDir = join(repo, "test", "nix", "nixcheck-stubs");
const nixpkgsLibDir = process.env.NIXPKGS_LIB ?? "/var/cache/nixcheck/nixpkgs-lib";
/** check.sh wants <dir>/lib/default.nix; a flat copy of nixpkgs' lib/ (<dir>/default.nix) is staged. */
const nixpkgsLibLayout = existsSync(join(nixpkgsLibDir, "lib/default.nix"))
  ? "tree"
  : existsSync(join(nixpkgsLibDir, "default.nix"))
    ? "flat"
    : null;
const factsFile = join(repo, "test", "nix", "nixpkgs-facts", "nixos-25.11.json");
const chroot = process.env.NIXCHECK_CHROOT ?? "/var/cache/nixcheck/trixie";
/** First run builds a Debian chroot with Nix (measured 55-115 s); later runs take ~10 s. */
const CHECK_TIMEOUT_MS = 15 * 60_000;

const run = (cmd: string, args: string[], opts: { cwd?: string; input?: string } = {}) =>
  spawnSync(cmd, args, {
    cwd: opts.cwd ?? repo,
    input: opts.input,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
const have = (cmd: string) => run("sh", ["-c", `command -v ${cmd}`]).status === 0;
const skipped = (title: string, reason: string | null) => (reason ? `${title} [SKIPPED: ${reason}]` : title);

/** Files git would give a flake: tracked plus untracked-not-ignored, as check.sh lists them. */
function projectFiles(): string[] {
  const out = run("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"]);
  if (out.status !== 0) throw new Error(`git ls-files failed: ${out.stderr}`);
  return [...new Set(out.stdout.split("\0").filter((f) => f !== "" && existsSync(join(repo, f))))].sort();
}
const nixFiles = projectFiles().filter((f) => f.endsWith(".nix"));
const shellScripts = projectFiles().filter(
  (f) =>
    // the lab's NixOS stand-ins (nixos-enter.sh, nixos-target-tools.sh), not its tree builders
    (f.startsWith("iso/") ||
      f.startsWith("test/nix/") ||
      /^test\/vm\/guest\/nixos-(enter|target)[^/]*$/.test(f)) &&
    f.endsWith(".sh"),
);

function nixVersionOk(): boolean {
  const v = run("nix-instantiate", ["--version"]);
  const m = v.status === 0 ? /(\d+)\.(\d+)/.exec(v.stdout) : null;
  return m !== null && (Number(m[1]) > 2 || (Number(m[1]) === 2 && Number(m[2]) >= 18));
}
const canHaveNix =
  nixVersionOk() ||
  existsSync(join(chroot, "usr/bin/nix")) ||
  (process.getuid?.() === 0 && (have("mmdebstrap") || have("apt-get")));
const checkerReason = !existsSync(checkSh)
  ? `no ${checkSh}`
  : !canHaveNix
    ? "no Nix >= 2.18, no nixcheck chroot, and not root to build one"
    : null;
const evalReason =
  checkerReason ??
  (nixpkgsLibLayout ? null : `no nixpkgs lib at ${nixpkgsLibDir} (see ../shared/nixcheck/README.md)`);
const shellcheckReason = have("shellcheck") ? null : "shellcheck not installed";
const nixfmtReason = have("nixfmt")
  ? null
  : "nixfmt not available here (not packaged for Debian, not on npm)";
for (const r of [checkerReason, evalReason, shellcheckReason, nixfmtReason])
  if (r) console.warn(`[test/nix] skipping: ${r}`);

/** Copies the project and the checker into a temp dir, extends the checker's stubs, runs check.sh. */
function stageAndCheck(tmp: string): { status: number | null; output: string } {
  const project = join(tmp, "project");
  for (const f of projectFiles()) {
    mkdirSync(dirname(join(project, f)), { recursive: true });
    cpSync(join(repo, f), join(project, f));
  }
  mkdirSync(join(project, "nix"));
  writeFileSync(
    join(project, "nix", "eval-check.nix"),
    [
      "# staged by test/nix/flake.test.ts: the project's evaluation tests plus the stub-only checks",
      "args:",
      "let",
      "  a = import ../test/nix/eval-check.nix args;",
      "  b = import ../test/nix/stub-check.nix args;",
      "in",
      "{",
      "  tests = a.tests // b.tests;",
      "  expectFailure = a.expectFailure // b.expectFailure;",
      "}",
      "",
    ].join("\n"),
  );
  for (const args of [
    ["init", "-q"],
    ["add", "-A"],
    ["-c", "user.name=nixcheck", "-c", "user.email=nixcheck@localhost", "commit", "-qm", "staged"],
  ]) {
    const r = run("git", args, { cwd: project });
    if (r.status !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr}`);
  }

  const checker = join(tmp, "nixcheck");
  cpSync(checkerDir, checker, { recursive: true });
  run("chmod", ["-R", "u+w", checker]);
  const fake = join(checker, "fake-nixpkgs");
  renameSync(join(fake, "pkgs", "default.nix"), join(fake, "pkgs", "nixcheck-base.nix"));
  cpSync(join(stubsDir, "pkgs-default.nix"), join(fake, "pkgs", "default.nix"));
  cpSync(join(stubsDir, "pkgs.nix"), join(fake, "pkgs", "lifeboat-stubs.nix"));
  renameSync(
    join(fake, "nixos", "lib", "eval-config.nix"),
    join(fake, "nixos", "lib", "eval-config-base.nix"),
  );
  cpSync(join(stubsDir, "eval-config.nix"), join(fake, "nixos", "lib", "eval-config.nix"));
  cpSync(join(stubsDir, "nixos.nix"), join(fake, "nixos", "modules", "lifeboat-stubs.nix"));
  // The facts and the one-line stub of every nixpkgs module they describe (replacing the shared
  // installer stubs: those define none of what the real installer chain defines).
  cpSync(factsFile, join(fake, "nixos", "lifeboat-facts.json"));
  cpSync(join(stubsDir, "facts-module.nix"), join(fake, "nixos", "modules", "lifeboat-facts-module.nix"));
  const facts = JSON.parse(readFileSync(factsFile, "utf8")) as { modules: Record<string, unknown> };
  for (const file of Object.keys(facts.modules)) {
    if (!/^nixos\/modules\/[\w./-]+\.nix$/.test(file) || file.includes(".."))
      throw new Error(`bad facts path ${file}`);
    const target = join(fake, file);
    const depth = file.split("/").length - 3; // from nixos/modules/<dir…>/x.nix up to nixos/modules
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(
      target,
      `# stub of nixpkgs' ${file} from test/nix/nixpkgs-facts (staged by test/nix/flake.test.ts)\nimport ${"../".repeat(depth)}lifeboat-facts-module.nix "${file}"\n`,
    );
  }
  if (readFileSync(join(checker, "check.sh"), "utf8") !== readFileSync(checkSh, "utf8"))
    throw new Error("staged check.sh differs");
  chmodSync(join(checker, "check.sh"), 0o755);

  const env = { ...process.env };
  if (nixpkgsLibLayout === "flat") {
    const lib = join(tmp, "nixpkgs-lib");
    cpSync(nixpkgsLibDir, join(lib, "lib"), { recursive: true, dereference: true });
    env.NIXPKGS_LIB = lib;
  }
  const r = spawnSync("bash", [join(checker, "check.sh"), project], {
    encoding: "utf8",
    env,
    maxBuffer: 64 * 1024 * 1024,
    timeout: CHECK_TIMEOUT_MS - 30_000,
  });
  return { status: r.status, output: `${r.stdout}${r.stderr}${r.error ? `\n${r.error}` : ""}` };
}

describe("flake.lock", () => {
  const lock = JSON.parse(readFileSync(join(repo, "flake.lock"), "utf8"));

  it("is lock format 7 with nixpkgs as the only input", () => {
    expect(lock.version).toBe(7);
    expect(lock.root).toBe("root");
    expect(Object.keys(lock.nodes).sort()).toEqual(["nixpkgs", "root"]);
    expect(lock.nodes.root).toEqual({ inputs: { nixpkgs: "nixpkgs" } });
    const locked = lock.nodes.nixpkgs.locked;
    expect(locked.rev).toMatch(/^[0-9a-f]{40}$/);
    expect(locked.narHash).toMatch(/^sha256-[A-Za-z0-9+/]{43}=$/);
  });

  it.skipIf(!existsSync(pinFile))(
    skipped(
      "pins the verified nixos-25.11 node of ../shared/nix",
      existsSync(pinFile) ? null : `no ${pinFile}`,
    ),
    () => {
      const pin = JSON.parse(readFileSync(pinFile, "utf8"));
      expect(lock.nodes.nixpkgs).toEqual({ locked: pin.locked, original: pin.original });
    },
  );

  it("flake.nix asks for the locked branch and has no other input", () => {
    const flake = readFileSync(join(repo, "flake.nix"), "utf8");
    const o = lock.nodes.nixpkgs.original;
    expect(flake).toContain(`inputs.nixpkgs.url = "github:${o.owner}/${o.repo}/${o.ref}";`);
    const inputs = new Set([...flake.matchAll(/\binputs\.([A-Za-z][\w-]*)/g)].map((m) => m[1]));
    expect([...inputs]).toEqual(["nixpkgs"]);
    expect(flake).toMatch(/outputs =\s*\{ self, nixpkgs \}:/);
  });
});

describe("shell scripts of the Nix side and the lab's NixOS stand-ins", () => {
  it("are there", () => {
    expect(shellScripts).toEqual(
      expect.arrayContaining([
        "iso/console-banner.sh",
        "test/nix/seed-disk.sh",
        "test/vm/guest/nixos-enter.sh",
        "test/vm/guest/nixos-target-tools.sh",
      ]),
    );
  });
  it.each(shellScripts)("bash -n %s", (f) => {
    const r = run("bash", ["-n", f]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });
  it.skipIf(shellcheckReason !== null)(skipped("shellcheck", shellcheckReason), () => {
    const r = run("shellcheck", ["-x", "-s", "bash", ...shellScripts]);
    expect(r.stdout).toBe("");
    expect(r.status).toBe(0);
  });
});

describe("nixcheck: ../shared/nixcheck/check.sh on a staged copy", () => {
  let tmp = "";
  let result: { status: number | null; output: string } = { status: null, output: "" };
  const lines = () => result.output.split("\n");
  const ok = (what: string) => lines().includes(`ok   - ${what}`);

  beforeAll(() => {
    if (checkerReason) return;
    tmp = mkdtempSync(join(tmpdir(), "lifeboat-nixcheck-"));
    result = stageAndCheck(tmp);
  }, CHECK_TIMEOUT_MS);
  afterAll(() => {
    if (tmp && !process.env.LIFEBOAT_KEEP_NIXCHECK) rmSync(tmp, { recursive: true, force: true });
  });

  it.skipIf(checkerReason !== null)(skipped("ends with `N passed, 0 failed`", checkerReason), () => {
    const summary = [...result.output.matchAll(/^(\d+) passed, (\d+) failed$/gm)].at(-1);
    expect(summary, result.output).toBeDefined();
    expect(Number(summary?.[2]), result.output).toBe(0);
    expect(Number(summary?.[1])).toBeGreaterThan(0);
    expect(result.status, result.output).toBe(0);
  });

  it.skipIf(checkerReason !== null)(
    skipped("nix-instantiate --parse accepts every .nix file", checkerReason),
    () => {
      expect(nixFiles.length).toBeGreaterThan(10);
      for (const f of nixFiles) expect(ok(`parse ${f}`), `parse ${f}\n${result.output}`).toBe(true);
    },
  );

  const testNames = (file: string) => {
    const src = readFileSync(join(repo, "test", "nix", file), "utf8");
    const testsAt = src.search(/^ {2}tests = \{$/m);
    const failuresAt = src.search(/^ {2}expectFailure = \{$/m);
    expect(testsAt, file).toBeGreaterThan(0);
    expect(failuresAt, file).toBeGreaterThan(testsAt);
    const names = (text: string) => [...text.matchAll(/^ {4}(\w+) =/gm)].map((m) => m[1]);
    return { tests: names(src.slice(testsAt, failuresAt)), failures: names(src.slice(failuresAt)) };
  };

  it.skipIf(evalReason !== null)(
    skipped("runs every test and expected failure of test/nix/eval-check.nix and stub-check.nix", evalReason),
    () => {
      const a = testNames("eval-check.nix");
      const b = testNames("stub-check.nix");
      expect(a.tests.length).toBeGreaterThan(15);
      expect(a.failures.length).toBeGreaterThan(3);
      expect(b.tests.length).toBeGreaterThan(2);
      for (const t of [...a.tests, ...b.tests])
        expect(ok(`eval-check test ${t}`), `${t}\n${result.output}`).toBe(true);
      for (const t of [...a.failures, ...b.failures])
        expect(ok(`expectFailure ${t}`), `${t}\n${result.output}`).toBe(true);
    },
  );

  it.skipIf(evalReason !== null)(
    skipped("nix flake show, nix flake check --no-build and bash -n of the build phases", evalReason),
    () => {
      expect(ok("nix flake show"), result.output).toBe(true);
      expect(ok("nix flake check --no-build (stub nixpkgs)"), result.output).toBe(true);
      expect(ok("bash -n phases of packages.x86_64-linux.agent"), result.output).toBe(true);
      for (const out of [
        "iso-boots",
        "iso-boots-bios-cdrom",
        "iso-boots-bios-usb",
        "iso-boots-uefi-cdrom",
        "iso-boots-uefi-usb",
        "netboot-boots-bios",
        "netboot-boots-uefi",
        "kexec-boots",
        "module-eval",
        "agent",
        "system",
      ])
        expect(result.output).toContain(`checks.x86_64-linux.${out}`);
      expect(result.output).toContain("package 'lifeboat-");
      expect(result.output).toMatch(/package 'lifeboat-\d+\.\d+\.\d+-x86_64-linux\.iso'/);
    },
  );

  it.skipIf(checkerReason !== null || evalReason === null)(
    skipped(
      "says plainly that evaluation was skipped",
      checkerReason ?? (evalReason === null ? "evaluation ran" : null),
    ),
    () => {
      expect(result.output).toContain("# SKIPPED module and flake evaluation");
    },
  );
});

describe("formatting", () => {
  it.skipIf(nixfmtReason !== null)(skipped("nixfmt --check", nixfmtReason), () => {
    const r = run("nixfmt", ["--check", ...nixFiles]);
    expect(`${r.stdout}${r.stderr}`).toBe("");
    expect(r.status).toBe(0);
  });
});
