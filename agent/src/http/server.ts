import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
} from "fastify";
import type { Logger } from "pino";
import type { Services } from "../app/services.js";
import { loadPage, type PageParts } from "../ui/page.js";
import { bearer, FailureLimiter, refuseToken, tokenMatcher } from "./auth.js";
import { schemaCompilers } from "./compilers.js";
import { RequestLogs, requestLogger } from "./logging.js";
import { openApiSource } from "./openapi-source.js";
import { errorHandler, problemBody, sendProblem } from "./problem.js";
import { registerActionRoutes } from "./routes/actions.js";
import { registerDiagnosisRoutes } from "./routes/diagnosis.js";
import { type MetricsOptions, registerMetricsRoutes } from "./routes/metrics.js";
import { registerReadRoutes } from "./routes/read.js";
import { registerRescueRoutes } from "./routes/rescue.js";
import { registerUiRoutes } from "./routes/ui.js";
import { Type } from "./typebox.js";

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
  /** Compile every route schema at registration instead of on first use (the build's check). */
  compileEagerly?: boolean;
  /** Called once, after the first response has been sent (main starts the first detection then). */
  afterFirstResponse?: () => void;
}

export const PUBLIC_PATHS = ["/healthz", "/"];

export type App = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

const pathOf = (url: string) => {
  const q = url.indexOf("?");
  return q < 0 ? url : url.slice(0, q);
};

export async function buildServer(opts: ServerOptions): Promise<App> {
  const app: App = Fastify({
    loggerInstance: opts.logger as FastifyBaseLogger,
    // Request lines at debug; changes, jobs, warnings and errors are logged by the services at info.
    logController: new RequestLogs(),
    childLoggerFactory: requestLogger,
    bodyLimit: 256 * 1024,
    // TypeBox validators and fast-json-stringify serializers, made on first use (compilers.ts).
    schemaController: { compilersFactory: schemaCompilers(opts.compileEagerly) as never },
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
  const first = opts.afterFirstResponse;
  // On the raw server, once: no hook left behind on every later request.
  if (first) app.server.once("request", (_req, res) => res.once("finish", () => setImmediate(first)));
  app.setNotFoundHandler((req, reply) =>
    sendProblem(reply, req, "not-found", `no route ${req.method} ${req.url.split("?")[0]}`),
  );

  const publicPaths = new Set([
    ...(opts.publicPaths ?? PUBLIC_PATHS),
    ...(opts.metrics?.token ? ["/metrics"] : []),
  ]);
  const limiter = opts.limiter ?? new FailureLimiter();
  const valid = tokenMatcher(opts.token);
  app.addHook("onRequest", async (req, reply) => {
    if (req.method === "GET" && publicPaths.has(pathOf(req.url))) return;
    // A valid token always passes: the limiter only ever counts failures.
    if (valid(bearer(req.headers.authorization))) return;
    return refuseToken(
      limiter,
      req,
      reply,
      "send the API token as 'Authorization: Bearer <token>' (it is shown on the rescue console)",
    );
  });

  // `curl -X POST …/v1/mount` with no body means "defaults": validate it as {}. (On POST routes
  // only: a hook on every route costs every request.)
  const emptyBody = async (req: { body: unknown }) => {
    if (req.body === undefined || req.body === null) req.body = {};
  };
  app.addHook("onRoute", (route) => {
    if (route.method !== "POST" && !(Array.isArray(route.method) && route.method.includes("POST"))) return;
    const own = route.preValidation;
    route.preValidation =
      own === undefined ? [emptyBody] : [emptyBody, ...(Array.isArray(own) ? own : [own])];
  });

  await openApiSource.register(app as unknown as FastifyInstance, opts.services.version);

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
  app.get("/openapi.json", { schema: { hide: true } }, async (_req, reply) =>
    reply
      .type("application/json; charset=utf-8")
      .send(openApiSource.document(app as unknown as FastifyInstance)),
  );

  registerReadRoutes(app, opts.services);
  registerActionRoutes(app, opts.services, opts.token);
  registerUiRoutes(app, opts.ui ? () => opts.ui ?? null : loadPage);
  registerRescueRoutes(app, opts.services, opts.token);
  registerMetricsRoutes(app, opts.services, { token: opts.token, limiter }, opts.metrics);
  registerDiagnosisRoutes(app, opts.services);
  return app;
}
