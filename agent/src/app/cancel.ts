import { AsyncLocalStorage } from "node:async_hooks";
import { LifeboatError } from "../core/errors.js";
import type { JailOptions, JailProfileName } from "../system/jail.js";
import type { DirFs, RunOptions, Spawned, SpawnOptions, System } from "../system/system.js";

/**
 * Cancellation of a reader (the background diagnosis) without threading a signal through every
 * call it makes: the reader runs inside `cancelScope.run(signal, …)`, and the System every service
 * uses (`cancellable(sys)`) stops the commands started in that scope when the signal aborts, and
 * refuses new ones. What is not in a scope runs as before.
 */
export interface Scope {
  signal: AbortSignal;
  /**
   * Told of each command the scope starts (the diagnosis shows them as its progress); the function
   * it returns is called when the command has ended.
   */
  onCommand?: (file: string, args: readonly string[]) => () => void;
}

export const cancelScope = new AsyncLocalStorage<Scope>();

/**
 * What a scope holds open now: its running commands and open file descriptors. A reader is over
 * only when they are all closed: a cancelled reader's branches that still run (a Promise.all whose
 * other half failed) may hold a directory under the root open, which makes an unmount "busy".
 */
export class Holding {
  private count = 0;
  private readonly fds = new Set<number>();
  private waiters: (() => void)[] = [];
  take(): void {
    this.count++;
  }
  drop(): void {
    this.count = Math.max(0, this.count - 1);
    if (this.count === 0) for (const w of this.waiters.splice(0)) w();
  }
  opened(fd: number): void {
    this.fds.add(fd);
    openedBy.set(fd, this);
    this.take();
  }
  closed(fd: number): void {
    if (this.fds.delete(fd)) this.drop();
  }
  /**
   * Resolves once nothing is held, or after `boundMs` (a call on a dead disk may never return: the
   * change then goes on, and an unmount that finds the target busy says so).
   */
  idle(boundMs = 5_000): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((r) => {
      const t = setTimeout(r, boundMs);
      t.unref?.();
      this.waiters.push(() => {
        clearTimeout(t);
        r();
      });
    });
  }
}

/** Which scope opened a descriptor (a close is matched by number, whatever context it runs in). */
const openedBy = new Map<number, Holding>();

const holdingOf = new WeakMap<Scope, Holding>();

/** What `scope` holds open (made on first use). */
export function holdingFor(scope: Scope): Holding {
  let h = holdingOf.get(scope);
  if (!h) {
    h = new Holding();
    holdingOf.set(scope, h);
  }
  return h;
}

/** The descriptors a scope opens are counted; once it is cancelled, it opens nothing new. */
function countedDirFs(inner: DirFs): DirFs {
  const open = async (fn: () => Promise<number>): Promise<number> => {
    const scope = cancelScope.getStore();
    if (!scope) return fn();
    if (scope.signal.aborted) throw cancelledError();
    const h = holdingFor(scope);
    h.take();
    try {
      const fd = await fn();
      h.opened(fd);
      return fd;
    } finally {
      h.drop();
    }
  };
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === "openRoot") return (path: string) => open(() => target.openRoot(path));
      if (prop === "openAt")
        return (dir: number, name: string, how: Parameters<DirFs["openAt"]>[2], mode?: number) =>
          open(() => target.openAt(dir, name, how, mode));
      if (prop === "close")
        return async (fd: number) => {
          const by = openedBy.get(fd);
          openedBy.delete(fd);
          try {
            return await target.close(fd);
          } finally {
            by?.closed(fd);
          }
        };
      const v = Reflect.get(target, prop, receiver);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

export function cancelledError(): LifeboatError {
  return new LifeboatError("cancelled", "cancelled: a change of the mounts needed them", {});
}

export function cancellable(sys: System): System {
  /** A command run inside a cancel scope: shown as the scope's step, held open until it ends, aborted with it. */
  const track = <T>(file: string, args: readonly string[], call: (signal?: AbortSignal) => Promise<T>) => {
    const scope = cancelScope.getStore();
    if (!scope) return call();
    const signal = scope.signal;
    if (signal.aborted) return Promise.reject(cancelledError());
    const shown = scope.onCommand?.(file, args);
    const h = holdingFor(scope);
    h.take();
    const ended = () => {
      shown?.();
      h.drop();
    };
    return call(signal).then(
      (r) => {
        ended();
        if (signal.aborted) throw cancelledError();
        return r;
      },
      (err: unknown) => {
        ended();
        throw err;
      },
    );
  };
  const run = (file: string, args: readonly string[], opts: RunOptions = {}) =>
    opts.uncancelled
      ? sys.run(file, args, opts)
      : track(file, args, (signal) => sys.run(file, args, signal ? { ...opts, signal } : opts));
  const runJailed = (profile: JailProfileName, file: string, args: readonly string[], opts: JailOptions) =>
    track(file, args, (signal) => sys.runJailed(profile, file, args, signal ? { ...opts, signal } : opts));
  /** A streaming command inside a cancel scope: killed when the scope is aborted. */
  const streamed = (file: string, args: readonly string[], start: () => Spawned): Spawned => {
    const scope = cancelScope.getStore();
    if (scope?.signal.aborted) throw cancelledError();
    if (!scope) return start();
    const shown = scope.onCommand?.(file, args);
    const h = holdingFor(scope);
    const p = start();
    h.take();
    const signal = scope.signal;
    const stop = () => p.kill("SIGKILL");
    signal.addEventListener("abort", stop, { once: true });
    void p.done.then(() => {
      shown?.();
      h.drop();
      signal.removeEventListener("abort", stop);
    });
    return p;
  };
  const spawn = (file: string, args: readonly string[], opts?: SpawnOptions): Spawned =>
    streamed(file, args, () => sys.spawn(file, args, opts));
  const spawnJailed = (profile: JailProfileName, file: string, args: readonly string[], opts: JailOptions) =>
    streamed(file, args, () => sys.spawnJailed(profile, file, args, opts));
  const dirfs = countedDirFs(sys.dirfs);
  return new Proxy(sys, {
    get(target, prop, receiver) {
      if (prop === "run") return run;
      if (prop === "spawn") return spawn;
      if (prop === "runJailed") return runJailed;
      if (prop === "spawnJailed") return spawnJailed;
      if (prop === "dirfs") return dirfs;
      const v = Reflect.get(target, prop, receiver);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}
