// The overview's diagnosis in Debian's Chromium: the sentence and the proposals come first; a proposal
// sends its requests only after the dialog (which lists them) is confirmed. The diagnosis served is the
// agent's real answer in QEMU scenario 12; everything else is the agent on the recording fake.
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import type { BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type App, buildServer } from "../../agent/src/http/server.js";
import { buildPage } from "../../agent/src/ui/build-page.mjs";
import { LogSink, rig } from "../app/harness.js";
import { CHROMIUM, launchChromium } from "../helpers/chromium.js";
import { registerSecret } from "../helpers/secrets.js";

const TOKEN = "diag-ui-token-0123456789abcdef-SECRET";
registerSecret(TOKEN);
const DIAGNOSIS = readFileSync(
  join(import.meta.dirname, "..", "fixtures", "vm-captured", "diag", "good", "diagnosis.json"),
  "utf8",
);

describe.skipIf(!existsSync(CHROMIUM))("the overview's diagnosis (Chromium)", () => {
  let app: App;
  let browser: BrowserContext;
  let profile: string;
  let base: string;
  beforeAll(async () => {
    const r = await rig("single");
    // Read-write: a proposal that changes the system is offered only then (read-only shows it disabled).
    await r.mounts.mount({ readonly: false });
    app = await buildServer({
      token: TOKEN,
      logger: pino({ level: "info" }, new LogSink()),
      services: r.services,
      ui: await buildPage(),
    });
    await app.listen({ host: "127.0.0.1", port: 0 });
    const addr = app.server.address();
    base = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
    ({ browser, profile } = await launchChromium());
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await app?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  it("shows the sentence and the proposals first; sends a proposal's requests only after the confirm", async () => {
    const page = await browser.newPage();
    const sent: string[] = [];
    await page.route("**/v1/diagnosis", (route) =>
      route.fulfill({ status: 200, contentType: "application/json", body: DIAGNOSIS }),
    );
    await page.route("**/v1/boot/entries/**", (route) => {
      sent.push(
        `${route.request().method()} ${new URL(route.request().url()).pathname} ${route.request().postData()}`,
      );
      return route.fulfill({
        status: 200,
        contentType: "application/json",
        body: '{"result":{},"snapshot":null}',
      });
    });
    await page.goto(`${base}/#token=${TOKEN}`);
    const sentence = page.locator("#diagnosis-sentence");
    await sentence.waitFor({ timeout: 10_000 }).catch(async (e) => {
      throw new Error(`${e}\n${(await page.locator("main").innerHTML()).slice(0, 1500)}`);
    });
    expect(await sentence.textContent()).toBe(JSON.parse(DIAGNOSIS).sentence);
    // the diagnosis comes right after the heading
    expect(await page.locator("main > .view > :nth-child(2)").getAttribute("id")).toBe("diagnosis");
    const cards = page.locator("li.proposal");
    expect(await cards.count()).toBe(JSON.parse(DIAGNOSIS).proposals.length);
    const blacklist = page.locator('li.proposal[data-kind="kernel-param"]');
    expect(await blacklist.locator("pre.request").textContent()).toContain(
      "POST /v1/boot/entries/nixos-generation-5/kernel-params",
    );
    await blacklist.getByRole("button").click();
    await page.locator("#confirm[open]").waitFor();
    expect(await page.locator("#confirm-body").textContent()).toContain(
      "module_blacklist=vfio_pci,vfio,vfio_iommu_type1",
    );
    await page.locator("#confirm-cancel").click();
    expect(sent).toEqual([]);
    await blacklist.getByRole("button").click();
    await page.locator("#confirm-ok").click();
    await page.locator("#notice.info").waitFor();
    expect(sent).toEqual(
      [5, 6].map(
        (n) =>
          `POST /v1/boot/entries/nixos-generation-${n}/kernel-params {"add":["module_blacklist=vfio_pci,vfio,vfio_iommu_type1"]}`,
      ),
    );
    await page.close();
  }, 120_000);
});
