/**
 * Every command the agent runs is on its PATH and in the inventory: the commands found in agent/src
 * are exactly the keys of iso/agent-commands.json, from which iso/package.nix builds the wrapper's
 * PATH (and test/nix/eval-check.nix testAgentCommandsOnPath checks each one's package is on it).
 * Each entry says where the program's input comes from and how it is confined: a program given the
 * installed system's data (`input: disk`) is jailed (`jail:<profile>`, system/jail.ts) or says why it
 * cannot be and what confines it instead; a jailed program is run only through the jail, with its
 * profile (sys.runJailed/spawnJailed), never by a plain sys.run/spawn.
 *
 * The scan reads the source text: `sys.run("x", …)`, `sys.spawn("x", …)`, ternaries of two literals,
 * `sys.runJailed("profile", "x", …)` / `sys.spawnJailed(…)`, the jail's own tools (JAIL_TOOLS),
 * `must(label, "x", …)` (mount.ts), and job steps built by core/chroot.ts's inTarget (nixos-enter).
 * A call whose command is not a literal must be one of the known pass-through sites below; a new one
 * fails here until it is taught to the scan, so no command can slip past the list.
 * client/ (the laptop-side CLI: $EDITOR) and ui/ (browser) do not run on the rescue system.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { NIXOS_ENTER } from "../../agent/src/core/chroot.js";
import { JAIL_PROFILES, JAIL_TOOLS } from "../../agent/src/system/jail.js";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const src = join(repo, "agent", "src");
interface Entry {
  package: string;
  input: "disk" | "rescue";
  confinement: string;
}
const list = JSON.parse(readFileSync(join(repo, "iso", "agent-commands.json"), "utf8")) as {
  commands: Record<string, Entry>;
  helpers: Record<string, string>;
};

/** Calls whose command is a variable on purpose: they pass on a command checked at their callers. */
const PASS_THROUGH = [
  { file: "app/mount.ts", call: "sys.run(file, args)" }, // must(label, "cmd", args)
  { file: "app/jobs.ts", call: "sys.spawn(step.file, step.args)" }, // job steps
  // cancellable(): every command of a cancel scope, jailed or not, passes through unchanged
  { file: "app/cancel.ts", call: "sys.run(file, args, signal" },
  { file: "app/cancel.ts", call: "sys.run(file, args, opts)" }, // a mount and its undo (uncancelled)
  { file: "app/cancel.ts", call: "sys.spawn(file, args, opts)" },
  { file: "app/cancel.ts", call: "sys.runJailed(profile, file," },
  { file: "app/cancel.ts", call: "sys.spawnJailed(profile, file," },
];

function sources(): { file: string; text: string }[] {
  return readdirSync(src, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(".ts"))
    .map((e) => join(e.parentPath, e.name))
    .map((p) => ({ file: relative(src, p), text: readFileSync(p, "utf8") }))
    .filter((s) => !s.file.startsWith("client/") && !s.file.startsWith("ui/"));
}

function scanCommands(files: { file: string; text: string }[]): {
  commands: Set<string>;
  dynamic: { file: string; call: string }[];
  /** command → profiles it is run with through the jail. */
  jailed: Map<string, Set<string>>;
  /** Commands run by a plain sys.run/spawn (outside the jail). */
  plain: Set<string>;
} {
  const commands = new Set<string>();
  const plain = new Set<string>();
  const jailed = new Map<string, Set<string>>();
  const dynamic: { file: string; call: string }[] = [];
  for (const { file, text } of files) {
    for (const m of text.matchAll(/\bsys\.(?:runJailed|spawnJailed)\(\s*([^,]+?)\s*,\s*([^,]+?)\s*,/g)) {
      const profile = /^"([^"]+)"$/.exec(m[1] ?? "")?.[1];
      const cmd = /^"([^"]+)"$/.exec(m[2] ?? "")?.[1];
      if (!profile || !cmd) {
        dynamic.push({ file, call: m[0] });
        continue;
      }
      commands.add(cmd);
      jailed.set(cmd, (jailed.get(cmd) ?? new Set()).add(profile));
    }
    if (file === join("system", "jail.ts")) for (const t of JAIL_TOOLS) commands.add(t);
    for (const m of text.matchAll(/\bsys\.(?:run|spawn)\(\s*([^,]+?),/g)) {
      const first = (m[1] ?? "").trim();
      const literal = /^"([^"]+)"$/.exec(first);
      const ternary = /^[^?]+\?\s*"([^"]+)"\s*:\s*"([^"]+)"$/.exec(first);
      if (literal?.[1]) {
        commands.add(literal[1]);
        plain.add(literal[1]);
      } else if (ternary?.[1] && ternary[2]) {
        for (const c of [ternary[1], ternary[2]]) {
          commands.add(c);
          plain.add(c);
        }
      } else if (first.startsWith('"') || first.startsWith("`")) {
        dynamic.push({ file, call: m[0] });
      } else {
        const end = text.indexOf(")", m.index ?? 0);
        dynamic.push({
          file,
          call: text
            .slice(m.index ?? 0, end + 1)
            .replace(/^\./, "")
            .replace(/\s+/g, " "),
        });
      }
    }
    for (const m of text.matchAll(/\bmust\(\s*(?:`[^`]*`|"[^"]*")\s*,\s*"([^"]+)"/g))
      if (m[1]) {
        commands.add(m[1]);
        plain.add(m[1]);
      }
    if (/\binTarget\(/.test(text) && !file.startsWith("core/chroot")) {
      commands.add(NIXOS_ENTER);
      plain.add(NIXOS_ENTER);
    }
  }
  return { commands, dynamic, jailed, plain };
}

describe("commands the agent runs (agent/src) vs iso/agent-commands.json", () => {
  const found = scanCommands(sources());

  it("finds the commands of every kind of call site", () => {
    for (const c of ["zpool", "zfs", "lsblk", "mount", "umount", "journalctl", "cryptsetup", "nixos-enter"])
      expect([...found.commands]).toContain(c);
  });

  it("every non-literal call site is a known pass-through", () => {
    for (const d of found.dynamic)
      expect(
        PASS_THROUGH.some((p) => p.file === d.file && d.call.startsWith(p.call)),
        `${d.file}: ${d.call}`,
      ).toBe(true);
  });

  it("the list is exactly what the code runs (nothing missing, nothing stale)", () => {
    expect([...found.commands].sort()).toEqual(Object.keys(list.commands).sort());
  });

  it("names nixpkgs attributes iso/package.nix takes", () => {
    const pkg = readFileSync(join(repo, "iso", "package.nix"), "utf8");
    const attrs = new Set([
      ...Object.values(list.commands).map((c) => c.package),
      ...Object.entries(list.helpers)
        .filter(([k]) => k !== "about")
        .map(([, v]) => v),
    ]);
    for (const a of attrs) expect(pkg, a).toMatch(new RegExp(`^\\s+${a.replace(/[-]/g, "\\-")},$`, "m"));
  });

  it("the scan catches what it must (constructed source snippets)", () => {
    const s = scanCommands([
      {
        file: "app/x.ts",
        text: `await this.sys.run(\n "newtool", []); this.ctx.sys.spawn(a ? "one" : "two", []); this.must(\`x \${y}\`, "three", []); inTarget("/mnt", ["x"]); this.sys.run(name, []); this.lock.run("not-a-command", f); sys.runJailed("git", "four", [], j); this.ctx.sys.spawnJailed(\n"journal",\n "five", []); sys.runJailed(p, "six", [])`,
      },
    ]);
    expect([...s.commands].sort()).toEqual(["five", "four", "newtool", "nixos-enter", "one", "three", "two"]);
    expect(s.dynamic).toHaveLength(2);
    expect([...s.plain].sort()).toEqual(["newtool", "nixos-enter", "one", "three", "two"]);
    expect(Object.fromEntries([...s.jailed].map(([k, v]) => [k, [...v]]))).toEqual({
      four: ["git"],
      five: ["journal"],
    });
  });

  it("every entry says its package, its input and its confinement", () => {
    for (const [cmd, e] of Object.entries(list.commands)) {
      expect(typeof e.package, cmd).toBe("string");
      expect(["disk", "rescue"], cmd).toContain(e.input);
      expect(e.confinement.length, cmd).toBeGreaterThan(20);
      const profile = /^jail:([a-z]+)/.exec(e.confinement)?.[1];
      if (profile) expect(Object.keys(JAIL_PROFILES), cmd).toContain(profile);
      // a program given disk data is jailed, or the entry says why it cannot be and what confines it
      if (e.input === "disk" && !profile)
        expect(e.confinement, cmd).toMatch(/^(not jailed|cannot be jailed|runs the installed system's own)/);
    }
  });

  it("docs/security.md's table shows every command of the inventory", () => {
    const doc = readFileSync(join(repo, "docs", "security.md"), "utf8");
    const rows = doc.split("\n").filter((l) => l.startsWith("| `"));
    for (const cmd of Object.keys(list.commands))
      expect(
        rows.some((r) => (r.split("|")[1] ?? "").includes(`\`${cmd}\``)),
        cmd,
      ).toBe(true);
  });

  it("a jailed program is run only through the jail, with the profile the inventory names", () => {
    for (const [cmd, e] of Object.entries(list.commands)) {
      const profile = /^jail:([a-z]+)/.exec(e.confinement)?.[1];
      if (!profile) {
        expect(found.jailed.has(cmd), `${cmd} is jailed in the code: say so in the inventory`).toBe(false);
        continue;
      }
      expect(found.plain.has(cmd), `${cmd} is run outside the jail somewhere in agent/src`).toBe(false);
      expect([...(found.jailed.get(cmd) ?? [])], cmd).toEqual([profile]);
    }
  });
});
