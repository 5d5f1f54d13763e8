import { createHash } from "node:crypto";
import type { FastifyRequest } from "fastify";

/** Identity for the audit: which token (a short hash, never the token) from which address. */
export function requester(token: string): (req: FastifyRequest) => string {
  const id = `tok-${createHash("sha256").update(token).digest("hex").slice(0, 8)}`;
  return (req) => `${id}@${req.ip}`;
}
