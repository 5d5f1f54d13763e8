// Loopback fleet: a collector (the real `lifeboat collect` server and use case, files in a temp
// dir) and agents on the recording fake (test/helpers/fake-system.ts) with the real HTTP server,
// phone home (real HTTP sender) and metrics. Everything listens on 127.0.0.1, port 0.

import { mkdir, writeFile } from "node:fs/promises";
import type { Server } from "node:net";
import { join } from "node:path";
import pino from "pino";
import { Collector } from "../../agent/src/collector/collector.js";
import { buildCollectorServer } from "../../agent/src/collector/server.js";
import { keyIdOf } from "../../agent/src/core/fleet/sign.js";
import { PhoneHome, type PhoneHomeOptions } from "../../agent/src/fleet/phonehome.js";
import { buildServer } from "../../agent/src/http/server.js";
import { REDACT_PATHS } from "../../agent/src/logger.js";
import { httpReportSender, type ReportSender } from "../../agent/src/system/callback.js";
import type { MachineFacts } from "../../agent/src/system/identity.js";
import { RealSystem } from "../../agent/src/system/real.js";
import { dualProtocolServer, listenOn } from "../../agent/src/tls/serve.js";
import { createSelfSigned } from "../../agent/src/tls/x509.js";
import { LogSink, type RigOptions, rig } from "../app/harness.js";
import { sandbox } from "../helpers/fixtures.js";
import { recordResponses, registerSecret } from "../helpers/secrets.js";

export const FLEET_KEY = "fleet-callback-key-7Hq2-SECRET-0123456789";
export const METRICS_TOKEN = "metrics-read-only-token-9Zt4-SECRET";
registerSecret(FLEET_KEY, METRICS_TOKEN);

const closers: (() => Promise<unknown>)[] = [];
export async function closeAll(): Promise<void> {
  await Promise.all(closers.splice(0).map((c) => c().catch(() => undefined)));
}

const logger = (sink: LogSink) =>
  pino({ level: "debug", redact: { paths: REDACT_PATHS, censor: "[redacted]" } }, sink);

export async function startCollector(opts: { keys?: string[]; tls?: boolean; readToken?: string } = {}) {
  const dir = await sandbox();
  const logs = new LogSink();
  const log = logger(logs);
  const collector = new Collector(new RealSystem(log), log, {
    keys: opts.keys ?? [FLEET_KEY],
    stateFile: join(dir, "fleet.json"),
    fileSd: join(dir, "sd.json"),
  });
  await collector.load();
  const app = await buildCollectorServer({ collector, logger: log, readToken: opts.readToken ?? null });
  recordResponses(app);
  let requests = 0;
  app.addHook("onRequest", async () => {
    requests++;
  });
  let url: string;
  let fingerprint: string | null = null;
  if (opts.tls) {
    const cert = createSelfSigned({ commonName: "collector", ips: ["127.0.0.1"] });
    fingerprint = cert.fingerprint;
    await app.ready();
    const dual: Server = dualProtocolServer(app.server, { key: cert.keyPem, cert: cert.certPem });
    await listenOn(dual, "127.0.0.1", 0);
    url = `https://127.0.0.1:${(dual.address() as { port: number }).port}`;
    closers.push(async () => {
      dual.close();
      await app.close();
    });
  } else {
    await app.listen({ host: "127.0.0.1", port: 0 });
    url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    closers.push(() => app.close());
  }
  return { collector, app, url, dir, logs, fingerprint, requests: () => requests };
}

export interface AgentOptions extends RigOptions {
  token: string;
  name?: string;
  mountRw?: boolean;
  mountRo?: boolean;
  machine?: Partial<MachineFacts>;
  metricsToken?: string;
  /** Where reports go; omit for an agent without phone home. */
  callback?: { url: string; key?: string; fingerprint?: string | null; sender?: ReportSender };
  phone?: Partial<PhoneHomeOptions>;
  /** Changes to the installed system's tree (host path of its root) before anything starts. */
  prepare?: (root: string) => Promise<void>;
}

export async function startAgent(o: AgentOptions) {
  registerSecret(o.token);
  const r = await rig("single", o);
  await mkdir(join(r.dir, "mnt/etc"), { recursive: true });
  await writeFile(join(r.dir, "mnt/etc/machine-id"), `${"4e94ca0830aecd9a467e26d22b49108a"}\n`);
  await writeFile(join(r.dir, "mnt/etc/hostname"), `${o.name ?? "atlas"}\n`);
  await o.prepare?.(join(r.dir, "mnt"));
  if (o.mountRw) await r.mounts.mount({ readonly: false });
  if (o.mountRo) await r.mounts.mount({ readonly: true });
  const logs = new LogSink();
  const log = logger(logs);
  let phone: PhoneHome | null = null;
  const app = await buildServer({
    token: o.token,
    logger: log,
    services: r.services,
    metrics: {
      ...(o.metricsToken ? { token: o.metricsToken } : {}),
      phoneHome: () =>
        phone?.stats ?? {
          sent: 0,
          failedAttempts: 0,
          dropped: 0,
          lastSuccessAt: null,
          lastError: null,
          pending: false,
        },
    },
  });
  recordResponses(app);
  let requests = 0;
  app.addHook("onRequest", async () => {
    requests++;
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const port = (app.server.address() as { port: number }).port;
  const url = `http://127.0.0.1:${port}/`;
  if (o.callback) {
    const machine: MachineFacts = {
      dmiSerial: null,
      productUuid: null,
      macs: [],
      addresses: ["127.0.0.1"],
      ...o.machine,
    };
    phone = new PhoneHome(
      r.sys,
      { ...r.services, urls: () => [url] },
      "/mnt",
      async () => machine,
      o.callback.sender ?? httpReportSender(`${o.callback.url}/v1/report`, o.callback.fingerprint ?? null),
      log.child({ component: "phone-home" }),
      {
        url: `${o.callback.url}/v1/report`,
        key: o.callback.key ?? FLEET_KEY,
        apiTokenId: keyIdOf(o.token),
        metricsTokenId: o.metricsToken ? keyIdOf(o.metricsToken) : null,
        advertise: null,
        name: o.name ?? null,
        pollMs: 10,
        detectEveryMs: 50,
        heartbeatMs: 3_600_000,
        retry: { attempts: 4, baseMs: 5, maxMs: 40 },
        timeoutMs: 2_000,
        ...o.phone,
      },
    );
    phone.start();
  }
  closers.push(async () => {
    phone?.stop();
    await app.close();
  });
  return {
    r,
    app,
    url,
    host: `127.0.0.1:${port}`,
    logs,
    phone: () => phone as PhoneHome,
    token: o.token,
    requests: () => requests,
  };
}
