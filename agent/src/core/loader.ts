import { LifeboatError, ParseError } from "./errors.js";

/** systemd-boot's loader.conf: `key value` lines. */
export interface LoaderConf {
  default: string | null;
  timeout: string | null;
  values: Record<string, string>;
}

function keyValues(text: string, what: string): [string, string][] {
  const out: [string, string][] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\r$/, "").trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([A-Za-z0-9_-]+)(?:\s+(.*))?$/.exec(line);
    if (!m) throw new ParseError(what, `bad line ${JSON.stringify(line.slice(0, 80))}`);
    out.push([m[1] as string, (m[2] ?? "").trim()]);
  }
  return out;
}

export function parseLoaderConf(text: string): LoaderConf {
  const values: Record<string, string> = {};
  for (const [k, v] of keyValues(text, "loader.conf")) values[k] = v;
  return { default: values.default ?? null, timeout: values.timeout ?? null, values };
}

/** loader.conf with `default` set, every other line (comments included) kept as it was. */
export function setLoaderDefault(text: string, entryFile: string): string {
  if (!/^[A-Za-z0-9@%+=:,._-]+$/.test(entryFile))
    throw new LifeboatError("validation-failed", `bad entry name ${JSON.stringify(entryFile)}`);
  const lines = text.split("\n");
  let done = false;
  const out = lines.map((l) => {
    if (/^\s*default(\s|$)/.test(l)) {
      if (done) return null;
      done = true;
      return `default ${entryFile}`;
    }
    return l;
  });
  const kept = out.filter((l): l is string => l !== null);
  if (!done) {
    if (kept.length > 0 && kept[kept.length - 1] === "")
      kept.splice(kept.length - 1, 0, `default ${entryFile}`);
    else kept.push(`default ${entryFile}`);
  }
  return kept.join("\n");
}

export interface BootEntry {
  title: string | null;
  version: string | null;
  sortKey: string | null;
  linux: string | null;
  initrd: string[];
  options: string[];
  machineId: string | null;
}

/** A Boot Loader Specification type #1 entry (loader/entries/*.conf). `options` may repeat. */
export function parseBootEntry(text: string): BootEntry {
  const e: BootEntry = {
    title: null,
    version: null,
    sortKey: null,
    linux: null,
    initrd: [],
    options: [],
    machineId: null,
  };
  for (const [k, v] of keyValues(text, "boot entry")) {
    if (k === "title") e.title = v;
    else if (k === "version") e.version = v;
    else if (k === "sort-key") e.sortKey = v;
    else if (k === "linux") e.linux = v;
    else if (k === "initrd") e.initrd.push(v);
    else if (k === "options") e.options.push(...v.split(/\s+/).filter(Boolean));
    else if (k === "machine-id") e.machineId = v;
  }
  return e;
}

/** `nixos-generation-12.conf` / `nixos-generation-12-specialisation-x.conf` → 12. */
export function generationOfEntry(file: string): number | null {
  const m = /^nixos-generation-(\d+)(?:-specialisation-[^/]+)?\.conf$/.exec(file);
  return m ? Number(m[1]) : null;
}

const PARAM = /^[\x21-\x7e]{1,256}$/;

export function validateKernelParam(p: string): string {
  if (!PARAM.test(p) || p.includes('"') || p.includes("'") || p.includes("\\"))
    throw new LifeboatError(
      "validation-failed",
      `not a kernel parameter: ${JSON.stringify(p.slice(0, 60))} (printable, no spaces or quotes, ≤ 256 characters)`,
    );
  return p;
}

/**
 * Entry text with parameters removed (exact tokens, on every `options` line) and added (to the
 * first `options` line, or a new one). Other lines are kept byte for byte.
 */
export function editEntryOptions(
  text: string,
  add: string[],
  remove: string[],
): { text: string; before: string[]; after: string[] } {
  for (const p of [...add, ...remove]) validateKernelParam(p);
  const before = parseBootEntry(text).options;
  const lines = text.split("\n");
  let first = -1;
  const edited = lines.map((l, i) => {
    const m = /^(\s*options\s+)(.*?)(\r?)$/.exec(l);
    if (!m) return l;
    const kept = (m[2] as string).split(/\s+/).filter((t) => t && !remove.includes(t));
    if (first < 0) first = i;
    return `${m[1]}${kept.join(" ")}${m[3]}`;
  });
  const present = new Set(edited.flatMap((l) => /^\s*options\s+(.*?)\r?$/.exec(l)?.[1]?.split(/\s+/) ?? []));
  const toAdd = add.filter((p) => !present.has(p));
  if (toAdd.length > 0) {
    if (first >= 0) {
      const line = edited[first] as string;
      edited[first] = `${line.trimEnd()} ${toAdd.join(" ")}${line.endsWith("\r") ? "\r" : ""}`;
    } else {
      const end = edited.length > 0 && edited[edited.length - 1] === "" ? edited.length - 1 : edited.length;
      edited.splice(end, 0, `options ${toAdd.join(" ")}${text.includes("\r\n") ? "\r" : ""}`);
    }
  }
  const out = edited.join("\n");
  return { text: out, before, after: parseBootEntry(out).options };
}
