import { createHash } from "node:crypto";
import type { FleetHost } from "../core/fleet/fleet.js";

const esc = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string,
  );

const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1b1b1b}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #ddd;vertical-align:top}
th{background:#f3f3f3}.ok{color:#17692c}.bad{color:#a4161a;font-weight:600}.muted{color:#666}ul{margin:0;padding-left:1.1rem}
.phase{font-family:ui-monospace,monospace}`;

function age(s: number): string {
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

/**
 * The fleet page: every server, its phase, what is wrong, a link to its own page. Everything in it
 * came from the servers (host names from disks included): escaped, and the page runs no script.
 */
export function renderFleetPage(hosts: FleetHost[], now: Date): { html: string; csp: string } {
  const wrong = hosts.filter((h) => h.problems.length > 0).length;
  const rows = hosts
    .map((h) => {
      const link = h.url
        ? `<a href="${esc(h.url)}" rel="noopener noreferrer">${esc(h.name)}</a>`
        : esc(h.name);
      const problems = h.problems.length
        ? `<ul class="bad">${h.problems.map((p) => `<li>${esc(p)}</li>`).join("")}</ul>`
        : '<span class="ok">nothing</span>';
      return `<tr><td>${link}<div class="muted">${esc(h.key)}</div></td><td class="phase">${esc(h.phase)}</td><td>${esc(h.summary)}</td><td>${problems}</td><td>${esc(age(h.ageSeconds))}<div class="muted">${esc(h.reason)}</div></td><td>${esc(h.url ?? "-")}</td></tr>`;
    })
    .join("\n");
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta http-equiv="refresh" content="15"><title>Lifeboat fleet (${hosts.length})</title><style>${STYLE}</style></head><body>
<h1>Lifeboat fleet</h1><p>${hosts.length} server${hosts.length === 1 ? "" : "s"} reported; ${wrong} with something wrong. Updated ${esc(now.toISOString())}; this page reloads every 15 s.</p>
<table><thead><tr><th>Server</th><th>Phase</th><th>Summary</th><th>What is wrong</th><th>Last report</th><th>Agent</th></tr></thead><tbody>
${rows || '<tr><td colspan="6" class="muted">No reports yet: boot servers with lifeboat.callback=&lt;this collector&gt;/v1/report</td></tr>'}
</tbody></table></body></html>`;
  const csp = [
    "default-src 'none'",
    `style-src 'sha256-${createHash("sha256").update(STYLE).digest("base64")}'`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
  return { html, csp };
}
