import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { TLSSocket } from "node:tls";

/** POSTs one signed report; resolves with the HTTP status, rejects on a network error or timeout. */
export type ReportSender = (
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
) => Promise<{ status: number }>;

const normalize = (f: string) => f.replace(/[^0-9a-f]/gi, "").toUpperCase();

/**
 * POST reports to the collector. https: verified against the system's CAs, or, with a pinned
 * SHA-256 fingerprint (a collector with a self-signed certificate), against that fingerprint,
 * checked before the body is sent. A whole request is bounded by `timeoutMs` (a collector that
 * accepts the connection and never answers costs one timer, nothing more).
 */
export function httpReportSender(url: string, pin: string | null): ReportSender {
  const u = new URL(url);
  const https = u.protocol === "https:";
  return (body, headers, timeoutMs) =>
    new Promise((resolve, reject) => {
      const payload = Buffer.from(body, "utf8");
      const opts = {
        method: "POST",
        host: u.hostname.replace(/^\[|\]$/g, ""),
        port: u.port || (https ? 443 : 80),
        path: `${u.pathname}${u.search}`,
        agent: false as const,
        headers: { ...headers, "content-length": String(payload.length), "user-agent": "lifeboat" },
        ...(https && pin ? { rejectUnauthorized: false } : {}),
      };
      const req = (https ? httpsRequest : httpRequest)(opts);
      const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      timer.unref();
      const done = (fn: () => void) => {
        clearTimeout(timer);
        fn();
      };
      req.on("error", (e) => done(() => reject(e)));
      req.on("response", (res) => {
        res.resume(); // the answer's body is not needed
        res.on("end", () => done(() => resolve({ status: res.statusCode ?? 0 })));
        res.on("error", (e) => done(() => reject(e)));
      });
      if (https && pin) {
        // Headers and body are written only once the certificate is the pinned one.
        req.once("socket", (sock) =>
          (sock as TLSSocket).once("secureConnect", () => {
            const got = normalize((sock as TLSSocket).getPeerCertificate().fingerprint256 ?? "");
            if (got !== normalize(pin)) req.destroy(new Error("collector certificate fingerprint mismatch"));
            else req.end(payload);
          }),
        );
      } else req.end(payload);
    });
}
