/**
 * Readers and changes of the mounts, in order. A reader (the diagnosis, a journal read, the
 * generations, a file of /etc/nixos) holds files and directories under the root open while it
 * runs; a change of the mounts (re-mount read-write, unmount, export, reboot) would find the target
 * busy. So a change first closes the gate (new readers wait), then cancels the readers that can be
 * cancelled (the background diagnosis, recomputed later) and waits for the others to end; readers
 * that arrived meanwhile run after it, on the new mounts. Nothing Lifeboat runs makes another of its
 * own requests fail.
 */

export interface Reading {
  name: string;
  since: string;
}

interface Reader extends Reading {
  /** Stop early (the background diagnosis); absent: waited for. */
  cancel?: () => void;
  done: Promise<void>;
}

export class ReadersCancelled extends Error {
  constructor(readonly by: string) {
    super(`cancelled: ${by} changes the mounts`);
  }
}

export class ReaderGate {
  private readonly active = new Set<Reader>();
  /** How long a change waits for readers it cancelled before it goes on. */
  constructor(private readonly cancelBoundMs = 10_000) {}
  /** The change that holds the gate closed (and what it waits for), or null. */
  private closed: { name: string; opened: Promise<void>; open: () => void } | null = null;

  /** What reads the installed system now. */
  get readers(): Reading[] {
    return [...this.active].map(({ name, since }) => ({ name, since }));
  }

  /** The change that holds readers back, or null. */
  get holding(): string | null {
    return this.closed?.name ?? null;
  }

  /**
   * Run `fn` as a reader: after any change of the mounts in progress, and never while one runs.
   * `cancel`: how to stop it early when a change needs the mounts (else the change waits for it).
   */
  async read<T>(name: string, fn: () => Promise<T>, cancel?: () => void): Promise<T> {
    while (this.closed) await this.closed.opened;
    let end = () => {};
    const reader: Reader = {
      name,
      since: new Date().toISOString(),
      cancel,
      done: new Promise<void>((r) => {
        end = r;
      }),
    };
    this.active.add(reader);
    try {
      return await fn();
    } finally {
      this.active.delete(reader);
      end();
    }
  }

  /**
   * Run `fn` with the mounts to itself: readers arriving now wait, running ones are cancelled (when
   * they can be) or waited for; `waiting` is told which ones it waits for.
   */
  async exclusive<T>(name: string, fn: () => Promise<T>, waiting?: (names: string[]) => void): Promise<T> {
    while (this.closed) await this.closed.opened;
    let open = () => {};
    const opened = new Promise<void>((r) => {
      open = r;
    });
    this.closed = { name, opened, open };
    try {
      // Cancelled readers are given a bound (a call on a dead disk may never return); the others
      // (a journal read, a file) end by their own deadlines and are waited for.
      const cancelled = new Set<Reader>();
      for (const r of this.active)
        if (r.cancel) {
          r.cancel();
          cancelled.add(r);
        }
      const bound = new Promise<"bound">((r) => {
        const t = setTimeout(() => r("bound"), this.cancelBoundMs);
        t.unref?.();
      });
      let boundPassed = false;
      const left = () => [...this.active].filter((r) => !(boundPassed && cancelled.has(r)));
      while (left().length > 0) {
        waiting?.(left().map((r) => r.name));
        const which = await Promise.race([...left().map((r) => r.done), ...(boundPassed ? [] : [bound])]);
        if (which === "bound") boundPassed = true;
      }
      waiting?.([]);
      return await fn();
    } finally {
      this.closed = null;
      open();
    }
  }
}
