import pino, { type Logger } from "pino";
import type { LogLevel } from "./config.js";

/** Paths censored in every log line: secrets never reach the journal. */
export const REDACT_PATHS = [
  "req.headers.authorization",
  "req.headers.cookie",
  "headers.authorization",
  "authorization",
  "token",
  "*.token",
  "passphrase",
  "*.passphrase",
  "body.passphrase",
  "req.body",
  "input",
];

/** JSON lines on stdout (journald keeps them); no transports, no worker threads. */
export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { name: "lifeboat" },
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
}
