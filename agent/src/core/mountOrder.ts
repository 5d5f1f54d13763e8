/**
 * Mount order: parents before children, and a bind mount after the mount that holds its source.
 * Kahn's algorithm with a binary heap keyed by (depth, input index): O(n·d + n log n) for n
 * mounts of path depth d; no pairwise comparisons.
 */

export interface Orderable {
  /** Mount point inside the installed system, canonical ("/", "/nix", "/boot/efi"). */
  path: string;
  /** Bind mounts: the path inside the installed system they show. */
  from?: string;
}

export function depthOf(p: string): number {
  if (p === "/") return 0;
  let n = 0;
  for (let i = 0; i < p.length; i++) if (p.charCodeAt(i) === 47) n++;
  return n;
}

/** Nearest strict ancestor of `path` (or `path` itself when `self`) among `byPath`, as an index. */
export function holderOf(path: string, byPath: ReadonlyMap<string, number>, self = false): number | null {
  let p = path;
  if (self) {
    const at = byPath.get(p);
    if (at !== undefined) return at;
  }
  while (p !== "/") {
    const cut = p.lastIndexOf("/");
    p = cut <= 0 ? "/" : p.slice(0, cut);
    const at = byPath.get(p);
    if (at !== undefined) return at;
  }
  return null;
}

class Heap {
  private readonly a: number[] = [];
  constructor(private readonly key: (i: number) => number) {}
  get size(): number {
    return this.a.length;
  }
  push(i: number): void {
    const a = this.a;
    a.push(i);
    let c = a.length - 1;
    while (c > 0) {
      const p = (c - 1) >> 1;
      if (this.key(a[p] as number) <= this.key(a[c] as number)) break;
      [a[p], a[c]] = [a[c] as number, a[p] as number];
      c = p;
    }
  }
  pop(): number {
    const a = this.a;
    const top = a[0] as number;
    const last = a.pop() as number;
    if (a.length > 0) {
      a[0] = last;
      let p = 0;
      for (;;) {
        const l = 2 * p + 1;
        const r = l + 1;
        let m = p;
        if (l < a.length && this.key(a[l] as number) < this.key(a[m] as number)) m = l;
        if (r < a.length && this.key(a[r] as number) < this.key(a[m] as number)) m = r;
        if (m === p) break;
        [a[p], a[m]] = [a[m] as number, a[p] as number];
        p = m;
      }
    }
    return top;
  }
}

/**
 * Order `items` (unique paths) so each comes after its parent mount and, for binds, after the
 * mount holding its source. Returns the order and the indexes left in a cycle (a bind whose
 * source lies under its own target, directly or through other binds): those are not mounted.
 */
export function orderMounts<T extends Orderable>(items: readonly T[]): { ordered: T[]; cyclic: T[] } {
  const byPath = new Map<string, number>();
  items.forEach((m, i) => {
    byPath.set(m.path, i);
  });
  const n = items.length;
  const waiting = new Int32Array(n);
  const dependents: number[][] = Array.from({ length: n }, () => []);
  const depth = items.map((m) => depthOf(m.path));
  items.forEach((m, i) => {
    const deps = new Set<number>();
    const parent = holderOf(m.path, byPath);
    if (parent !== null) deps.add(parent);
    if (m.from !== undefined) {
      const src = holderOf(m.from, byPath, true);
      if (src !== null && src !== i) deps.add(src);
    }
    waiting[i] = deps.size;
    for (const d of deps) {
      (dependents[d] as number[]).push(i);
    }
  });
  // Depth first, then input order: the key is unique, so the order is deterministic.
  const heap = new Heap((i) => (depth[i] as number) * (n + 1) + i);
  for (let i = 0; i < n; i++) if (waiting[i] === 0) heap.push(i);
  const ordered: T[] = [];
  const done = new Uint8Array(n);
  while (heap.size > 0) {
    const i = heap.pop();
    done[i] = 1;
    ordered.push(items[i] as T);
    for (const j of dependents[i] as number[]) {
      waiting[j] = (waiting[j] as number) - 1;
      if (waiting[j] === 0) heap.push(j);
    }
  }
  const cyclic = items.filter((_, i) => done[i] === 0);
  return { ordered, cyclic };
}
