import { isMainThread, parentPort, Worker, type WorkerOptions, workerData } from "node:worker_threads";
import { LifeboatError } from "../core/errors.js";
import { type InitrdInfo, InitrdTooLarge, MAX_INFLATED, readInitrd } from "../core/initrd.js";

/**
 * Decoders of disk data (inflating, unpacking) never run on the agent's event loop: each job runs in
 * a worker thread with a heap cap (resourceLimits) and a deadline, at most MAX_WORKERS at once. The
 * worker is the agent's own single file started again as a worker (`entry`: the bundle's
 * import.meta.url), which sees `workerData.lifeboat === "decoder"` and serves one job
 * (serveDecoderJob, called first thing by main.ts); nothing is looked up on disk at run time.
 *
 * The heap cap holds the decoder's own objects (the archive's entry list); the inflated bytes are
 * never held (core/initrd.ts reads the archive as a stream and counts them against MAX_INFLATED).
 * A bomb ends as LifeboatError `too-large`, a job past its deadline as `command-timeout`.
 */

const FLAG = "decoder";
const MAX_WORKERS = 2;
const HEAP_MB = 96;
const DEADLINE_MS = 30_000;

interface Job {
  kind: "initrd";
  bytes: Uint8Array;
}
type Reply = { ok: InitrdInfo } | { error: { code: "too-large" | "parse-error"; message: string } };

/** In a decoder worker: run its one job and post the reply. Returns false in the main thread. */
export function serveDecoderJob(): boolean {
  const data = workerData as { lifeboat?: string; job?: Job } | null;
  if (isMainThread || data?.lifeboat !== FLAG || !data.job || !parentPort) return false;
  let reply: Reply;
  try {
    const b = data.job.bytes;
    reply = { ok: readInitrd(Buffer.from(b.buffer, b.byteOffset, b.byteLength)) };
  } catch (err) {
    reply = {
      error: {
        code: err instanceof InitrdTooLarge ? "too-large" : "parse-error",
        message: (err as Error).message,
      },
    };
  }
  parentPort.postMessage(reply);
  return true;
}

export class Decoders {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(
    private readonly entry: URL | string,
    private readonly limits = { heapMb: HEAP_MB, deadlineMs: DEADLINE_MS, workers: MAX_WORKERS },
  ) {}

  /** What the initrd holds; throws LifeboatError too-large / command-timeout / parse-error. */
  async initrd(bytes: Buffer): Promise<InitrdInfo> {
    await this.slot();
    try {
      return await this.job({ kind: "initrd", bytes });
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }

  private async slot(): Promise<void> {
    while (this.running >= this.limits.workers) await new Promise<void>((r) => this.waiting.push(r));
    this.running++;
  }

  private job(job: Job): Promise<InitrdInfo> {
    const options: WorkerOptions = {
      workerData: { lifeboat: FLAG, job },
      resourceLimits: {
        maxOldGenerationSizeMb: this.limits.heapMb,
        maxYoungGenerationSizeMb: 16,
        stackSizeMb: 4,
      },
      stdout: true,
      stderr: true,
      env: {},
      argv: [],
      execArgv: [],
    };
    return new Promise((resolve, reject) => {
      let settled = false;
      const w = new Worker(this.entry, options);
      const end = (f: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        void w.terminate();
        f();
      };
      const timer = setTimeout(
        () =>
          end(() =>
            reject(
              new LifeboatError(
                "command-timeout",
                `decoding took longer than ${this.limits.deadlineMs / 1000} s; stopped`,
              ),
            ),
          ),
        this.limits.deadlineMs,
      );
      w.on("message", (m: Reply) =>
        end(() =>
          "ok" in m
            ? resolve(m.ok)
            : reject(
                new LifeboatError(
                  m.error.code,
                  m.error.code === "too-large"
                    ? `too large to read: ${m.error.message} (a decompression bomb, or not an initrd)`
                    : m.error.message,
                  { limit: MAX_INFLATED },
                ),
              ),
        ),
      );
      w.on("error", (err: Error & { code?: string }) =>
        end(() =>
          reject(
            err.code === "ERR_WORKER_OUT_OF_MEMORY"
              ? new LifeboatError(
                  "too-large",
                  `too large to read: the decoder passed its ${this.limits.heapMb} MiB memory cap`,
                )
              : new LifeboatError("internal", `the decoder failed: ${err.message}`),
          ),
        ),
      );
      w.on("exit", (code) =>
        end(() =>
          reject(new LifeboatError("internal", `the decoder ended without an answer (exit ${code})`)),
        ),
      );
    });
  }
}
