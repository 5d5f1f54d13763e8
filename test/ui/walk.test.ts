// The operator's whole walk in Debian's Chromium, on the recording fake, at desktop and phone size:
// mount read-only, the diagnosis running in the background (held on the journal), re-mount
// read-write from the overview while it runs (plan with the unmount and export, steps as they
// happen), a no-op change, a real one, export, and the summary "Ready to reboot".
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type App, buildServer } from "../../agent/src/http/server.js";
import { buildPage } from "../../agent/src/ui/build-page.mjs";
import { LogSink, type Rig, rig } from "../app/harness.js";
import { CHROMIUM, launchChromium } from "../helpers/chromium.js";
import { registerSecret } from "../helpers/secrets.js";

const ARTIFACTS = join(import.meta.dirname, "..", "..", "test-results", "ui");
const TOKEN = "walk-ui-token-0123456789abcdef-SECRET";
registerSecret(TOKEN);

describe.skipIf(!existsSync(CHROMIUM))("the operator's walk in the page (Chromium)", () => {
  let browser: BrowserContext;
  let profile: string;
  const apps: App[] = [];

  beforeAll(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    ({ browser, profile } = await launchChromium());
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    for (const a of apps) await a.close();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  async function agent(): Promise<{ r: Rig; base: string; release: () => void; holding: { on: boolean } }> {
    let release = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    const holding = { on: true };
    const r = await rig("single", {
      backgroundDiagnosis: true,
      fake: { hold: (file) => (file === "journalctl" && holding.on ? held : undefined) },
    });
    const app = await buildServer({
      token: TOKEN,
      logger: pino({ level: "info" }, new LogSink()),
      services: r.services,
      ui: await buildPage(),
    });
    apps.push(app);
    await app.listen({ host: "127.0.0.1", port: 0 });
    const addr = app.server.address();
    return {
      r,
      base: `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`,
      release,
      holding,
    };
  }

  const noOverflow = async (page: Page) =>
    expect(
      await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth),
    ).toBeLessThanOrEqual(0);

  async function walk(width: number, height: number, tag: string): Promise<void> {
    const { r, base, release, holding } = await agent();
    const page = await browser.newPage();
    await page.setViewportSize({ width, height });
    // A loaded machine (the whole suite, QEMU beside it) can be slow: wait on the page, not the clock.
    page.setDefaultTimeout(90_000);
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    const shot = (name: string) =>
      page.screenshot({ path: join(ARTIFACTS, `walk-${tag}-${name}.png`), fullPage: true });
    const dialog = page.locator("dialog#confirm[open]");
    const notice = (text: string) =>
      page.waitForFunction((t) => document.getElementById("notice")?.textContent?.includes(t), text);

    await page.goto(`${base}/#token=${TOKEN}`);
    await page.waitForSelector("#summary");
    if (width < 600) {
      // The systems table fits the phone: its rows stack, nothing is off-screen.
      await page.waitForSelector("table[aria-label='Systems found']");
      await noOverflow(page);
    }
    // Mount read-only from the Mount view.
    await page.click("#nav-mount");
    await page.waitForSelector("#mount");
    await page.click("#mount");
    await dialog.waitFor();
    await page.click("#confirm-ok");
    await page.waitForFunction(() => document.getElementById("phase")?.textContent === "Mounted read-only");
    await page.waitForSelector("#summary");

    // The diagnosis runs in the background (held on the journal): its progress is shown.
    await page.waitForFunction(() =>
      document.getElementById("diagnosis-progress")?.textContent?.includes("reading the journal"),
    );
    // Change actions say up front that they need read-write, with the re-mount one click away.
    expect(await page.textContent("#needs-rw")).toContain("need read-write");
    await shot("1-mounted-ro-diagnosing");

    // Re-mount read-write while the diagnosis reads: the plan names the unmount and the export.
    holding.on = false;
    await page.click("#remount-rw");
    await dialog.waitFor();
    const plan = (await page.textContent("#confirm-body")) ?? "";
    expect(plan).toContain("Unmount /mnt/boot");
    expect(plan).toContain("Export pool nvmepool");
    expect(plan).toContain("Import pool nvmepool read-write under /mnt");
    await page.click("#confirm-ok");
    await page.waitForFunction(() => document.getElementById("phase")?.textContent === "Mounted read-write");
    await notice("Re-mounted read-write");
    expect(r.sys.imported.get("nvmepool")?.readonly).toBe(false);
    release();
    // The diagnosis is computed again on the new mounts.
    await page.waitForSelector("#diagnosis-sentence");
    await shot("2-remounted-rw");

    // A console capture pasted into the diagnosis section: read as data, the diagnosis computed again.
    await page.click("#diagnosis-console summary");
    await page.fill("#console-text", "<<< NixOS Stage 1 >>>\r\nloading module vfio_pci...\r\n");
    await page.click("#diagnosis-console button");
    await notice("3 lines read, 2 the diagnosis can cite");
    await page.waitForSelector("#diagnosis-sentence");

    // A no-op change: a kernel parameter that is already there.
    await page.click("#nav-boot");
    const entry = page.locator('section[data-entry="nixos-generation-3"]');
    await entry.waitFor();
    expect(await entry.locator("h2").textContent()).toContain("NixOS (Generation 3 NixOS 24.11");
    // init= is needed to boot: it cannot be ticked for removal.
    expect(await entry.locator('input[type=checkbox][value^="init="]').isDisabled()).toBe(true);
    await entry.locator("summary").click();
    await entry.locator("input[type=text]").fill("loglevel=4");
    await entry.locator("button.primary").click();
    await dialog.waitFor();
    expect(await page.textContent("#confirm-body")).toContain("NixOS (Generation 3 NixOS 24.11");
    await page.click("#confirm-ok");
    await notice("nothing changed, no snapshot taken");
    expect(r.sys.commandLines().filter((l) => l.startsWith("zfs snapshot"))).toEqual([]);
    await shot("3-no-op");

    // A real change: boot generation 2 by default.
    await page.click("#nav-generations");
    await page.waitForSelector('button.set-default[data-generation="2"]');
    if (width < 600) await noOverflow(page);
    await shot("4-generations");
    await page.click('button.set-default[data-generation="2"]');
    await dialog.waitFor();
    await page.click("#confirm-ok");
    await notice("Generation 2 is now the boot default");

    // Export: then the overview says "Ready to reboot" with what was changed.
    await page.click("#nav-power");
    await page.waitForSelector("#export");
    await page.click("#export");
    await dialog.waitFor();
    await page.click("#confirm-ok");
    await page.waitForFunction(() => document.getElementById("summary")?.textContent === "Ready to reboot");
    const changes = (await page.textContent("#changes")) ?? "";
    expect(changes).toContain("Ready to reboot: the pools are exported; 1 change");
    expect(changes).toContain("boot default: generation 3 → generation 2");
    expect(changes).toContain("nvmepool@lifeboat-");
    expect(changes).toContain("set the boot default back to generation 3");
    expect(await page.textContent("main")).not.toContain("Nothing has been changed");
    if (width < 600) await noOverflow(page);
    await shot("5-ready-to-reboot");
    expect(errors).toEqual([]);
    await page.close();
  }

  it("desktop 1280×800", async () => walk(1280, 800, "desktop"), 300_000);
  it("phone 390×844", async () => walk(390, 844, "phone"), 300_000);
});
