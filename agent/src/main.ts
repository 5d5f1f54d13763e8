import { readFile } from "node:fs/promises";
import type { Server } from "node:net";
import { networkInterfaces } from "node:os";
import { createServices } from "./app/services.js";
import { ensureToken, tokenNotice } from "./app/token.js";
import { warmMountPath } from "./app/warmup.js";
import { runClient } from "./client/main.js";
import { runCollect } from "./collector/main.js";
import { resolveConfig } from "./config.js";
import { runBanner } from "./console/run.js";
import { LifeboatError } from "./core/errors.js";
import { fleetSecrets, startFleet } from "./fleet/wiring.js";
import { help } from "./help.js";
import { prepareRoutes } from "./http/compilers.js";
import { buildServer } from "./http/server.js";
import { createLogger } from "./logger.js";
import { serveDecoderJob } from "./system/decoders.js";
import { listenUrls } from "./system/network.js";
import { RealSystem } from "./system/real.js";
import { certificateNames, dualProtocolServer, listenOn } from "./tls/serve.js";
import { ensureCertificate } from "./tls/store.js";
import { VERSION } from "./version.js";

async function main(argv: string[]): Promise<number> {
  if (argv[0] === "banner") return runBanner(argv.slice(1));
  if (argv[0] === "client") return runClient(argv.slice(1));
  if (argv[0] === "collect") return runCollect(argv.slice(1));
  const cmdline = await readFile("/proc/cmdline", "utf8").catch(() => "");
  const action = resolveConfig(argv, process.env, cmdline);
  if (action.kind === "help") {
    process.stdout.write(help("agent"));
    return 0;
  }
  if (action.kind === "version") {
    process.stdout.write(`lifeboat ${VERSION}\n`);
    return 0;
  }
  const config = action.config;
  const log = createLogger(config.logLevel);
  const sys = new RealSystem(log.child({ component: "system" }));
  const { token, origin } = await ensureToken(sys, config.tokenFile, config.token);
  const tls = config.tls
    ? await ensureCertificate(sys, config.tlsDir, certificateNames(networkInterfaces()))
    : null;
  // Shown by every status answer: the interfaces are listed at most once a second, not per request.
  let known = { at: 0, urls: [] as string[] };
  const urls = () => {
    const now = Date.now();
    if (now - known.at >= 1_000)
      known = {
        at: now,
        urls: [
          ...listenUrls(config.host, config.port),
          ...(tls ? listenUrls(config.host, config.port, "https") : []),
        ],
      };
    return known.urls;
  };
  const services = createServices(sys, log, {
    root: config.root,
    version: VERSION,
    autoMount: config.autoMount,
    urls,
    tlsFingerprint: tls?.fingerprint ?? null,
  });
  const fleet = await fleetSecrets(sys, config);
  // The first detection (device scan included) waits until the first answer has gone out
  // (typically /healthz) or a second has passed: it never holds up that answer. With auto-mount on,
  // the mount starts it at once instead.
  const firstDetection = () => services.detection.start();
  const app = await buildServer({
    token,
    logger: log,
    services,
    metrics: fleet.metrics,
    afterFirstResponse: firstDetection,
  });
  // With TLS one port serves both: HTTPS (pinned by fingerprint) and plain HTTP.
  let dual: Server | null = null;
  const listen = async () => {
    if (!tls) return void (await app.listen({ host: config.host, port: config.port }));
    await app.ready();
    dual = dualProtocolServer(app.server, tls);
    await listenOn(dual, config.host, config.port);
  };
  try {
    await listen();
  } catch (err) {
    // "::" fails on kernels booted with ipv6.disable=1: serve IPv4 rather than nothing.
    const code = (err as NodeJS.ErrnoException).code;
    if (config.host !== "::" || (code !== "EAFNOSUPPORT" && code !== "EADDRNOTAVAIL")) throw err;
    log.warn({ code }, "IPv6 is unavailable; listening on 0.0.0.0 instead of ::");
    config.host = "0.0.0.0";
    await listen();
  }
  const addr = ((dual as Server | null) ?? app.server).address();
  const port = typeof addr === "object" && addr ? addr.port : config.port;
  log.info(
    {
      version: VERSION,
      host: config.host,
      port,
      root: config.root,
      autoMount: config.autoMount,
      tokenFile: config.tokenFile,
      tokenOrigin: origin,
      tls: tls ? { fingerprint: tls.fingerprint, certificate: tls.origin, dir: config.tlsDir } : false,
    },
    "listening",
  );
  // Every start says how to get the token: the token itself to an interactive terminal only (under
  // systemd stdout is the journal, where the console banner's file is named instead).
  const notice = tokenNotice({ token, origin }, config.tokenFile, process.stdout.isTTY === true);
  if ("stdout" in notice) process.stdout.write(notice.stdout);
  else log.info({ tokenFile: config.tokenFile }, notice.log);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "stopping");
    (dual as Server | null)?.close();
    await app.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
  void services.auto.run();
  startFleet(sys, services, log, config, token, fleet);
  setTimeout(firstDetection, 1_000).unref();
  // Once the first detection (and the auto-mount, when on) is over and nothing runs: walk the mount
  // path once on the agent's own small system, and make the routes' validators and serializers the
  // first mount answers with, so that the operator's first mount does not pay for cold code.
  setTimeout(() => {
    void (async () => {
      const t0 = performance.now();
      await services.detection.current();
      await services.lock.whenFree();
      const walked = await warmMountPath(sys);
      await prepareRoutes(["/v1/mount", "/v1/unmount", "/v1/status"]);
      log.debug({ ms: Math.round(performance.now() - t0), ...walked }, "mount path warmed up");
    })().catch((err: Error) => log.debug({ err: err.message }, "warm-up skipped"));
  }, 2_000).unref();
  return -1;
}

// The same file is also the decoder worker (system/decoders.ts): that thread serves one job, no agent.
if (!serveDecoderJob())
  main(process.argv.slice(2)).then(
    (code) => {
      if (code >= 0) process.exit(code);
    },
    (err: unknown) => {
      if (err instanceof LifeboatError) {
        process.stderr.write(`lifeboat: ${err.message}\n`);
        process.exit(2);
      }
      process.stderr.write(`lifeboat: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
