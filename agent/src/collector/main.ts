import type { Server } from "node:net";
import { networkInterfaces } from "node:os";
import { LOG_LEVELS, type LogLevel, parseListen } from "../config.js";
import { LifeboatError } from "../core/errors.js";
import { keyIdOf } from "../core/fleet/sign.js";
import { help } from "../help.js";
import { createLogger } from "../logger.js";
import { RealSystem } from "../system/real.js";
import type { System } from "../system/system.js";
import { certificateNames, dualProtocolServer, listenOn } from "../tls/serve.js";
import { ensureCertificate } from "../tls/store.js";
import { Collector } from "./collector.js";
import { buildCollectorServer } from "./server.js";

export interface CollectConfig {
  host: string;
  port: number;
  keysFile: string;
  stateFile: string;
  fileSd: string | null;
  readTokenFile: string | null;
  tls: boolean;
  tlsDir: string;
  logLevel: LogLevel;
}

const FLAGS = ["--listen", "--keys", "--state", "--file-sd", "--read-token-file", "--tls-dir", "--log-level"];

/** Pure: the collector's flags → its configuration, or help. */
export function resolveCollectConfig(argv: readonly string[]): CollectConfig | "help" {
  const c: CollectConfig = {
    host: "0.0.0.0",
    port: 9180,
    keysFile: "",
    stateFile: "lifeboat-fleet.json",
    fileSd: null,
    readTokenFile: null,
    tls: false,
    tlsDir: "lifeboat-collector-tls",
    logLevel: "info",
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === "-h" || a === "--help") return "help";
    if (a === "--tls") {
      c.tls = true;
      continue;
    }
    const eq = a.indexOf("=");
    const flag = a.startsWith("--") && eq > 0 ? a.slice(0, eq) : a;
    if (!FLAGS.includes(flag))
      throw new LifeboatError("validation-failed", `unknown option ${a} (see --help)`);
    const v = eq > 0 && flag !== a ? a.slice(eq + 1) : argv[++i];
    if (v === undefined || v === "") throw new LifeboatError("validation-failed", `${flag} needs a value`);
    if (flag === "--listen") Object.assign(c, parseListen(v));
    else if (flag === "--keys") c.keysFile = v;
    else if (flag === "--state") c.stateFile = v;
    else if (flag === "--file-sd") c.fileSd = v;
    else if (flag === "--read-token-file") c.readTokenFile = v;
    else if (flag === "--tls-dir") c.tlsDir = v;
    else if (!(LOG_LEVELS as readonly string[]).includes(v))
      throw new LifeboatError("validation-failed", `--log-level wants one of ${LOG_LEVELS.join(", ")}`);
    else c.logLevel = v as LogLevel;
  }
  if (!c.keysFile) throw new LifeboatError("validation-failed", "--keys FILE is required (see --help)");
  return c;
}

/** A keys file: one key per line, `#` comments; each at least 16 characters. */
export function parseKeys(text: string): string[] {
  const keys = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  for (const k of keys)
    if (k.length < 16)
      throw new LifeboatError("validation-failed", "every key must have at least 16 characters");
  if (keys.length === 0) throw new LifeboatError("validation-failed", "the keys file has no key");
  return [...new Set(keys)];
}

async function readSecretFile(sys: System, path: string, what: string): Promise<string> {
  const buf = await sys.readFile(path);
  if (!buf) throw new LifeboatError("validation-failed", `${what} ${path} does not exist`);
  return buf.toString("utf8");
}

/** `lifeboat collect …`: runs until SIGTERM/SIGINT. Returns -1 while serving, else an exit code. */
export async function runCollect(
  argv: string[],
  out: (s: string) => void = (s) => process.stdout.write(s),
): Promise<number> {
  const c = resolveCollectConfig(argv);
  if (c === "help") {
    out(help("collect"));
    return 0;
  }
  const log = createLogger(c.logLevel);
  const sys = new RealSystem(log.child({ component: "system" }));
  const keys = parseKeys(await readSecretFile(sys, c.keysFile, "keys file"));
  const readToken = c.readTokenFile
    ? (await readSecretFile(sys, c.readTokenFile, "read token file")).trim()
    : null;
  const collector = new Collector(sys, log.child({ component: "collector" }), {
    keys,
    stateFile: c.stateFile,
    fileSd: c.fileSd,
  });
  await collector.load();
  const app = await buildCollectorServer({ collector, logger: log, readToken });
  const tls = c.tls ? await ensureCertificate(sys, c.tlsDir, certificateNames(networkInterfaces())) : null;
  let dual: Server | null = null;
  if (tls) {
    await app.ready();
    dual = dualProtocolServer(app.server, tls);
    await listenOn(dual, c.host, c.port);
  } else await app.listen({ host: c.host, port: c.port });
  const addr = (dual ?? app.server).address();
  const port = typeof addr === "object" && addr ? addr.port : c.port;
  log.info(
    {
      host: c.host,
      port,
      keys: keys.map(keyIdOf),
      state: c.stateFile,
      fileSd: c.fileSd,
      tls: tls ? { fingerprint: tls.fingerprint } : false,
      hosts: collector.hosts().length,
    },
    "collector listening",
  );
  const stop = async () => {
    dual?.close();
    await app.close();
    await collector.persist().catch(() => undefined);
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop());
  process.on("SIGINT", () => void stop());
  return -1;
}
