import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

// docs/fleet.md promises a working scrape config and alert rules: Prometheus' own checker reads them
// as they are written there.

const promtool = spawnSync("promtool", ["--version"]).status === 0;

async function fleetYaml(): Promise<{ config: string; rules: string }> {
  const page = await readFile(join(import.meta.dirname, "..", "..", "docs", "fleet.md"), "utf8");
  const start = page.indexOf("## Prometheus");
  if (start < 0) throw new Error("docs/fleet.md lost its Prometheus section");
  const next = page.indexOf("\n## ", start + 1);
  const section = page.slice(start, next < 0 ? undefined : next);
  const blocks = [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string);
  const config = blocks.find((b) => b.startsWith("scrape_configs:"));
  const rules = blocks.find((b) => b.startsWith("groups:"));
  if (!config || !rules)
    throw new Error("docs/fleet.md's Prometheus section lost its scrape config or alert rules");
  return { config, rules };
}

describe("docs/fleet.md: Prometheus scrape config and alerts for the fleet", () => {
  it("both are in the Prometheus section, scrape config through the collector's http_sd", async () => {
    const { config, rules } = await fleetYaml();
    expect(config).toMatch(/http_sd_configs:\n\s+- url: http:\/\/collector\.example:9180\/v1\/sd/);
    expect(rules).toContain("lifeboat_pool_health");
  });

  it.skipIf(!promtool)("promtool check config / check rules accept them", async () => {
    const dir = await mkdtemp(join(tmpdir(), "lifeboat-prom-"));
    const { config, rules } = await fleetYaml();
    // The credentials file must exist for promtool: the same config, pointed at a real file.
    await writeFile(join(dir, "token"), "metrics-token-for-promtool-check\n", { mode: 0o600 });
    await writeFile(
      join(dir, "prometheus.yml"),
      config.replace("/etc/prometheus/lifeboat-metrics-token", join(dir, "token")),
    );
    await writeFile(join(dir, "rules.yml"), rules);
    const c = spawnSync("promtool", ["check", "config", join(dir, "prometheus.yml")], { encoding: "utf8" });
    expect(c.status, `${c.stdout}${c.stderr}`).toBe(0);
    const r = spawnSync("promtool", ["check", "rules", join(dir, "rules.yml")], { encoding: "utf8" });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    expect(r.stdout).toContain("SUCCESS: 4 rules found");
  });

  it.skipIf(promtool)(
    "promtool check (skipped: promtool is not installed; apt-get install prometheus)",
    () => {
      expect(promtool).toBe(false);
    },
  );
});
