/** Read-only view of a GRUB configuration: default, timeout, menu entries with their kernel line. */
export interface GrubEntry {
  title: string;
  submenu: string | null;
  linux: string | null;
  options: string[];
  initrd: string | null;
}
export interface GrubConfig {
  default: string | null;
  timeout: string | null;
  entries: GrubEntry[];
}

function unquote(s: string): string {
  const m = /^(["'])(.*)\1$/.exec(s.trim());
  return m ? (m[2] as string) : s.trim();
}

export function parseGrubCfg(text: string): GrubConfig {
  const cfg: GrubConfig = { default: null, timeout: null, entries: [] };
  const stack: (
    | { kind: "submenu"; title: string }
    | { kind: "entry"; entry: GrubEntry }
    | { kind: "block" }
  )[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const set = /^set\s+(default|timeout)=(.*)$/.exec(line);
    if (set && stack.length === 0) {
      cfg[set[1] as "default" | "timeout"] = unquote(set[2] as string);
      continue;
    }
    const menu = /^(menuentry|submenu)\s+("[^"]*"|'[^']*'|\S+).*\{\s*$/.exec(line);
    if (menu) {
      const title = unquote(menu[2] as string);
      if (menu[1] === "submenu") stack.push({ kind: "submenu", title });
      else {
        const parent = [...stack].reverse().find((f) => f.kind === "submenu");
        const entry: GrubEntry = {
          title,
          submenu: parent && parent.kind === "submenu" ? parent.title : null,
          linux: null,
          options: [],
          initrd: null,
        };
        cfg.entries.push(entry);
        stack.push({ kind: "entry", entry });
      }
      continue;
    }
    if (line.endsWith("{")) {
      stack.push({ kind: "block" });
      continue;
    }
    if (line === "}") {
      stack.pop();
      continue;
    }
    const top = stack[stack.length - 1];
    if (top?.kind === "entry") {
      const k = /^(linux|linuxefi|initrd|initrdefi)\s+(\S+)(.*)$/.exec(line);
      if (k?.[1]?.startsWith("linux")) {
        top.entry.linux = k[2] as string;
        top.entry.options = (k[3] ?? "").trim().split(/\s+/).filter(Boolean);
      } else if (k) top.entry.initrd = k[2] as string;
    }
  }
  return cfg;
}
