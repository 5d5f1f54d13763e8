import { type Child, clear, h, kv, table } from "../dom.js";
import { type ChangeSummary, changesSection } from "./changes.js";
import { act, btn, PHASE_WORDS, type Status, skippedList, type ViewContext, warnings } from "./common.js";
import { diagnosisSection } from "./diagnosis.js";
import { readWriteNotice } from "./progress.js";

function unlockForms(ctx: ViewContext, s: Status): Child[] {
  const pools = [...new Set(s.locked.map((d) => d.split("/")[0] as string))];
  const forms: Child[] = pools.map((pool) => {
    const input = h("input", { type: "password", autocomplete: "off", id: `pass-${pool}` });
    return h(
      "form",
      {
        class: "row",
        onsubmit: (e: Event) => {
          e.preventDefault();
          const button = (e.target as HTMLFormElement).querySelector("button");
          void act(ctx, button, async () => {
            const r = await ctx.api.post<{ loaded: string[] }>(
              `/v1/pools/${encodeURIComponent(pool)}/load-key`,
              {
                passphrase: input.value,
              },
            );
            input.value = "";
            ctx.notice(`Key loaded for ${r.loaded.join(", ") || pool}.`, "info");
            ctx.rerender();
          });
        },
      },
      h("label", { for: `pass-${pool}` }, `Passphrase for the encrypted data on pool ${pool}`),
      input,
      h("button", { class: "primary" }, "Unlock"),
    );
  });
  for (const l of s.luks.filter((x) => !x.opened)) {
    const input = h("input", { type: "password", autocomplete: "off", id: `luks-${l.name}` });
    forms.push(
      h(
        "form",
        {
          class: "row",
          onsubmit: (e: Event) => {
            e.preventDefault();
            void act(ctx, (e.target as HTMLFormElement).querySelector("button"), async () => {
              await ctx.api.post(`/v1/luks/${encodeURIComponent(l.name)}/open`, { passphrase: input.value });
              input.value = "";
              ctx.notice(`${l.device} is open.`, "info");
              ctx.rerender();
            });
          },
        },
        h("label", { for: `luks-${l.name}` }, `Passphrase for the encrypted disk ${l.device}`),
        input,
        h("button", { class: "primary" }, "Open"),
      ),
    );
  }
  return forms;
}

export async function overview(ctx: ViewContext): Promise<void> {
  const [s, sum] = await Promise.all([
    ctx.api.get<Status>("/v1/status"),
    ctx.api.get<ChangeSummary>("/v1/changes"),
  ]);
  const next: Child[] = [];
  if ((s.phase === "found" || s.phase === "imported") && sum.state !== "ready-to-reboot")
    next.push(
      h(
        "p",
        {},
        sum.state === "nothing-changed"
          ? "Nothing has been changed on the disks yet. Mounting read-only is always safe."
          : "Not mounted. This rescue's changes are listed below.",
      ),
      btn("Mount the installed system…", () => ctx.go("mount"), "primary", "go-mount"),
    );
  if (sum.state === "ready-to-reboot")
    next.push(
      h("p", {}, "The server can now be rebooted into its own system."),
      h(
        "div",
        { class: "row" },
        btn("Reboot…", () => ctx.go("power"), "", "go-power"),
        btn("Mount again…", () => ctx.go("mount"), "", "go-mount"),
      ),
    );
  if (s.phase === "mounted-ro")
    next.push(
      h(
        "p",
        {},
        "You can look at everything. Changes (boot default, configuration, rebuild) need read-write.",
      ),
      readWriteNotice(ctx, s),
    );
  if (s.phase === "mounted-ro" || s.phase === "mounted-rw")
    next.push(
      h(
        "div",
        { class: "row" },
        btn("Generations", () => ctx.go("generations")),
        // Offered only when the system keeps one (a volatile journal was lost at the reboot).
        s.installed?.journal === "persistent"
          ? btn("Previous boot's log", () => ctx.go("journal"), "", "go-journal")
          : null,
        btn("Configuration", () => ctx.go("config")),
      ),
      s.installed?.journal === "none"
        ? h(
            "p",
            { class: "muted", id: "no-journal" },
            "This system keeps no persistent journal: the logs of earlier boots were in memory only.",
          )
        : null,
    );
  if (s.phase === "nothing-found")
    next.push(
      h(
        "p",
        {},
        "Check the disks view: are the server's disks visible at all? If ZFS is unavailable, this rescue system cannot read the pools.",
      ),
    );
  const refresh = btn(
    "Look again",
    (e) =>
      void act(ctx, e.currentTarget as HTMLButtonElement, async () => {
        await ctx.api.get("/v1/status?refresh=true");
        ctx.rerender();
      }),
  );
  clear(
    ctx.main,
    h("h1", { id: "summary" }, sum.state === "ready-to-reboot" ? "Ready to reboot" : s.summary),
    sum.state === "ready-to-reboot" || sum.changes.length ? changesSection(sum) : null,
    s.phase === "mounted-ro" || s.phase === "mounted-rw" ? diagnosisSection(ctx, s) : null,
    warnings(s.warnings),
    skippedList(s.skipped),
    s.locked.length || s.luks.some((l) => !l.opened)
      ? h("section", { "aria-label": "Unlock" }, h("h2", {}, "Unlock"), ...unlockForms(ctx, s))
      : null,
    next.length ? h("section", { "aria-label": "Next steps" }, h("h2", {}, "Next steps"), ...next) : null,
    h(
      "section",
      { "aria-label": "Details" },
      kv([
        ["State", PHASE_WORDS[s.phase]?.[0] ?? s.phase],
        [
          "Mounted",
          s.mounted
            ? `${s.mounted.source} at ${s.root} (${s.mounted.readonly ? "read-only" : "read-write"})`
            : "no",
        ],
        [
          "Pools",
          `${s.pools.imported.length ? `imported: ${s.pools.imported.join(", ")}` : ""}${s.pools.importable.length ? ` importable: ${s.pools.importable.join(", ")}` : ""}`.trim() ||
            "none",
        ],
        ...(s.systemPools?.length
          ? [
              [
                "Why imported",
                s.systemPools
                  .map((p) => `${p.pool}: ${p.importedBecause}${p.readonly ? " (read-only)" : ""}`)
                  .join("; "),
              ] as [string, string],
            ]
          : []),
        [
          "ZFS",
          s.zfs.available
            ? `available${s.zfs.version ? ` (${s.zfs.version})` : ""}`
            : `unavailable: ${s.zfs.reason ?? "unknown"}`,
        ],
        ["EFI partitions", s.esps.join(", ") || "none found"],
        [
          "Busy",
          s.busy
            ? `${s.busy.name} since ${new Date(s.busy.since).toLocaleTimeString()}${s.busy.step ? `: ${s.busy.step}` : ""}`
            : "no",
        ],
        [
          "Auto-mount",
          `${s.autoMount.mode} (${s.autoMount.state})${s.autoMount.detail ? `: ${s.autoMount.detail}` : ""}`,
        ],
        ["Agent", `Lifeboat ${s.version}${s.tls ? `, TLS fingerprint ${s.tls.fingerprint}` : ""}`],
      ]),
      h("div", { class: "row" }, refresh),
    ),
    s.candidates.length
      ? h(
          "section",
          { "aria-label": "Systems found" },
          h("h2", {}, "Systems found"),
          table(
            ["System", "State", "Disks", "Why"],
            s.candidates.map((c) => [
              h("strong", {}, c.id),
              c.state ?? c.kind,
              c.disks.join(", "),
              c.reasons.join("; "),
            ]),
            "Systems found",
          ),
        )
      : null,
  );
}
