import { createHash } from "node:crypto";
import type { PageParts } from "../../ui/page.js";
import type { App } from "../server.js";

const sha256 = (s: string) => `'sha256-${createHash("sha256").update(s, "utf8").digest("base64")}'`;

const MISSING: PageParts = {
  html: '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Lifeboat</title><!--CSS--></head><body><p>The web page is built into dist/lifeboat.mjs (npm run build); the API is at /v1/ and described at /openapi.json.</p><!--JS--></body></html>',
  css: "",
  js: "",
};

/** The page and its Content-Security-Policy: inline style and script allowed by hash only. */
export function assemblePage(parts: PageParts): { html: string; csp: string } {
  const html = parts.html
    .replace("<!--CSS-->", () => `<style>${parts.css}</style>`)
    .replace("<!--JS-->", () => `<script>${parts.js}</script>`);
  const csp = [
    "default-src 'none'",
    `script-src ${sha256(parts.js)}`,
    `style-src ${sha256(parts.css)}`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
  return { html, csp };
}

/**
 * `GET /`: the web page (public: it holds no data; every API call it makes carries the token).
 * One self-contained document, so no other path needs to be public.
 */
export function registerUiRoutes(app: App, parts: () => PageParts | null): void {
  // Assembled (and hashed) on the first request for it, not while the agent starts.
  let page: { html: string; csp: string } | null = null;
  app.get("/", { schema: { hide: true, security: [] } }, async (_req, reply) => {
    page ??= assemblePage(parts() ?? MISSING);
    return reply
      .type("text/html; charset=utf-8")
      .header("content-security-policy", page.csp)
      .header("cache-control", "no-store")
      .header("referrer-policy", "no-referrer")
      .header("x-content-type-options", "nosniff")
      .send(page.html);
  });
}
