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
 * mount holding its source. Returns the order, each ordered item's parent mount (nearest planned
 * ancestor, or null), and the items left in a cycle (a bind whose source lies under its own
 * target, directly or through other binds): those are not mounted. Typed arrays for the graph:
 * 100k datasets plan without 100k small arrays to collect.
 */
export function orderMounts<T extends Orderable>(
  items: readonly T[],
): { ordered: T[]; parents: (T | null)[]; cyclic: T[] } {
  const n = items.length;
  const byPath = new Map<string, number>();
  for (let i = 0; i < n; i++) byPath.set((items[i] as T).path, i);
  const waiting = new Int32Array(n);
  const parentOf = new Int32Array(n).fill(-1);
  const depth = new Int32Array(n);
  // Edges (dependency → dependent) as linked lists: head[d], next[e], to[e]; at most 2 per item.
  const head = new Int32Array(n).fill(-1);
  const next = new Int32Array(2 * n);
  const to = new Int32Array(2 * n);
  let edges = 0;
  const link = (from: number, dependent: number) => {
    to[edges] = dependent;
    next[edges] = head[from] as number;
    head[from] = edges++;
    waiting[dependent] = (waiting[dependent] as number) + 1;
  };
  for (let i = 0; i < n; i++) {
    const m = items[i] as T;
    depth[i] = depthOf(m.path);
    const parent = holderOf(m.path, byPath);
    if (parent !== null) {
      parentOf[i] = parent;
      link(parent, i);
    }
    if (m.from !== undefined) {
      const src = holderOf(m.from, byPath, true);
      if (src !== null && src !== i && src !== parent) link(src, i);
    }
  }
  // Depth first, then input order: the key is unique, so the order is deterministic.
  const heap = new Heap((i) => (depth[i] as number) * (n + 1) + i);
  for (let i = 0; i < n; i++) if (waiting[i] === 0) heap.push(i);
  const ordered: T[] = [];
  const parents: (T | null)[] = [];
  const done = new Uint8Array(n);
  while (heap.size > 0) {
    const i = heap.pop();
    done[i] = 1;
    ordered.push(items[i] as T);
    const p = parentOf[i] as number;
    parents.push(p < 0 ? null : (items[p] as T));
    for (let e = head[i] as number; e >= 0; e = next[e] as number) {
      const j = to[e] as number;
      waiting[j] = (waiting[j] as number) - 1;
      if (waiting[j] === 0) heap.push(j);
    }
  }
  const cyclic: T[] = [];
  for (let i = 0; i < n; i++) if (done[i] === 0) cyclic.push(items[i] as T);
  return { ordered, parents, cyclic };
}
