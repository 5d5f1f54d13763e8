/**
 * What two generations' closures say, from the store paths they link to. No Nix database is read
 * (/nix/var/nix/db/db.sqlite needs sqlite): the package list is the set of store paths a generation
 * links to directly (kernel, initrd, systemd, firmware, …) and through its `sw` profile
 * (environment.systemPackages), named the way Nix names them.
 */

export interface StoreName {
  path: string;
  hash: string;
  name: string;
  /** Nix's DrvName split: the version starts at the first `-` not followed by a letter. */
  pname: string;
  version: string | null;
}

const STORE = /^\/nix\/store\/([0-9a-z]{32})-([^/]+)/;

export function parseStoreName(path: string): StoreName | null {
  const m = STORE.exec(path);
  if (!m) return null;
  const name = m[2] as string;
  let split = -1;
  for (let i = 0; i < name.length - 1; i++)
    if (name[i] === "-" && !/[A-Za-z]/.test(name[i + 1] as string)) {
      split = i;
      break;
    }
  return {
    path: `/nix/store/${m[1]}-${name}`,
    hash: m[1] as string,
    name,
    pname: split < 0 ? name : name.slice(0, split),
    version: split < 0 ? null : name.slice(split + 1),
  };
}

/** Store paths that are parts of a system rather than packages (they change with every build). */
const PLUMBING =
  /^(nixos-system-|(etc|system-path|system-units|user-units|kernel-modules|extra-utils|firmware)($|-)|unit-|initrd-linux|linux-.*-modules(-shrunk)?$|.*\.(conf|service|socket|target|timer|mount|sh|json)$)/;

export interface PackageChange {
  pname: string;
  before: string[];
  after: string[];
}

export interface PackageDiff {
  added: { pname: string; versions: string[] }[];
  removed: { pname: string; versions: string[] }[];
  changed: PackageChange[];
}

function versionsByName(paths: Iterable<string>): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const p of paths) {
    const s = parseStoreName(p);
    if (!s || PLUMBING.test(s.name)) continue;
    const set = out.get(s.pname) ?? new Set<string>();
    set.add(s.version ?? "");
    out.set(s.pname, set);
  }
  return out;
}

/** Packages added, removed and changed in version between two sets of store paths. */
export function packageDiff(before: Iterable<string>, after: Iterable<string>): PackageDiff {
  const a = versionsByName(before);
  const b = versionsByName(after);
  const sorted = (s: Set<string>) => [...s].sort();
  const out: PackageDiff = { added: [], removed: [], changed: [] };
  for (const [pname, vs] of b)
    if (!a.has(pname)) out.added.push({ pname, versions: sorted(vs) });
    else {
      const old = sorted(a.get(pname) as Set<string>);
      const neu = sorted(vs);
      if (old.join("\0") !== neu.join("\0")) out.changed.push({ pname, before: old, after: neu });
    }
  for (const [pname, vs] of a) if (!b.has(pname)) out.removed.push({ pname, versions: sorted(vs) });
  const byName = (x: { pname: string }, y: { pname: string }) => x.pname.localeCompare(y.pname);
  out.added.sort(byName);
  out.removed.sort(byName);
  out.changed.sort(byName);
  return out;
}

export interface UnitDiff {
  added: string[];
  removed: string[];
  /** Same name, different store path: the unit file (or a dependency of it) changed. */
  changed: { unit: string; before: string; after: string }[];
}

/** Units of two generations' etc/systemd/system trees: name → link target (or "" for a plain file). */
export function unitDiff(before: Map<string, string>, after: Map<string, string>): UnitDiff {
  const out: UnitDiff = { added: [], removed: [], changed: [] };
  for (const [u, t] of after) {
    const old = before.get(u);
    if (old === undefined) out.added.push(u);
    else if (old !== t) out.changed.push({ unit: u, before: old, after: t });
  }
  for (const u of before.keys()) if (!after.has(u)) out.removed.push(u);
  out.added.sort();
  out.removed.sort();
  out.changed.sort((x, y) => x.unit.localeCompare(y.unit));
  return out;
}

/** Is this name a systemd unit file (not a .wants/.requires directory or an override)? */
export function isUnitName(name: string): boolean {
  return /^[A-Za-z0-9:_.@\\-]+\.(service|socket|target|timer|mount|automount|path|slice|scope|swap|device)$/.test(
    name,
  );
}
