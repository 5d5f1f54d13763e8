import { type FastifyBaseLogger, type FastifyReply, type FastifyRequest, LogController } from "fastify";

/** Fastify types its logger loosely; ours is pino, which can say whether a level is on. */
const debugOn = (log: FastifyBaseLogger) =>
  (log as FastifyBaseLogger & { isLevelEnabled?: (l: string) => boolean }).isLevelEnabled?.("debug") ?? true;

/**
 * Fastify's per-request lines ("incoming request", "request completed") at debug instead of info:
 * a synchronous JSON line per request costs a fifth to a third of the throughput of a status poll,
 * and the journal of a rescue is for what changed. Changes, jobs, warnings and errors are logged by
 * the services themselves at info and above; a request that fails with an error still logs it.
 */
export class RequestLogs extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    if (debugOn(request.log)) request.log.debug({ req: request }, "incoming request");
  }

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    if (error) super.requestCompleted(error, request, reply);
    else if (debugOn(reply.log))
      reply.log.debug({ res: reply, responseTime: reply.elapsedTime }, "request completed");
  }
}

type Bindings = Record<string, unknown>;
type Level = "fatal" | "error" | "warn" | "info" | "debug" | "trace";

/**
 * fastify gives every request a child logger (`{reqId}` bound); making one costs about as much as
 * the rest of a status request's own code. This one is made only when the request logs something
 * its level lets through: a status poll at info makes none.
 */
class RequestLogger {
  private made: FastifyBaseLogger | null = null;
  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Bindings,
  ) {}

  private get real(): FastifyBaseLogger {
    if (this.made === null) this.made = this.parent.child(this.bindings);
    return this.made;
  }
  get level(): string {
    return (this.made ?? this.parent).level;
  }
  set level(level: string) {
    this.real.level = level;
  }
  isLevelEnabled(level: string): boolean {
    const log = (this.made ?? this.parent) as FastifyBaseLogger & { isLevelEnabled?: (l: string) => boolean };
    return log.isLevelEnabled?.(level) ?? true;
  }
  private emit(level: Level, args: unknown[]): void {
    if (this.isLevelEnabled(level)) (this.real[level] as (...a: unknown[]) => void)(...args);
  }
  fatal(...args: unknown[]) {
    this.emit("fatal", args);
  }
  error(...args: unknown[]) {
    this.emit("error", args);
  }
  warn(...args: unknown[]) {
    this.emit("warn", args);
  }
  info(...args: unknown[]) {
    this.emit("info", args);
  }
  debug(...args: unknown[]) {
    this.emit("debug", args);
  }
  trace(...args: unknown[]) {
    this.emit("trace", args);
  }
  silent() {}
  child(bindings: Bindings, options?: object): FastifyBaseLogger {
    return this.real.child(bindings, options);
  }
}

/** fastify's `childLoggerFactory`: a request logger made on first use (route options: at once). */
export function requestLogger(
  parent: FastifyBaseLogger,
  bindings: Bindings,
  options: object,
): FastifyBaseLogger {
  if (Object.keys(options).length > 0) return parent.child(bindings, options);
  return new RequestLogger(parent, bindings) as unknown as FastifyBaseLogger;
}
