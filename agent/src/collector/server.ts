import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import Fastify, { type FastifyBaseLogger } from "fastify";
import type { Logger } from "pino";
import { REPORT_MAX_BYTES } from "../core/fleet/report.js";
import { KEY_ID_HEADER, SIGNATURE_HEADER } from "../core/fleet/sign.js";
import { bearer, FailureLimiter, refuseToken, tokenMatches } from "../http/auth.js";
import { schemaCompilers } from "../http/compilers.js";
import { errorHandler, sendProblem } from "../http/problem.js";
import { Type } from "../http/typebox.js";
import { VERSION } from "../version.js";
import type { Collector } from "./collector.js";
import { renderFleetPage } from "./page.js";

export interface CollectorServerOptions {
  collector: Collector;
  logger: Logger;
  /** When set, reading the fleet (page, list, service discovery) needs this bearer token. */
  readToken?: string | null;
  limiter?: FailureLimiter;
}

/**
 * The collector's HTTP side: `POST /v1/report` (signed reports), `GET /v1/fleet`, `GET /v1/sd`
 * (Prometheus http_sd), `GET /` (the fleet page), `GET /healthz`. Errors are problem+json.
 */
export async function buildCollectorServer(o: CollectorServerOptions) {
  const app = Fastify({
    loggerInstance: o.logger as FastifyBaseLogger,
    bodyLimit: REPORT_MAX_BYTES,
    // The agent's own TypeBox validators and serializers: the bundle carries no ajv.
    schemaController: { compilersFactory: schemaCompilers() as never },
    trustProxy: false,
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((req, reply) =>
    sendProblem(reply, req, "not-found", `no route ${req.method} ${req.url.split("?")[0]}`),
  );
  // The signature covers the exact bytes: keep the body as text, parse it after verifying.
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (_req, body, done) => done(null, body));
  const limiter = o.limiter ?? new FailureLimiter();

  const readAuth = async (
    req: Parameters<typeof sendProblem>[1],
    reply: Parameters<typeof sendProblem>[0],
  ) => {
    if (!o.readToken) return;
    if (!tokenMatches(o.readToken, bearer(req.headers.authorization)))
      return refuseToken(
        limiter,
        req,
        reply,
        "send the collector's read token as 'Authorization: Bearer <token>'",
      );
  };

  app.get("/healthz", async () => ({ ok: true, version: VERSION, hosts: o.collector.hosts().length }));

  app.post("/v1/report", { schema: { body: Type.String() } }, async (req, reply) => {
    const one = (h: string | string[] | undefined) => (Array.isArray(h) ? undefined : h);
    try {
      const r = await o.collector.receive(
        req.body,
        one(req.headers[KEY_ID_HEADER]),
        one(req.headers[SIGNATURE_HEADER]),
        req.ip,
      );
      return reply.code(202).send(r);
    } catch (err) {
      if ((err as { code?: string }).code === "unauthorized") limiter.fail(req.ip);
      throw err;
    }
  });

  app.get("/v1/fleet", { onRequest: readAuth }, async () => ({ hosts: o.collector.hosts() }));
  app.get("/v1/sd", { onRequest: readAuth }, async () => o.collector.sd());
  app.get("/", { onRequest: readAuth }, async (_req, reply) => {
    const { html, csp } = renderFleetPage(o.collector.hosts(), new Date());
    return reply
      .type("text/html; charset=utf-8")
      .header("content-security-policy", csp)
      .header("cache-control", "no-store")
      .header("referrer-policy", "no-referrer")
      .header("x-content-type-options", "nosniff")
      .send(html);
  });
  return app;
}
