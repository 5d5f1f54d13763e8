import type { Proposal } from "../types.js";

export interface ConfigFile {
  path: string;
  text: string;
  etag?: string;
}

export interface ConfigLine {
  path: string;
  line: number;
  text: string;
}

const encodePath = (p: string) => p.split("/").map(encodeURIComponent).join("/");

/** The first non-comment line of /etc/nixos that matches `re`, in file order. */
export function findLine(files: ConfigFile[], re: RegExp): ConfigLine | null {
  for (const f of files) {
    const lines = f.text.split("\n");
    const i = lines.findIndex((l) => re.test(l) && !/^\s*#/.test(l));
    if (i >= 0) return { path: f.path, line: i + 1, text: (lines[i] as string).trim().slice(0, 200) };
  }
  return null;
}

/** A unified diff of two versions of one file, one hunk per changed run of lines (no context). */
export function unifiedDiff(path: string, before: string, after: string): string {
  const a = before.split("\n");
  const b = after.split("\n");
  const out = [`--- a/${path}`, `+++ b/${path}`];
  // the edits here replace or insert lines in place: walk both with a common prefix/suffix per hunk
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      i++;
      j++;
      continue;
    }
    // find the next resynchronisation point
    let ai = i;
    let bj = j;
    let found = false;
    for (let d = 1; d < 50 && !found; d++)
      for (let x = 0; x <= d && !found; x++) {
        const y = d - x;
        if (
          i + x <= a.length &&
          j + y <= b.length &&
          a.slice(i + x).join("\n") === b.slice(j + y).join("\n")
        ) {
          ai = i + x;
          bj = j + y;
          found = true;
        }
      }
    if (!found) {
      ai = a.length;
      bj = b.length;
    }
    out.push(`@@ -${i + 1},${ai - i} +${j + 1},${bj - j} @@`);
    for (const l of a.slice(i, ai)) out.push(`-${l}`);
    for (const l of b.slice(j, bj)) out.push(`+${l}`);
    i = ai;
    j = bj;
  }
  return `${out.join("\n")}\n`;
}

/** An edit of one file of /etc/nixos as the request that makes it: PUT with the file's ETag, a snapshot first. */
export function configEdit(
  file: ConfigFile,
  after: string,
  p: { id: string; title: string; why: string; line: number; evidence: Proposal["evidence"] },
): Proposal {
  return {
    id: p.id,
    kind: "config-edit",
    title: p.title,
    why: p.why,
    basis: "evidence",
    needsReadWrite: true,
    caution:
      "writes /etc/nixos only (a backup and a snapshot are made first; If-Match refuses it if the file changed since); the running of the fix is the rebuild that follows",
    evidence: p.evidence,
    requests: [
      {
        method: "PUT",
        path: `/v1/config/${encodePath(file.path)}`,
        body: { content: after },
        ...(file.etag ? { headers: { "if-match": file.etag } } : {}),
      },
    ],
    config: { path: file.path, line: p.line },
    diff: unifiedDiff(file.path, file.text, after),
  };
}

/** Rebuild the edited configuration as the next boot's default (`nixos-rebuild boot` in nixos-enter). */
export function rebuildBoot(why: string): Proposal {
  return {
    id: "rebuild-boot",
    kind: "rebuild",
    title: "Rebuild the configuration for the next boot (nixos-rebuild boot)",
    why,
    basis: "evidence",
    needsReadWrite: true,
    caution:
      "runs nixos-rebuild inside nixos-enter as a job (network check and snapshot first); it makes a new generation and boot entry",
    evidence: [],
    requests: [{ method: "POST", path: "/v1/rebuild", body: { action: "boot" } }],
  };
}

export function openConfig(hit: ConfigLine, why: string): Proposal {
  return {
    id: `config-${hit.path}-${hit.line}`,
    kind: "open-config",
    title: `Open /etc/nixos/${hit.path} at line ${hit.line}`,
    why,
    basis: "evidence",
    needsReadWrite: false,
    caution:
      "reading it changes nothing; saving needs a read-write mount, and a rebuild makes a new generation",
    evidence: [{ kind: "file", ref: `/etc/nixos/${hit.path}`, detail: `line ${hit.line}: ${hit.text}` }],
    requests: [{ method: "GET", path: `/v1/config/${encodePath(hit.path)}` }],
    config: { path: hit.path, line: hit.line },
  };
}
