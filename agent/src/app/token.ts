import { randomBytes } from "node:crypto";
import { dirname } from "node:path";
import type { System } from "../system/system.js";

export interface TokenSource {
  token: string;
  origin: "configured" | "file" | "generated";
}

/** 32 random bytes (256 bits), URL-safe so it survives a QR code and a URL fragment. */
export function generateToken(): string {
  return randomBytes(32).toString("base64url");
}

/**
 * The API token: the one configured (kernel command line / environment), else the token file's,
 * else a new one written 0600 (its directory 0700) for the console banner to show.
 */
export async function ensureToken(
  sys: System,
  tokenFile: string,
  configured: string | null,
): Promise<TokenSource> {
  const existing = (await sys.readFile(tokenFile))?.toString("utf8").trim();
  if (configured) {
    if (existing !== configured) {
      await sys.mkdir(dirname(tokenFile));
      await sys.writeFile(tokenFile, `${configured}\n`, 0o600);
    }
    return { token: configured, origin: "configured" };
  }
  if (existing && existing.length >= 16) return { token: existing, origin: "file" };
  const token = generateToken();
  await sys.mkdir(dirname(tokenFile));
  await sys.writeFile(tokenFile, `${token}\n`, 0o600);
  return { token, origin: "generated" };
}

/**
 * What a start tells the person who started it about the token. On an interactive terminal: the
 * token itself (whatever its origin). Otherwise (systemd's journal, a pipe, `npm start > log`) never
 * the token, only where to read it — the console banner shows it on the rescue system.
 */
export function tokenNotice(
  t: TokenSource,
  tokenFile: string,
  tty: boolean,
): { stdout: string } | { log: string } {
  const where =
    t.origin === "configured"
      ? `the token given on the kernel command line or in the environment (also in ${tokenFile})`
      : `${tokenFile} (mode 0600)`;
  if (tty) return { stdout: `\nLifeboat API token (also in ${tokenFile}):\n  ${t.token}\n\n` };
  return { log: `API token: read it from ${where}, e.g. sudo cat ${tokenFile}` };
}
