import { parseKernelCmdline } from "./core/cmdline.js";
import { LifeboatError } from "./core/errors.js";
import { NAME as SERVER_NAME } from "./core/fleet/report.js";

export type AutoMount = "off" | "readonly" | "readwrite";
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Config {
  host: string;
  port: number;
  root: string;
  tokenFile: string;
  /** A token given on the kernel command line or in the environment (else read or generated). */
  token: string | null;
  autoMount: AutoMount;
  logLevel: LogLevel;
  /** Serve HTTPS too (same port), with a self-signed certificate kept in tlsDir. */
  tls: boolean;
  tlsDir: string;
  /** Phone home: POST a signed report to this URL (fleet collector) when the state changes. */
  callback: string | null;
  /** HMAC key of the reports, known to the collector (else the API token signs them). */
  callbackToken: string | null;
  callbackTokenFile: string | null;
  /** SHA-256 of the collector's certificate when it is self-signed (else the system CAs check it). */
  callbackFingerprint: string | null;
  /** A read-only token for GET /metrics (Prometheus holds it, not the operator's token). */
  metricsToken: string | null;
  metricsTokenFile: string | null;
  /** The URL others reach this agent at, when it differs from its own addresses (NAT, port forward). */
  advertise: string | null;
  /** A name for this server in the fleet (e.g. given by the PXE server). */
  name: string | null;
}

export const DEFAULTS: Config = {
  host: "0.0.0.0",
  port: 8080,
  root: "/mnt",
  tokenFile: "/run/lifeboat/token",
  token: null,
  autoMount: "off",
  logLevel: "info",
  tls: false,
  tlsDir: "/run/lifeboat/tls",
  callback: null,
  callbackToken: null,
  callbackTokenFile: null,
  callbackFingerprint: null,
  metricsToken: null,
  metricsTokenFile: null,
  advertise: null,
  name: null,
};

type Key = "listen" | "root" | "tokenFile" | "token" | "autoMount" | "logLevel" | "tls" | "tlsDir" | FleetKey;
type FleetKey =
  | "callback"
  | "callbackToken"
  | "callbackTokenFile"
  | "callbackFingerprint"
  | "metricsToken"
  | "metricsTokenFile"
  | "advertise"
  | "name";

const FLAGS: Record<string, Key> = {
  "--listen": "listen",
  "--root": "root",
  "--token-file": "tokenFile",
  "--auto-mount": "autoMount",
  "--log-level": "logLevel",
  "--tls": "tls",
  "--tls-dir": "tlsDir",
  "--callback": "callback",
  "--callback-token-file": "callbackTokenFile",
  "--callback-fingerprint": "callbackFingerprint",
  "--metrics-token-file": "metricsTokenFile",
  "--advertise": "advertise",
  "--name": "name",
};
const ENV: Record<string, Key> = {
  LIFEBOAT_LISTEN: "listen",
  LIFEBOAT_ROOT: "root",
  LIFEBOAT_TOKEN_FILE: "tokenFile",
  LIFEBOAT_TOKEN: "token",
  LIFEBOAT_AUTO_MOUNT: "autoMount",
  LIFEBOAT_LOG_LEVEL: "logLevel",
  LIFEBOAT_TLS: "tls",
  LIFEBOAT_TLS_DIR: "tlsDir",
  LIFEBOAT_CALLBACK: "callback",
  LIFEBOAT_CALLBACK_TOKEN: "callbackToken",
  LIFEBOAT_CALLBACK_TOKEN_FILE: "callbackTokenFile",
  LIFEBOAT_CALLBACK_FINGERPRINT: "callbackFingerprint",
  LIFEBOAT_METRICS_TOKEN: "metricsToken",
  LIFEBOAT_METRICS_TOKEN_FILE: "metricsTokenFile",
  LIFEBOAT_ADVERTISE: "advertise",
  LIFEBOAT_NAME: "name",
};
const CMDLINE: Record<string, Key> = {
  listen: "listen",
  root: "root",
  token: "token",
  tokenfile: "tokenFile",
  automount: "autoMount",
  loglevel: "logLevel",
  tls: "tls",
  tlsdir: "tlsDir",
  callback: "callback",
  callbacktoken: "callbackToken",
  callbackfingerprint: "callbackFingerprint",
  metricstoken: "metricsToken",
  advertise: "advertise",
  name: "name",
};

export type CliAction = { kind: "run"; config: Config } | { kind: "help" } | { kind: "version" };

function bad(message: string): LifeboatError {
  return new LifeboatError("validation-failed", message);
}

export function parseListen(v: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(v) ?? /^()()(\d{1,5})$/.exec(v);
  if (!m) throw bad(`--listen wants HOST:PORT, got ${JSON.stringify(v)}`);
  const port = Number(m[3]);
  if (port < 0 || port > 65535) throw bad(`port out of range: ${port}`);
  return { host: m[1] || m[2] || "0.0.0.0", port };
}

/** Pure: flags, environment and /proc/cmdline text → what to do. */
export function resolveConfig(
  argv: readonly string[],
  env: Record<string, string | undefined>,
  cmdline: string,
): CliAction {
  const fromFlags: Partial<Record<Key, string>> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === "-h" || a === "--help") return { kind: "help" };
    if (a === "-V" || a === "--version") return { kind: "version" };
    const [flag, inline] = a.includes("=")
      ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)]
      : [a, undefined];
    const key = Object.hasOwn(FLAGS, flag) ? FLAGS[flag] : undefined;
    if (!key) throw bad(`unknown option ${flag} (see --help)`);
    // A bare --tls means on.
    const next = argv[i + 1];
    const value =
      inline ?? (key === "tls" && (next === undefined || next.startsWith("-")) ? "on" : argv[++i]);
    if (value === undefined) throw bad(`${flag} needs a value`);
    fromFlags[key] = value;
  }
  const fromEnv: Partial<Record<Key, string>> = {};
  for (const [name, key] of Object.entries(ENV)) if (env[name]) fromEnv[key] = env[name];
  const fromCmdline: Partial<Record<Key, string>> = {};
  for (const [name, value] of Object.entries(parseKernelCmdline(cmdline))) {
    const key = Object.hasOwn(CMDLINE, name.toLowerCase()) ? CMDLINE[name.toLowerCase()] : undefined;
    if (key) fromCmdline[key] = value;
  }
  const pick = (k: Key) => fromFlags[k] ?? fromCmdline[k] ?? fromEnv[k];
  const config: Config = { ...DEFAULTS };
  const listen = pick("listen");
  if (listen) Object.assign(config, parseListen(listen));
  const root = pick("root");
  if (root !== undefined) {
    if (!root.startsWith("/") || root.split("/").includes(".."))
      throw bad(`--root must be an absolute path, got ${JSON.stringify(root)}`);
    config.root = root.replace(/\/+$/, "") || "/";
    if (config.root === "/") throw bad("--root / would mount the installed system over the rescue system");
  }
  const tokenFile = pick("tokenFile");
  if (tokenFile) config.tokenFile = tokenFile;
  const token = pick("token");
  if (token !== undefined) {
    if (token.length < 16) throw bad("a token must have at least 16 characters");
    config.token = token;
  }
  const auto = pick("autoMount");
  if (auto !== undefined) {
    const norm =
      auto === "ro" ? "readonly" : auto === "rw" ? "readwrite" : auto === "0" || auto === "no" ? "off" : auto;
    if (norm !== "off" && norm !== "readonly" && norm !== "readwrite")
      throw bad(`--auto-mount wants off|readonly|readwrite, got ${JSON.stringify(auto)}`);
    config.autoMount = norm;
  }
  const level = pick("logLevel");
  if (level !== undefined) {
    if (!(LOG_LEVELS as readonly string[]).includes(level))
      throw bad(`--log-level wants one of ${LOG_LEVELS.join(", ")}`);
    config.logLevel = level as LogLevel;
  }
  const tls = pick("tls");
  if (tls !== undefined) {
    const on = ["on", "1", "yes", "true"].includes(tls);
    if (!on && !["off", "0", "no", "false"].includes(tls))
      throw bad(`--tls wants on|off, got ${JSON.stringify(tls)}`);
    config.tls = on;
  }
  const tlsDir = pick("tlsDir");
  if (tlsDir) {
    if (!tlsDir.startsWith("/"))
      throw bad(`--tls-dir must be an absolute path, got ${JSON.stringify(tlsDir)}`);
    config.tlsDir = tlsDir;
  }
  Object.assign(config, fleetConfig(pick));
  return { kind: "run", config };
}

function httpUrl(v: string, what: string): string {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw bad(`${what} wants an http(s) URL, got ${JSON.stringify(v)}`);
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") throw bad(`${what} wants an https:// URL`);
  // Credentials in the URL would end up in logs; the reports are signed instead.
  if (u.username || u.password) throw bad(`${what} must not carry credentials`);
  return u.toString();
}

/** Phone home, metrics token, name: validated like the rest. */
function fleetConfig(pick: (k: Key) => string | undefined): Pick<Config, FleetKey> {
  const secret = (k: "callbackToken" | "metricsToken", what: string) => {
    const v = pick(k);
    if (v !== undefined && v.length < 16) throw bad(`${what} must have at least 16 characters`);
    return v ?? null;
  };
  const file = (k: "callbackTokenFile" | "metricsTokenFile", flag: string) => {
    const v = pick(k);
    if (v !== undefined && !v.startsWith("/")) throw bad(`${flag} must be an absolute path`);
    return v || null;
  };
  const callback = pick("callback");
  const fingerprint = pick("callbackFingerprint");
  if (fingerprint !== undefined && fingerprint.replace(/[^0-9a-f]/gi, "").length !== 64)
    throw bad("--callback-fingerprint wants a SHA-256 fingerprint (64 hex digits, colons allowed)");
  const advertise = pick("advertise");
  const name = pick("name");
  if (name !== undefined && !SERVER_NAME.test(name))
    throw bad("--name wants letters, digits and . _ : - (at most 64)");
  return {
    callback: callback ? httpUrl(callback, "--callback") : null,
    callbackToken: secret("callbackToken", "lifeboat.callbackToken"),
    callbackTokenFile: file("callbackTokenFile", "--callback-token-file"),
    callbackFingerprint: fingerprint ?? null,
    metricsToken: secret("metricsToken", "lifeboat.metricsToken"),
    metricsTokenFile: file("metricsTokenFile", "--metrics-token-file"),
    advertise: advertise ? httpUrl(advertise, "--advertise") : null,
    name: name ?? null,
  };
}
