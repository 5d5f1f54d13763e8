import { parseKernelCmdline } from "./core/cmdline.js";
import { LifeboatError } from "./core/errors.js";

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
};

export const HELP = `lifeboat — rescue agent for NixOS on ZFS

Usage: lifeboat [options]
       lifeboat banner [--token-file F] [--port N] [--tls-dir D] [--no-qr] [--watch]
       lifeboat client --host ADDR[:PORT] COMMAND   (lifeboat client --help)

Options (each also as LIFEBOAT_<NAME> in the environment, and as lifeboat.<name>=… on the kernel command line):
  --listen HOST:PORT     where the HTTP API listens            (default 0.0.0.0:8080)
  --root DIR             where the installed system is mounted (default /mnt)
  --token-file FILE      API token; generated (0600) if missing (default /run/lifeboat/token)
  --auto-mount MODE      off | readonly | readwrite            (default off)
  --log-level LEVEL      fatal|error|warn|info|debug|trace     (default info)
  --tls [on|off]         also serve HTTPS on the same port, self-signed (default off)
  --tls-dir DIR          where the certificate and key are kept (default /run/lifeboat/tls)
  -h, --help             this text
  -V, --version          print the version

Precedence: command-line flag > kernel command line (lifeboat.*) > LIFEBOAT_* environment > default.
Kernel command line keys: lifeboat.listen, lifeboat.root, lifeboat.token, lifeboat.tokenfile, lifeboat.automount, lifeboat.loglevel, lifeboat.tls, lifeboat.tlsdir.
`;

type Key = "listen" | "root" | "tokenFile" | "token" | "autoMount" | "logLevel" | "tls" | "tlsDir";

const FLAGS: Record<string, Key> = {
  "--listen": "listen",
  "--root": "root",
  "--token-file": "tokenFile",
  "--auto-mount": "autoMount",
  "--log-level": "logLevel",
  "--tls": "tls",
  "--tls-dir": "tlsDir",
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
  return { kind: "run", config };
}
