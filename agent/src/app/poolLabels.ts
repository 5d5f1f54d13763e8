import type { PoolLabelFacts } from "../core/diagnosis/types.js";
import type { ImportablePool, ImportFailure } from "../core/zpoolImport.js";

/**
 * What a pool's label said of its last host before Lifeboat imported the pool: the detection's
 * `zpool import` listing ("The pool was last accessed by another system.") and the first import
 * attempt without -f ("Last accessed by atlas (hostid=8425e349) at …"). Kept for the diagnosis,
 * which reads it as it is (core/diagnosis/types.ts PoolLabelFacts).
 */
export type PoolLabelSeen = PoolLabelFacts;

/**
 * The first observation of each pool's label in this rescue, frozen once Lifeboat imports the pool:
 * an import by Lifeboat (read-only with the adopted hostid, or read-write, which writes the
 * rescue's hostname into the label) must never be read back as "another system".
 */
export class PoolLabels {
  private readonly seen = new Map<string, PoolLabelSeen>();
  private readonly frozen = new Set<string>();

  private merge(pool: string, part: Partial<PoolLabelSeen> & { refused?: boolean }, at: string): void {
    if (this.frozen.has(pool)) return;
    const was = this.seen.get(pool) ?? {
      pool,
      seenAt: at,
      otherSystem: false,
      lastHost: null,
      lastHostId: null,
      lastAccessed: null,
      liveHostId: null,
      message: null,
    };
    this.seen.set(pool, {
      ...was,
      otherSystem: was.otherSystem || part.otherSystem === true,
      lastHost: was.lastHost ?? part.lastHost ?? null,
      lastHostId: was.lastHostId ?? part.lastHostId ?? null,
      lastAccessed: was.lastAccessed ?? part.lastAccessed ?? null,
      liveHostId: was.liveHostId ?? part.liveHostId ?? null,
      message: part.refused ? (part.message ?? was.message) : (was.message ?? part.message ?? null),
    });
  }

  /** A detection's listing of an importable (not imported) pool. */
  listed(p: ImportablePool, live: string | null, at = new Date().toISOString()): void {
    this.merge(
      p.name,
      {
        otherSystem: p.lastAccessedByOtherSystem,
        lastHost: p.lastHost?.hostname ?? null,
        lastHostId: p.lastHost?.hostid ?? null,
        liveHostId: live,
        message: p.lastAccessedByOtherSystem ? p.status : null,
      },
      at,
    );
  }

  /** An import without -f refused because of the label's host. */
  refused(
    pool: string,
    f: Extract<ImportFailure, { kind: "in-use-elsewhere" }>,
    live: string | null,
    stderr: string,
    at = new Date().toISOString(),
  ): void {
    const line = stderr.split("\n").find((l) => /^Last accessed by /i.test(l.trim()));
    this.merge(
      pool,
      {
        otherSystem: true,
        lastHost: f.lastHost,
        lastHostId: f.lastHostId,
        lastAccessed: f.lastAccessed,
        liveHostId: live,
        message: line?.trim().slice(0, 200) ?? null,
        refused: true,
      },
      at,
    );
  }

  /** Lifeboat imported the pool: what its label says from now on is Lifeboat's doing. */
  imported(pool: string): void {
    this.frozen.add(pool);
  }

  /** The first observation of the pool's label, null when none was made before Lifeboat imported it. */
  first(pool: string): PoolLabelSeen | null {
    return this.seen.get(pool) ?? null;
  }
}
