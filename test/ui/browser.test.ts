import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import pino from "pino";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type App, buildServer } from "../../agent/src/http/server.js";
import { buildPage } from "../../agent/src/ui/build-page.mjs";
import { LogSink, type Rig, rig } from "../app/harness.js";
import { CHROMIUM, launchChromium } from "../helpers/chromium.js";

// The web page in Debian's Chromium (no browser download), driven over CDP by playwright-core,
// against the agent on the recording fake (captured outputs of the "single" machine).

const ARTIFACTS = join(import.meta.dirname, "..", "..", "test-results", "ui");
const TOKEN = "ui-test-token-0123456789abcdef-SECRET";

/** Chromium present, or installed now when we may (root); else the reason we skip. */
async function ensureChromium(): Promise<string | null> {
  if (existsSync(CHROMIUM)) return null;
  if (process.getuid?.() !== 0)
    return `${CHROMIUM} is missing and we are not root (apt-get install chromium)`;
  const r = await execa("apt-get", ["install", "-y", "--no-install-recommends", "chromium"], {
    reject: false,
    timeout: 600_000,
    env: { DEBIAN_FRONTEND: "noninteractive" },
  });
  return existsSync(CHROMIUM)
    ? null
    : `apt-get install chromium failed (exit ${r.exitCode}): ${r.stderr.slice(-300)}`;
}

const skipReason = await ensureChromium();
if (skipReason) console.warn(`test/ui skipped: ${skipReason}`);

describe.skipIf(skipReason !== null)(
  `the web page in Chromium${skipReason ? ` (skipped: ${skipReason})` : ""}`,
  () => {
    let app: App;
    let r: Rig;
    let logs: LogSink;
    let browser: BrowserContext;
    let profile: string;
    let base: string;
    const apiUrls: string[] = [];
    const consoleErrors: string[] = [];

    beforeAll(async () => {
      r = await rig("single");
      logs = new LogSink();
      const logger = pino({ level: "info" }, logs);
      app = await buildServer({ token: TOKEN, logger, services: r.services, ui: await buildPage() });
      await app.listen({ host: "127.0.0.1", port: 0 });
      const addr = app.server.address();
      base = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
      await mkdir(ARTIFACTS, { recursive: true });
      ({ browser, profile } = await launchChromium());
    }, 120_000);

    afterAll(async () => {
      await browser?.close();
      await app?.close();
      if (profile) await rm(profile, { recursive: true, force: true });
    });

    async function open(width: number, height: number): Promise<Page> {
      // A new tab: its own sessionStorage, so each test starts without a token.
      const page = await browser.newPage();
      await page.setViewportSize({ width, height });
      page.on("request", (req) => {
        apiUrls.push(req.url());
      });
      page.on("console", (m) => {
        if (m.type() === "error") consoleErrors.push(m.text());
      });
      page.on("pageerror", (e) => consoleErrors.push(String(e)));
      return page;
    }

    const shot = (page: Page, name: string) =>
      page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

    it("serves one self-contained page without the token, with a hash-pinned CSP", async () => {
      const res = await fetch(`${base}/`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain("text/html");
      const csp = res.headers.get("content-security-policy") ?? "";
      expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'/);
      expect(csp).toContain("connect-src 'self'");
      expect(csp).not.toContain("unsafe-inline");
      const html = await res.text();
      expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+stylesheet/);
      expect((await fetch(`${base}/v1/status`)).status).toBe(401);
    });

    it("token from the QR fragment → pool → mount read-write (plan, confirm) → generations → boot default", async () => {
      const page = await open(1280, 800);
      await page.goto(`${base}/#token=${TOKEN}`);
      await page.waitForSelector("#summary");
      // The token left the address bar at once, and is kept for this tab only.
      expect(page.url()).not.toContain(TOKEN);
      expect(page.url()).toMatch(/#\/overview$/);
      expect(await page.evaluate(() => sessionStorage.getItem("lifeboat.token"))).toBe(TOKEN);
      expect(await page.textContent("#summary")).toContain("nvmepool");
      // The phase badge is filled by the status read that follows the view's render: wait for it.
      await page.waitForFunction(() => document.getElementById("phase")?.textContent !== "");
      expect(await page.textContent("#phase")).toBe("Found, not mounted");
      await shot(page, "01-overview-found");

      await page.click("#nav-disks");
      const pool = page.locator('.pool[data-pool="nvmepool"]');
      await pool.waitFor();
      expect(await pool.textContent()).toContain("ONLINE");
      await shot(page, "02-disks-pools");

      await page.click("#nav-mount");
      await page.waitForSelector("#mount");
      await page.check("#mode-rw");
      await page.click("#show-plan");
      await page.waitForSelector("#plan ol.plan li");
      expect(await page.textContent("#plan")).toContain("Import pool nvmepool read-write under /mnt");
      await page.click("#mount");
      const dialog = page.locator("dialog#confirm[open]");
      await dialog.waitFor();
      expect(await page.textContent("#confirm-title")).toBe("Mount read-write?");
      expect(await page.textContent("#confirm-body")).toContain("Import pool nvmepool read-write under /mnt");
      await shot(page, "03-mount-confirm");
      // Cancel first: nothing happens.
      await page.click("#confirm-cancel");
      await dialog.waitFor({ state: "detached" }).catch(() => dialog.waitFor({ state: "hidden" }));
      expect(r.sys.mounts.some((m) => m.target === "/mnt")).toBe(false);
      await page.click("#mount");
      await dialog.waitFor();
      await page.click("#confirm-ok");
      await page.waitForFunction(
        () => document.getElementById("phase")?.textContent === "Mounted read-write",
      );
      await page.waitForSelector("#summary");
      expect(await page.textContent("#notice")).toContain("Mounted read-write");
      expect(r.sys.mounts.some((m) => m.target === "/mnt")).toBe(true);
      await shot(page, "04-overview-mounted");

      await page.click("#nav-generations");
      await page.waitForSelector("table[aria-label=Generations] tbody tr");
      expect(await page.locator("table[aria-label=Generations] tbody tr").count()).toBe(3);
      await shot(page, "05-generations");
      await page.click('button.set-default[data-generation="2"]');
      await dialog.waitFor();
      expect(await page.textContent("#confirm-title")).toBe("Boot generation 2 by default?");
      // Named as the boot menu names them, not "NixOS".
      expect(await page.textContent("#confirm-body")).toContain(
        "NixOS (Generation 2 NixOS 24.11.20250107.7dc3f5e (Vicuna), Linux Kernel 6.6.69",
      );
      expect(await page.textContent("#confirm-body")).toContain("instead of: NixOS (Generation 3");
      await page.click("#confirm-ok");
      await page.waitForFunction(() =>
        document.getElementById("notice")?.textContent?.includes("Generation 2 is now"),
      );
      await page.waitForSelector('button.set-default[data-generation="3"]');
      expect(await page.locator('button.set-default[data-generation="2"]').count()).toBe(0);
      await shot(page, "06-generation-2-default");

      // Keyboard: the navigation is reachable with Tab, and Enter follows a link.
      await page.keyboard.press("Tab");
      await page.keyboard.press("Tab");
      await page.keyboard.press("Enter");
      await page.waitForSelector("#summary");

      // The token was sent in headers only, never in a URL; nothing broke in the page.
      expect(apiUrls.length).toBeGreaterThan(5);
      for (const u of apiUrls) expect(u).not.toContain(TOKEN);
      expect(consoleErrors).toEqual([]);
      expect(logs.text).not.toContain(TOKEN);
      await page.close();
    });

    it("asks for the token when there is none, refuses a wrong one, and fits a phone screen", async () => {
      const page = await open(390, 844);
      await page.goto(`${base}/`);
      await page.waitForSelector("#token");
      await page.fill("#token", "wrong-token-wrong-token-wrong");
      await page.keyboard.press("Enter");
      await page.waitForFunction(() =>
        document.getElementById("notice")?.textContent?.includes("not accepted"),
      );
      await page.waitForSelector("#token");
      await page.fill("#token", TOKEN);
      await page.keyboard.press("Enter");
      await page.waitForSelector("#summary");
      // No horizontal scrolling at phone width.
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow).toBeLessThanOrEqual(0);
      await shot(page, "07-phone-overview");
      await page.close();
    });
  },
);
