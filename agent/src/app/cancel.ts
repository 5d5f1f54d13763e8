import { AsyncLocalStorage } from "node:async_hooks";
import { LifeboatError } from "../core/errors.js";
import type { RunOptions, Spawned, SpawnOptions, System } from "../system/system.js";

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

export function cancelledError(): LifeboatError {
  return new LifeboatError("cancelled", "cancelled: a change of the mounts needed them", {});
}

export function cancellable(sys: System): System {
  const run = (file: string, args: readonly string[], opts: RunOptions = {}) => {
    const scope = cancelScope.getStore();
    if (!scope) return sys.run(file, args, opts);
    const signal = scope.signal;
    if (signal.aborted) return Promise.reject(cancelledError());
    const ended = scope.onCommand?.(file, args);
    return sys.run(file, args, { ...opts, signal }).then(
      (r) => {
        ended?.();
        if (signal.aborted) throw cancelledError();
        return r;
      },
      (err: unknown) => {
        ended?.();
        throw err;
      },
    );
  };
  const spawn = (file: string, args: readonly string[], opts?: SpawnOptions): Spawned => {
    const scope = cancelScope.getStore();
    if (scope?.signal.aborted) throw cancelledError();
    const ended = scope?.onCommand?.(file, args);
    const p = sys.spawn(file, args, opts);
    if (!scope) return p;
    const signal = scope.signal;
    const stop = () => p.kill("SIGKILL");
    signal.addEventListener("abort", stop, { once: true });
    void p.done.then(() => {
      ended?.();
      signal.removeEventListener("abort", stop);
    });
    return p;
  };
  return new Proxy(sys, {
    get(target, prop, receiver) {
      if (prop === "run") return run;
      if (prop === "spawn") return spawn;
      const v = Reflect.get(target, prop, receiver);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}
