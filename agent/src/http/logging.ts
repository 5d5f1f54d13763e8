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
