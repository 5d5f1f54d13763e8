import type { NetworkInterfaceInfo } from "node:os";
import qrcode from "qrcode-generator";
import { describe, expect, it } from "vitest";
import { bannerUrls, renderBanner } from "../../agent/src/console/banner.js";
import { qrHalfBlocks, qrMatrix } from "../../agent/src/console/qr.js";
import { type BannerDeps, runBanner } from "../../agent/src/console/run.js";
import { createSelfSigned } from "../../agent/src/tls/x509.js";

const TOKEN = "OgK8URIsmjhtn97Tjog-PzVtP1x-Chjh5m1j_YZ57k4";

function addr(address: string, family: "IPv4" | "IPv6", internal = false): NetworkInterfaceInfo {
  const base = { address, netmask: "", mac: "52:54:00:12:34:56", internal, cidr: null };
  return family === "IPv4" ? { ...base, family } : { ...base, family, scopeid: 0 };
}

const LAPTOP_LAN = {
  lo: [addr("127.0.0.1", "IPv4", true), addr("::1", "IPv6", true)],
  enp1s0: [
    addr("192.168.1.23", "IPv4"),
    addr("2001:db8::23", "IPv6"),
    addr("fe80::5054:ff:fe12:3456", "IPv6"),
  ],
  wlan0: [addr("10.0.0.7", "IPv4")],
};

/** Reads the half-block text back into modules (true = dark), inverse of qrHalfBlocks. */
function decodeHalfBlocks(lines: string[], margin: number): boolean[][] {
  const rows: boolean[][] = [];
  for (const line of lines) {
    const top: boolean[] = [];
    const bottom: boolean[] = [];
    for (const ch of line) {
      top.push(!(ch === "█" || ch === "▀"));
      bottom.push(!(ch === "█" || ch === "▄"));
    }
    rows.push(top, bottom);
  }
  const n = (lines[0] as string).length - 2 * margin;
  return rows.slice(margin, margin + n).map((r) => r.slice(margin, margin + n));
}

describe("console banner", () => {
  it("URLs for every non-loopback address: IPv4 first, global IPv6, no link-local", () => {
    expect(bannerUrls(LAPTOP_LAN, 8080)).toEqual([
      "http://192.168.1.23:8080/",
      "http://10.0.0.7:8080/",
      "http://[2001:db8::23]:8080/",
    ]);
    expect(bannerUrls({ lo: LAPTOP_LAN.lo }, 8080)).toEqual([]);
  });

  it("the QR code's half blocks are exactly the modules of the URL with the token (read back)", () => {
    const url = `http://192.168.1.23:8080/#token=${TOKEN}`;
    const m = qrMatrix(url);
    const ref = qrcode(0, "L");
    ref.addData(url, "Byte");
    ref.make();
    expect(m.length).toBe(ref.getModuleCount());
    const lines = qrHalfBlocks(m, 2);
    expect(new Set(lines.map((l) => [...l].length))).toEqual(new Set([m.length + 4]));
    expect(lines.length).toBe(Math.ceil((m.length + 4) / 2));
    expect(decodeHalfBlocks(lines, 2)).toEqual(m);
    // Small enough for an 80-column console with the banner's indent.
    expect(m.length + 4 + 2).toBeLessThanOrEqual(80);
    // Finder pattern corner: dark ring → a dark (space) run on the first QR row.
    expect(m[0]?.slice(0, 7)).toEqual(new Array(7).fill(true));
  });

  it("renders URLs, token, a client example and the QR code; says so when there is no address", () => {
    const text = renderBanner({
      version: "0.1.0",
      urls: bannerUrls(LAPTOP_LAN, 8080),
      token: TOKEN,
      tokenFile: "/run/lifeboat/token",
      fingerprint: null,
      qr: true,
    });
    expect(text).toContain("    http://192.168.1.23:8080/\n");
    expect(text).toContain(`  Access token: ${TOKEN}\n`);
    expect(text).toContain("lifeboat client --host 192.168.1.23:8080 status");
    expect(text).toContain("Scan to open the page");
    expect(text).not.toContain("\\");
    const none = renderBanner({
      version: "0.1.0",
      urls: [],
      token: null,
      tokenFile: "/run/lifeboat/token",
      fingerprint: null,
      qr: true,
    });
    expect(none).toContain("No network address yet");
    expect(none).toContain("(not generated yet: /run/lifeboat/token)");
    expect(none).not.toContain("█");
  });

  it("`lifeboat banner` reads the token and the certificate's fingerprint; --watch redraws only on change", async () => {
    const cert = createSelfSigned({ commonName: "lifeboat" });
    const files: Record<string, string> = { "/t/token": `${TOKEN}\n`, "/t/tls/cert.pem": cert.certPem };
    const states = [LAPTOP_LAN, LAPTOP_LAN, { lo: LAPTOP_LAN.lo }, { eth0: [addr("192.0.2.9", "IPv4")] }];
    let tick = 0;
    const out: string[] = [];
    const deps: BannerDeps = {
      interfaces: () => states[Math.min(tick, states.length - 1)] ?? {},
      readText: async (p) => files[p] ?? null,
      write: (s) => out.push(s),
      wait: async () => ++tick < states.length,
    };
    const once: string[] = [];
    expect(
      await runBanner(
        ["--token-file", "/t/token", "--port", "8080", "--tls-dir", "/t/tls", "--no-qr"],
        {},
        { ...deps, write: (s) => once.push(s) },
      ),
    ).toBe(0);
    expect(once.join("")).toContain(cert.fingerprint);
    expect(once.join("")).toContain(`--fingerprint ${cert.fingerprint.replace(/:/g, "")}`);
    expect(once.join("")).not.toContain("█");

    expect(
      await runBanner(["--token-file", "/t/token", "--listen", "0.0.0.0:9090", "--watch"], {}, deps),
    ).toBe(0);
    // 4 polls, 3 distinct address sets: 3 redraws, each clearing the screen first.
    expect(out.length).toBe(3);
    for (const o of out) expect(o.startsWith("\x1b[H\x1b[2J")).toBe(true);
    expect(out[0]).toContain("http://192.168.1.23:9090/");
    expect(out[1]).toContain("No network address yet");
    expect(out[2]).toContain("http://192.0.2.9:9090/");
  });
});
