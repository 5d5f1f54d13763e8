import swagger from "@fastify/swagger";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
} from "fastify";
import type { Logger } from "pino";
import type { Services } from "../app/services.js";
import { PAGE, type PageParts } from "../ui/page.js";
import { bearer, FailureLimiter, tokenMatches } from "./auth.js";
import { errorHandler, problemBody, sendProblem } from "./problem.js";
import { registerActionRoutes } from "./routes/actions.js";
import { registerDiagnosisRoutes } from "./routes/diagnosis.js";
import { type MetricsOptions, registerMetricsRoutes } from "./routes/metrics.js";
import { registerReadRoutes } from "./routes/read.js";
import { registerRescueRoutes } from "./routes/rescue.js";
import { registerUiRoutes } from "./routes/ui.js";
import { Problem } from "./schemas.js";

export type { Services };

export interface ServerOptions {
  token: string;
  logger: Logger;
  services: Services;
  /** Routes reachable without the token (exact paths). */
  publicPaths?: string[];
  limiter?: FailureLimiter;
  /** The web page served at `/` (default: the page built into the bundle). */
  ui?: PageParts | null;
  /** GET /metrics: a read-only metrics token (then /metrics checks its tokens itself), phone-home stats. */
  metrics?: MetricsOptions;
}

export const PUBLIC_PATHS = ["/healthz", "/"];

export type App = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

export async function buildServer(opts: ServerOptions): Promise<App> {
  const app: App = Fastify({
    loggerInstance: opts.logger as FastifyBaseLogger,
    bodyLimit: 256 * 1024,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: "array", useDefaults: true } },
    trustProxy: false,
    // Errors the router raises before any handler (bad %-encoding, over-long parameters) take the
    // same problem+json shape as every other error.
    frameworkErrors: (err, req, reply) =>
      err.code === "FST_ERR_MAX_PARAM_LENGTH" || err.statusCode === 414
        ? sendProblem(reply, req, "uri-too-long", "a path parameter is too long")
        : sendProblem(reply, req, "validation-failed", "malformed request URL"),
    // Requests Node's HTTP parser rejects never reach fastify: answer them as problem+json too.
    clientErrorHandler: (err, socket) => {
      if (!socket.writable) return socket.destroy();
      const code = (err as NodeJS.ErrnoException).code;
      const status = code === "HPE_HEADER_OVERFLOW" ? 431 : 400;
      const body = JSON.stringify(
        problemBody(
          status === 431 ? "request-header-too-large" : "validation-failed",
          status === 431 ? "request headers too large" : "malformed HTTP request",
          "/",
        ),
      );
      socket.end(
        `HTTP/1.1 ${status} ${status === 431 ? "Request Header Fields Too Large" : "Bad Request"}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((req, reply) =>
    sendProblem(reply, req, "not-found", `no route ${req.method} ${req.url.split("?")[0]}`),
  );

  const publicPaths = new Set([
    ...(opts.publicPaths ?? PUBLIC_PATHS),
    ...(opts.metrics?.token ? ["/metrics"] : []),
  ]);
  const limiter = opts.limiter ?? new FailureLimiter();
  app.addHook("onRequest", async (req, reply) => {
    const path = req.url.split("?")[0] ?? "";
    if (publicPaths.has(path) && req.method === "GET") return;
    const who = req.ip;
    limiter.check(who);
    if (!tokenMatches(opts.token, bearer(req.headers.authorization))) {
      limiter.fail(who);
      req.log.warn({ ip: who, path }, "rejected request without a valid token");
      return sendProblem(
        reply,
        req,
        "unauthorized",
        "send the API token as 'Authorization: Bearer <token>' (it is shown on the rescue console)",
      );
    }
  });

  // `curl -X POST …/v1/mount` with no body means "defaults": validate it as {}.
  app.addHook("preValidation", async (req) => {
    if (req.method === "POST" && (req.body === undefined || req.body === null)) req.body = {};
  });

  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "Lifeboat rescue agent",
        version: opts.services.version,
        description:
          "Detect, import and mount a broken NixOS-on-ZFS system, and fix it. Every route but /healthz needs the bearer token.",
      },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
      security: [{ bearer: [] }],
    },
  });
  app.addSchema(Problem);

  app.get(
    "/healthz",
    {
      schema: {
        security: [],
        response: { 200: Type.Object({ ok: Type.Boolean(), version: Type.String() }) },
      },
    },
    async () => ({
      ok: true,
      version: opts.services.version,
    }),
  );
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());

  registerReadRoutes(app, opts.services);
  registerActionRoutes(app, opts.services);
  registerUiRoutes(app, opts.ui ?? PAGE);
  registerRescueRoutes(app, opts.services, opts.token);
  registerMetricsRoutes(app, opts.services, { token: opts.token, limiter }, opts.metrics);
  registerDiagnosisRoutes(app, opts.services);
  return app;
}
