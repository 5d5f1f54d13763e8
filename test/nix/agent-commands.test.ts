/**
 * Every command the agent runs is on its PATH: the commands found in agent/src are exactly the keys of
 * iso/agent-commands.json, from which iso/package.nix builds the wrapper's PATH (and
 * test/nix/eval-check.nix testAgentCommandsOnPath checks each one's package is on it).
 *
 * The scan reads the source text: `sys.run("x", …)`, `sys.spawn("x", …)`, ternaries of two literals,
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

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const src = join(repo, "agent", "src");
const list = JSON.parse(readFileSync(join(repo, "iso", "agent-commands.json"), "utf8")) as {
  commands: Record<string, string>;
  helpers: Record<string, string>;
};

/** Calls whose command is a variable on purpose: they pass on a command checked at their callers. */
const PASS_THROUGH = [
  { file: "app/mount.ts", call: "sys.run(file, args)" }, // must(label, "cmd", args)
  { file: "app/jobs.ts", call: "sys.spawn(step.file, step.args)" }, // job steps
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
} {
  const commands = new Set<string>();
  const dynamic: { file: string; call: string }[] = [];
  for (const { file, text } of files) {
    for (const m of text.matchAll(/\bsys\.(?:run|spawn)\(\s*([^,]+?),/g)) {
      const first = (m[1] ?? "").trim();
      const literal = /^"([^"]+)"$/.exec(first);
      const ternary = /^[^?]+\?\s*"([^"]+)"\s*:\s*"([^"]+)"$/.exec(first);
      if (literal?.[1]) commands.add(literal[1]);
      else if (ternary?.[1] && ternary[2]) {
        commands.add(ternary[1]);
        commands.add(ternary[2]);
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
      if (m[1]) commands.add(m[1]);
    if (/\binTarget\(/.test(text) && !file.startsWith("core/chroot")) commands.add(NIXOS_ENTER);
  }
  return { commands, dynamic };
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
      ...Object.values(list.commands),
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
        text: `await this.sys.run(\n "newtool", []); this.ctx.sys.spawn(a ? "one" : "two", []); this.must(\`x \${y}\`, "three", []); inTarget("/mnt", ["x"]); this.sys.run(name, []); this.lock.run("not-a-command", f)`,
      },
    ]);
    expect([...s.commands].sort()).toEqual(["newtool", "nixos-enter", "one", "three", "two"]);
    expect(s.dynamic).toHaveLength(1);
  });
});
