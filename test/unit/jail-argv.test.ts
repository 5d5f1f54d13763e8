/**
 * The jail's command line (agent/src/system/jail.ts jailArgv, pure) and the git configuration
 * refusal (core/gitlog.ts gitConfigRefusal): what is bound, in which order the privileges are
 * dropped, and which repository configurations are never handed to git. The real bubblewrap runs
 * in test/host/jail.test.ts.
 */
import { describe, expect, it } from "vitest";
import { gitConfigRefusal } from "../../agent/src/core/gitlog.js";
import { JAIL_PROFILES, JailRefused, jailArgv } from "../../agent/src/system/jail.js";

const tools = {
  bwrap: "/usr/bin/bwrap",
  setpriv: "/usr/bin/setpriv",
  prlimit: "/usr/bin/prlimit",
  program: "/usr/bin/journalctl",
};
const layout = [
  { path: "/usr", link: null },
  { path: "/bin", link: "/usr/bin" },
  { path: "/nix/store", link: null },
];

describe("jailArgv", () => {
  const argv = jailArgv(tools, layout, JAIL_PROFILES.journal, ["-D", "/mnt/var/log/journal"], {
    data: "/mnt/var/log/journal",
    group: 62,
  });
  const binds = (flag: string) => argv.flatMap((a, i) => (a === flag ? [argv[i + 1]] : []));

  it("new namespaces (network, pid, ipc, uts), dies with the agent, own session", () => {
    for (const f of [
      "--unshare-net",
      "--unshare-pid",
      "--unshare-ipc",
      "--unshare-uts",
      "--die-with-parent",
      "--new-session",
    ])
      expect(argv).toContain(f);
    expect(argv).not.toContain("--unshare-user"); // a user namespace made by root maps the sandbox to uid 0
    expect(argv).not.toContain("--share-net");
  });

  it("binds read-only only the system's program directories and the one data directory", () => {
    expect(binds("--ro-bind")).toEqual(["/usr", "/nix/store", "/mnt/var/log/journal"]);
    expect(binds("--ro-bind-try")).toEqual(["/etc/ld.so.cache"]);
    expect(binds("--bind")).toEqual([]);
    expect(binds("--dev-bind")).toEqual([]);
    expect(argv.join(" ")).not.toMatch(/\/root|\/run\/lifeboat|token/);
    expect(binds("--dir")).toEqual(["/mnt", "/mnt/var", "/mnt/var/log"]);
  });

  it("limits, then nobody without capabilities, then the program", () => {
    const tail = argv.slice(argv.indexOf("--") + 1);
    expect(tail).toEqual([
      "/usr/bin/prlimit",
      `--as=${2048 * 1024 * 1024}`,
      "--cpu=60",
      "--fsize=0",
      "--nproc=64",
      "--core=0",
      "--",
      "/usr/bin/setpriv",
      "--reuid=65534",
      "--regid=65534",
      "--groups=62",
      "--inh-caps=-all",
      "--bounding-set=-all",
      "--no-new-privs",
      "--",
      "/usr/bin/journalctl",
      "-D",
      "/mnt/var/log/journal",
    ]);
  });

  it("refuses what would not be confined", () => {
    const bad =
      (data: string, t = tools) =>
      () =>
        jailArgv(t, layout, JAIL_PROFILES.git, [], { data });
    for (const d of ["/", "relative", "/mnt/../root", "/usr/share", "/proc/1/root", "/dev"])
      expect(bad(d), d).toThrow(JailRefused);
    expect(bad("/mnt/x", { ...tools, program: "/root/bin/git" })).toThrow(
      /outside the jail's system directories/,
    );
  });
});

describe("gitConfigRefusal", () => {
  it("a plain repository, sha256 objects, reftable refs: read", () => {
    expect(gitConfigRefusal("[core]\n\trepositoryformatversion = 0\n\tbare = false\n")).toBeNull();
    expect(
      gitConfigRefusal(
        '[core]\n\trepositoryformatversion = 1\n[extensions]\n\tobjectFormat = sha256\n\trefStorage = reftable\n[remote "origin"]\n\turl = git@example.org:x\n',
      ),
    ).toBeNull();
  });

  it("a partial clone, a promisor remote, includes, unknown formats: refused", () => {
    for (const [text, why] of [
      ["[extensions]\n\tpartialClone = origin\n", /extensions\.partialClone/],
      ["[Extensions]\n  PARTIALCLONE=origin\n", /extensions\.PARTIALCLONE/],
      ['[remote "origin"]\n\turl = /x\n\tpromisor = true\n', /promisor/],
      ["[core]\n\tpartialCloneFilter = blob:none\n", /promisor/],
      ["[extensions]\n\tpreciousObjects = true\n", /preciousObjects/],
      ["[include]\n\tpath = /run/lifeboat/token\n", /includes/],
      ['[includeIf "gitdir:/"]\n\tpath = x\n', /includes/],
      ["[core]\n\trepositoryformatversion = 2\n", /format version 2/],
      ["[core] repositoryformatversion = 1\n[extensions] partialclone = o\n", /partialclone/],
    ] as const)
      expect(gitConfigRefusal(text), text).toMatch(why);
  });
});
