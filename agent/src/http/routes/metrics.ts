import type { PhoneHomeStats } from "../../fleet/phonehome.js";
import { createMetrics } from "../../metrics/metrics.js";
import { bearer, type FailureLimiter, refuseToken, tokenMatches } from "../auth.js";
import { sendProblem } from "../problem.js";
import type { App, Services } from "../server.js";
import { Type } from "../typebox.js";

export interface MetricsOptions {
  /** A read-only token that opens /metrics and nothing else (Prometheus holds it, not the operator's). */
  token?: string;
  phoneHome?: () => PhoneHomeStats;
}

/**
 * `GET /metrics` (Prometheus text format) behind the API token or the metrics token. With a
 * metrics token the server lists /metrics among its public paths, and this route checks either
 * token itself (the same constant-time check and failure limiter as every other route).
 */
export function registerMetricsRoutes(
  app: App,
  s: Services,
  auth: { token: string; limiter: FailureLimiter },
  opts: MetricsOptions = {},
): void {
  // The registry and its gauges are made on the first scrape, not while the agent starts.
  let metrics: ReturnType<typeof createMetrics> | null = null;
  app.get(
    "/metrics",
    {
      schema: {
        summary:
          "The agent's state for Prometheus: phase, pools and health, mounts, jobs, last detection age",
        description: "Bearer: the API token or the read-only metrics token.",
        produces: ["text/plain"],
        response: { 200: Type.String({ description: "Prometheus text exposition format 0.0.4" }) },
      },
      onRequest: async (req, reply) => {
        const presented = bearer(req.headers.authorization);
        const ok =
          tokenMatches(auth.token, presented) ||
          (opts.token !== undefined && tokenMatches(opts.token, presented));
        if (!ok)
          return refuseToken(
            auth.limiter,
            req,
            reply,
            "send the API token or the metrics token as 'Authorization: Bearer <token>'",
          );
      },
    },
    async (_req, reply) => {
      metrics ??= createMetrics(s, opts.phoneHome);
      return reply.type(metrics.contentType).send(await metrics.render());
    },
  );
}
