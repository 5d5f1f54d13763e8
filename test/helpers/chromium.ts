import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium } from "playwright-core";

/** Debian's Chromium (apt-get install chromium): the browser tests drive it with playwright-core. */
export const CHROMIUM = "/usr/bin/chromium";

/**
 * Headless Chromium in a fresh profile directory (launchPersistentContext owns --user-data-dir),
 * with nothing that reaches the network by itself (this machine's network is closed: background
 * networking, QUIC, component updates and sync would only fail, many times over).
 */
export async function launchChromium(): Promise<{ browser: BrowserContext; profile: string }> {
  const profile = await mkdtemp(join(tmpdir(), "lifeboat-chromium-"));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return { browser, profile };
}
