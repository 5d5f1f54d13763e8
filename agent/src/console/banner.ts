import type { NetworkInterfaceInfo } from "node:os";
import { qrHalfBlocks, qrMatrix } from "./qr.js";

export interface BannerInput {
  version: string;
  /** Addresses to reach the agent on (see bannerUrls). */
  urls: string[];
  token: string | null;
  tokenFile: string;
  /** SHA-256 fingerprint of the TLS certificate when HTTPS is on. */
  fingerprint: string | null;
  qr: boolean;
}

/**
 * Where a browser on the LAN reaches the agent: IPv4 addresses first (what people type and what
 * phones reach most reliably), then global IPv6; loopback and link-local (needs a zone) left out.
 */
export function bannerUrls(
  ifaces: NodeJS.Dict<NetworkInterfaceInfo[]>,
  port: number,
  scheme: "http" | "https" = "http",
): string[] {
  const v4: string[] = [];
  const v6: string[] = [];
  for (const name of Object.keys(ifaces).sort()) {
    for (const a of ifaces[name] ?? []) {
      if (a.internal) continue;
      if (a.family === "IPv4") v4.push(`${scheme}://${a.address}:${port}/`);
      else if (!/^fe[89ab]/i.test(a.address)) v6.push(`${scheme}://[${a.address}]:${port}/`);
    }
  }
  return [...new Set([...v4, ...v6])];
}

/** The console text: URLs, token, fingerprint, a client example and a QR code of the first URL. */
export function renderBanner(b: BannerInput): string {
  const lines = [`Lifeboat ${b.version} — rescue system`, ""];
  if (b.urls.length === 0) lines.push("  No network address yet (waiting for DHCP or a cable).");
  else {
    lines.push("  Open in a browser on the same network:");
    for (const u of b.urls) lines.push(`    ${u}`);
  }
  lines.push("");
  lines.push(`  Access token: ${b.token ?? `(not generated yet: ${b.tokenFile})`}`);
  if (b.fingerprint) {
    lines.push("  HTTPS certificate SHA-256 fingerprint (compare it with what your browser shows):");
    lines.push(`    ${b.fingerprint}`);
  }
  const first = b.urls[0];
  if (first) {
    const hostPort = first.replace(/^\w+:\/\//, "").replace(/\/$/, "");
    lines.push(
      `  From a terminal: lifeboat client --host ${hostPort}${b.fingerprint ? ` --fingerprint ${b.fingerprint.replace(/:/g, "")}` : ""} status`,
    );
  }
  if (b.qr && first && b.token) {
    const plain = first.replace(/^https:/, "http:");
    lines.push("", "  Scan to open the page (the token is in the link):", "");
    for (const l of qrHalfBlocks(qrMatrix(`${plain}#token=${b.token}`))) lines.push(`  ${l}`);
  }
  lines.push("");
  return lines.join("\n");
}
