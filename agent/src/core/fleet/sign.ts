import { createHash, createHmac, timingSafeEqual } from "node:crypto";

/**
 * Phone-home reports are signed, never carry the token: `x-lifeboat-signature: sha256=<hex>` is an
 * HMAC-SHA256 of the exact body bytes keyed with the token (the GitHub webhook convention), and
 * `x-lifeboat-key-id` names which key signed it, so a collector holding several keys tries one.
 */
export const SIGNATURE_HEADER = "x-lifeboat-signature";
export const KEY_ID_HEADER = "x-lifeboat-key-id";

/** A public name of a key: a short hash, never the key (as the audit names tokens). */
export function keyIdOf(key: string): string {
  return `tok-${createHash("sha256").update(key).digest("hex").slice(0, 8)}`;
}

export function signBody(body: string, key: string): string {
  return `sha256=${createHmac("sha256", key).update(body, "utf8").digest("hex")}`;
}

/** Constant-time check of a signature header against the key; false for anything malformed. */
export function signatureMatches(body: string, key: string, header: string | undefined): boolean {
  if (typeof header !== "string" || !/^sha256=[0-9a-f]{64}$/.test(header)) return false;
  const want = Buffer.from(signBody(body, key).slice(7), "hex");
  const got = Buffer.from(header.slice(7), "hex");
  return timingSafeEqual(want, got);
}

/** The key among `keys` that signed `body` (looked up by its id, then checked), or null. */
export function verifyReport(
  body: string,
  keys: readonly string[],
  keyId: string | undefined,
  signature: string | undefined,
): { keyId: string } | null {
  for (const k of keys) {
    const id = keyIdOf(k);
    if (id === keyId && signatureMatches(body, k, signature)) return { keyId: id };
  }
  return null;
}
