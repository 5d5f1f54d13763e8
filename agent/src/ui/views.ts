import { type Api, ApiError, encodePath } from "./api.js";
import { applyKernelParams, hunks, lineDiff } from "./diff.js";
import { bytes, type Child, clear, h, kv, table } from "./dom.js";

export interface Status {
  version: string;
  phase: string;
  summary: string;
  root: string;
  zfs: { available: boolean; version: string | null; reason: string | null };
  mounted: {
    pool: string | null;
    source: string;
    readonly: boolean;
    mounts: { source: string; target: string; fstype: string }[];
  } | null;
  candidates: {
    id: string;
    kind: string;
    pool?: string;
    device?: string;
    state?: string;
    reasons: string[];
    disks: string[];
  }[];
  pools: { importable: string[]; imported: string[] };
  esps: string[];
  luks: { device: string; name: string; opened: string | null }[];
  locked: string[];
  warnings: string[];
  busy: { name: string; since: string } | null;
  autoMount: { mode: string; state: string; detail: string | null };
  urls: string[];
  tls?: { fingerprint: string } | null;
}

export interface ViewContext {
  api: Api;
  main: HTMLElement;
  signal: AbortSignal;
  confirm: (o: { title: string; body: Child[]; ok: string; danger?: boolean }) => Promise<boolean>;
  notice: (text: string | null, kind?: "error" | "info") => void;
  error: (err: unknown) => void;
  refreshPhase: () => Promise<Status | null>;
  go: (view: string) => void;
  rerender: () => void;
}

export const PHASE_WORDS: Record<string, [string, string]> = {
  "nothing-found": ["Nothing found", "bad"],
  found: ["Found, not mounted", "warn"],
  imported: ["Pool imported, not mounted", "warn"],
  locked: ["Locked: needs a passphrase", "warn"],
  "mounted-ro": ["Mounted read-only", "ok"],
  "mounted-rw": ["Mounted read-write", "ok"],
};

/** Runs an action from a button: disables it meanwhile, reports errors in plain words. */
async function act(
  ctx: ViewContext,
  button: HTMLButtonElement | null,
  fn: () => Promise<void>,
): Promise<void> {
  if (button) button.disabled = true;
  ctx.notice(null);
  try {
    await fn();
  } catch (err) {
    ctx.error(err);
  } finally {
    if (button) button.disabled = false;
  }
}

const btn = (label: string, onclick: (e: Event) => void, cls = "", id?: string) =>
  h("button", { type: "button", class: cls, onclick, id }, label);

function warnings(list: string[]): Child {
  return list.length
    ? h("ul", { class: "warnings", "aria-label": "Warnings" }, ...list.map((w) => h("li", {}, w)))
    : null;
}

// ---------------------------------------------------------------- overview

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

async function overview(ctx: ViewContext): Promise<void> {
  const s = await ctx.api.get<Status>("/v1/status");
  const next: Child[] = [];
  if (s.phase === "found" || s.phase === "imported")
    next.push(
      h("p", {}, "Nothing has been changed on the disks yet. Mounting read-only is always safe."),
      btn("Mount the installed system…", () => ctx.go("mount"), "primary", "go-mount"),
    );
  if (s.phase === "mounted-ro")
    next.push(
      h(
        "p",
        {},
        "You can look at everything. To change something (boot default, configuration, rebuild), re-mount read-write.",
      ),
      btn("Re-mount read-write…", () => ctx.go("mount"), "", "go-mount"),
    );
  if (s.phase === "mounted-ro" || s.phase === "mounted-rw")
    next.push(
      h(
        "div",
        { class: "row" },
        btn("Generations", () => ctx.go("generations")),
        btn("Previous boot's log", () => ctx.go("journal")),
        btn("Configuration", () => ctx.go("config")),
      ),
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
    h("h1", { id: "summary" }, s.summary),
    warnings(s.warnings),
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
        [
          "ZFS",
          s.zfs.available
            ? `available${s.zfs.version ? ` (${s.zfs.version})` : ""}`
            : `unavailable: ${s.zfs.reason ?? "unknown"}`,
        ],
        ["EFI partitions", s.esps.join(", ") || "none found"],
        ["Busy", s.busy ? `${s.busy.name} since ${s.busy.since}` : "no"],
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

// ---------------------------------------------------------------- disks and pools

interface Dev {
  name: string;
  path: string;
  type: string;
  fstype: string | null;
  label: string | null;
  size: string | null;
  mountpoints: string[];
  children: Dev[];
}
interface Vdev {
  name: string;
  state: string | null;
  message?: string | null;
  children: Vdev[];
  errors?: { read: string; write: string; checksum: string };
}
interface Importable {
  name: string;
  id: string;
  state: string;
  status: string | null;
  action: string | null;
  config: Vdev[];
  lastAccessedByOtherSystem: boolean;
  lastHost: { hostname: string; hostid: string | null } | null;
  importable: boolean;
}
interface Imported {
  name: string;
  state: string;
  health: string | null;
  size: string | null;
  free: string | null;
  vdevs: Vdev[];
}

const stateClass = (s: string | null | undefined) =>
  s === "ONLINE" ? "ok" : s === "DEGRADED" ? "warn" : "bad";

function devTree(devs: Dev[]): HTMLElement {
  return h(
    "ul",
    { class: "tree" },
    ...devs.map((d) =>
      h(
        "li",
        {},
        h("code", {}, d.name),
        ` ${d.type}${d.size ? ` ${bytes(d.size)}` : ""}${d.fstype ? ` · ${d.fstype}` : ""}${d.label ? ` · “${d.label}”` : ""}${d.mountpoints.length ? ` · mounted at ${d.mountpoints.join(", ")}` : ""}`,
        d.children.length ? devTree(d.children) : null,
      ),
    ),
  );
}

function vdevTree(vs: Vdev[]): HTMLElement {
  return h(
    "ul",
    { class: "tree" },
    ...vs.map((v) =>
      h(
        "li",
        {},
        h("code", {}, v.name),
        " ",
        v.state ? h("span", { class: stateClass(v.state) }, v.state) : null,
        v.message ? h("span", { class: "muted" }, ` ${v.message}`) : null,
        v.errors && (v.errors.read !== "0" || v.errors.write !== "0" || v.errors.checksum !== "0")
          ? h(
              "span",
              { class: "bad" },
              ` errors: read ${v.errors.read}, write ${v.errors.write}, checksum ${v.errors.checksum}`,
            )
          : null,
        v.children.length ? vdevTree(v.children) : null,
      ),
    ),
  );
}

async function disks(ctx: ViewContext): Promise<void> {
  const [d, p] = await Promise.all([
    ctx.api.get<{
      disks: Dev[];
      esps: { device: string; evidence: string }[];
      luks: { device: string; opened: string | null }[];
    }>("/v1/disks"),
    ctx.api.get<{ importable: Importable[]; imported: Imported[] }>("/v1/pools"),
  ]);
  clear(
    ctx.main,
    h("h1", {}, "Disks and pools"),
    h(
      "section",
      { "aria-label": "Pools" },
      h("h2", {}, "Pools"),
      !p.importable.length && !p.imported.length ? h("p", {}, "No ZFS pool found on the disks.") : null,
      ...p.imported.map((x) =>
        h(
          "div",
          { class: "card pool", "data-pool": x.name },
          h("strong", {}, x.name),
          " imported · ",
          h("span", { class: stateClass(x.health ?? x.state) }, x.health ?? x.state),
          x.size ? ` · ${bytes(x.size)}, ${bytes(x.free)} free` : "",
          vdevTree(x.vdevs),
        ),
      ),
      ...p.importable.map((x) =>
        h(
          "div",
          { class: "card pool", "data-pool": x.name },
          h("strong", {}, x.name),
          " not imported · ",
          h("span", { class: stateClass(x.state) }, x.state),
          x.lastAccessedByOtherSystem
            ? h(
                "p",
                { class: "warn" },
                `Last used by ${x.lastHost?.hostname ?? "another system"}${x.lastHost?.hostid ? ` (host ID ${x.lastHost.hostid})` : ""}. Only import it if that machine is off.`,
              )
            : null,
          x.status ? h("p", { class: "muted" }, x.status) : null,
          vdevTree(x.config),
        ),
      ),
    ),
    h(
      "section",
      { "aria-label": "Disks" },
      h("h2", {}, "Disks"),
      d.disks.length ? devTree(d.disks) : h("p", {}, "No disks found."),
    ),
    d.esps.length
      ? h(
          "section",
          {},
          h("h2", {}, "EFI system partitions"),
          h("ul", {}, ...d.esps.map((e) => h("li", {}, h("code", {}, e.device), ` (${e.evidence})`))),
        )
      : null,
  );
}

// ---------------------------------------------------------------- mount

interface PlanStep {
  kind: string;
  pool?: string;
  readonly?: boolean;
  altroot?: string;
  source?: string;
  target?: string;
  path?: string;
  fstype?: string;
  options?: string[];
}
interface Plan {
  candidate: string;
  readonly: boolean;
  root: string;
  complete: boolean;
  steps: PlanStep[];
  notes: string[];
}

function stepText(s: PlanStep): string {
  if (s.kind === "import-pool")
    return `Import pool ${s.pool} ${s.readonly ? "read-only" : "read-write"} under ${s.altroot}`;
  if (s.kind === "mount")
    return `Mount ${s.source} on ${s.path} (${s.target}, ${s.fstype}${s.options?.length ? `, ${s.options.join(",")}` : ""})`;
  return `${s.kind} ${[s.pool, s.source, s.target].filter(Boolean).join(" ")}`;
}

function planView(p: Plan): HTMLElement {
  return h(
    "div",
    { class: "plan" },
    h("p", {}, `${p.readonly ? "Read-only" : "Read-write"} mount of ${p.candidate} at ${p.root}:`),
    h("ol", { class: "plan" }, ...p.steps.map((s) => h("li", {}, stepText(s)))),
    p.notes.length ? h("ul", { class: "warnings" }, ...p.notes.map((n) => h("li", {}, n))) : null,
    p.complete
      ? null
      : h(
          "p",
          { class: "warn" },
          "Not final yet: the rest is decided once more is known (see the notes above).",
        ),
  );
}

async function mount(ctx: ViewContext): Promise<void> {
  const [s, pools] = await Promise.all([
    ctx.api.get<Status>("/v1/status"),
    ctx.api.get<{ importable: Importable[]; imported: Imported[] }>("/v1/pools"),
  ]);
  const choices = s.candidates.map((c) => c.pool ?? c.device ?? c.id);
  const mode = (ro: boolean) =>
    h("input", {
      type: "radio",
      name: "mode",
      value: ro ? "ro" : "rw",
      id: ro ? "mode-ro" : "mode-rw",
      checked: ro ? s.phase !== "mounted-ro" : s.phase === "mounted-ro",
    });
  const ro = mode(true);
  const rw = mode(false);
  const pick = h(
    "select",
    { id: "candidate", "aria-label": "System to mount" },
    ...choices.map((c) => h("option", { value: c }, c)),
  );
  const force = h("input", { type: "checkbox", id: "force" });
  const lastHostNote = h("p", { class: "warn", id: "last-host" });
  const forceRow = h(
    "div",
    { class: "row", hidden: true },
    h("label", {}, force, "Force the import (zpool import -f)"),
  );
  const planBox = h("div", { id: "plan", "aria-live": "polite" });
  const updateForce = () => {
    const p = pools.importable.find((x) => x.name === pick.value);
    const other = Boolean(p?.lastAccessedByOtherSystem);
    forceRow.hidden = !other;
    clear(
      lastHostNote,
      other
        ? `Pool ${p?.name} was last used by ${p?.lastHost?.hostname ?? "another system"}${p?.lastHost?.hostid ? ` (host ID ${p.lastHost.hostid})` : ""}. That is normal when the server died. Lifeboat adopts that host ID instead of forcing. Force only if the import still fails, and only if that machine is really switched off: two machines writing one pool destroy it.`
        : "",
    );
    clear(planBox);
  };
  pick.addEventListener("change", updateForce);
  const readonly = () => ro.checked;
  const showPlan = async (): Promise<Plan> => {
    const q = new URLSearchParams({ readonly: String(readonly()) });
    if (pick.value) q.set("pool", pick.value);
    const plan = await ctx.api.get<Plan>(`/v1/plan?${q}`);
    clear(planBox, h("h2", {}, "What will happen"), planView(plan));
    return plan;
  };
  const doMount = async (button: HTMLButtonElement) =>
    act(ctx, button, async () => {
      const plan = await showPlan();
      const body: Child[] = [planView(plan)];
      if (!readonly())
        body.push(
          h(
            "p",
            { class: "warn" },
            "Read-write: Lifeboat may change the installed system from now on (each change takes a snapshot first).",
          ),
        );
      if (force.checked)
        body.push(
          h(
            "p",
            { class: "bad" },
            "Forced import: make sure the machine that last used this pool is switched off.",
          ),
        );
      const ok = await ctx.confirm({
        title: readonly() ? "Mount read-only?" : "Mount read-write?",
        body,
        ok: readonly() ? "Mount read-only" : "Mount read-write",
        danger: force.checked,
      });
      if (!ok) return;
      const r = await ctx.api.post<{ result: string; warnings: string[]; steps: string[] }>("/v1/mount", {
        readonly: readonly(),
        ...(pick.value ? { pool: pick.value } : {}),
        ...(force.checked ? { force: true } : {}),
      });
      ctx.notice(
        `${r.result === "already-mounted" ? "Already mounted" : "Mounted"} ${readonly() ? "read-only" : "read-write"}.${r.warnings.length ? ` ${r.warnings.join(" ")}` : ""}`,
        "info",
      );
      await ctx.refreshPhase();
      ctx.go("overview");
    });
  const exportBox = h("input", { type: "checkbox", id: "unmount-export" });
  const doUnmount = (button: HTMLButtonElement) =>
    act(ctx, button, async () => {
      const ok = await ctx.confirm({
        title: "Unmount the installed system?",
        body: [
          h(
            "p",
            {},
            `Everything under ${s.root} is unmounted${exportBox.checked ? ", then the pools are exported so that the server can import them when it boots" : ""}.`,
          ),
        ],
        ok: exportBox.checked ? "Unmount and export" : "Unmount",
      });
      if (!ok) return;
      const r = await ctx.api.post<{ unmounted: string[]; exported: string[] }>("/v1/unmount", {
        export: exportBox.checked,
      });
      ctx.notice(
        `Unmounted ${r.unmounted.length} file systems${r.exported.length ? `; exported ${r.exported.join(", ")}` : ""}.`,
        "info",
      );
      ctx.rerender();
    });
  clear(
    ctx.main,
    h("h1", {}, "Mount the installed system"),
    s.mounted
      ? h(
          "p",
          {},
          `Now mounted: ${s.mounted.source} at ${s.root}, ${s.mounted.readonly ? "read-only" : "read-write"}.`,
        )
      : null,
    choices.length === 0
      ? h("p", {}, "No installed system was found to mount. See the disks view.")
      : h(
          "section",
          { "aria-label": "Mount" },
          h("div", { class: "row" }, h("label", { for: "candidate" }, "System"), pick),
          h(
            "fieldset",
            {},
            h("legend", {}, "How"),
            h("label", {}, ro, "Read-only: look and copy, nothing is written (safe)"),
            h("br"),
            h(
              "label",
              {},
              rw,
              "Read-write: needed to change the boot default, the configuration or to rebuild",
            ),
          ),
          lastHostNote,
          forceRow,
          h(
            "div",
            { class: "row" },
            btn(
              "Show what will happen",
              (e) => void act(ctx, e.currentTarget as HTMLButtonElement, async () => void (await showPlan())),
              "",
              "show-plan",
            ),
            btn("Mount…", (e) => void doMount(e.currentTarget as HTMLButtonElement), "primary", "mount"),
          ),
          planBox,
        ),
    s.mounted || s.pools.imported.length
      ? h(
          "section",
          { "aria-label": "Unmount" },
          h("h2", {}, "Unmount"),
          h("label", {}, exportBox, "Also export the pools (hand them back cleanly so the server can boot)"),
          h(
            "div",
            { class: "row" },
            btn("Unmount…", (e) => void doUnmount(e.currentTarget as HTMLButtonElement), "", "unmount"),
          ),
        )
      : null,
  );
  updateForce();
}

// ---------------------------------------------------------------- generations

interface Generation {
  number: number;
  current: boolean;
  bootDefault: boolean;
  date: string | null;
  nixosVersion: string | null;
  kernelVersion: string | null;
  kernelParams: string[];
  closurePresent: boolean;
}

const needsRw = (err: unknown) =>
  err instanceof ApiError && (err.code === "read-only-mount" || err.code === "not-mounted");

async function generations(ctx: ViewContext): Promise<void> {
  const { generations: gens } = await ctx.api.get<{ generations: Generation[] }>("/v1/generations");
  const current = gens.find((g) => g.bootDefault);
  const setDefault = (g: Generation, button: HTMLButtonElement) =>
    act(ctx, button, async () => {
      const ok = await ctx.confirm({
        title: `Boot generation ${g.number} by default?`,
        body: [
          h(
            "p",
            {},
            `The boot menu will start generation ${g.number} (NixOS ${g.nixosVersion ?? "?"}, kernel ${g.kernelVersion ?? "?"}) by default${current ? ` instead of generation ${current.number}` : ""}.`,
          ),
          h(
            "p",
            {},
            "A snapshot of the pool is taken first. Nothing else changes; older generations stay in the menu.",
          ),
        ],
        ok: `Boot generation ${g.number} by default`,
      });
      if (!ok) return;
      try {
        const r = await ctx.api.post<{ snapshot?: string | null }>("/v1/boot/default", {
          generation: g.number,
        });
        ctx.rerender();
        ctx.notice(
          `Generation ${g.number} is now the boot default.${r?.snapshot ? ` Snapshot: ${r.snapshot}.` : ""}`,
          "info",
        );
      } catch (err) {
        if (needsRw(err))
          ctx.notice(`${(err as Error).message} — use the Mount view to re-mount read-write.`);
        else throw err;
      }
    });
  clear(
    ctx.main,
    h("h1", {}, "Generations"),
    h(
      "p",
      { class: "muted" },
      "Each rebuild of the server made a generation. If the newest one broke the boot, make an older one the default.",
    ),
    table(
      ["#", "Date", "NixOS", "Kernel", "", ""],
      gens.map((g) => [
        h("strong", {}, String(g.number)),
        g.date ? new Date(g.date).toLocaleString() : "",
        g.nixosVersion ?? "",
        g.kernelVersion ?? "",
        h(
          "span",
          {},
          g.current ? h("span", { class: "badge" }, "current") : null,
          " ",
          g.bootDefault ? h("span", { class: "badge ok" }, "boot default") : null,
          g.closurePresent
            ? null
            : h(
                "span",
                { class: "badge bad", title: "its store paths are missing: it cannot boot" },
                "incomplete",
              ),
        ),
        g.bootDefault
          ? ""
          : h(
              "button",
              {
                type: "button",
                class: "set-default",
                "data-generation": g.number,
                disabled: !g.closurePresent,
                onclick: (e: Event) => void setDefault(g, e.currentTarget as HTMLButtonElement),
              },
              "Boot this by default…",
            ),
      ]),
      "Generations",
    ),
  );
}

// ---------------------------------------------------------------- boot entries

interface BootEntry {
  id: string;
  title: string | null;
  version: string | null;
  options: string[];
  generation: number | null;
  isDefault: boolean;
  hasBackup: boolean;
}

function paramDiff(before: string[], after: string[]): HTMLElement {
  return h(
    "pre",
    { class: "diff" },
    ...before.filter((p) => !after.includes(p)).map((p) => h("div", { class: "del" }, `- ${p}`)),
    ...after.filter((p) => !before.includes(p)).map((p) => h("div", { class: "add" }, `+ ${p}`)),
  );
}

async function boot(ctx: ViewContext): Promise<void> {
  const b = await ctx.api.get<{
    loader: string;
    default: string | null;
    entries: BootEntry[];
    notes?: string[];
  }>("/v1/boot");
  const editor = (e: BootEntry): HTMLElement => {
    const add = h("input", {
      type: "text",
      id: `add-${e.id}`,
      placeholder: "e.g. systemd.unit=rescue.target nomodeset",
      size: 40,
    });
    const removes = e.options.map((o) => h("input", { type: "checkbox", value: o }));
    const apply = (button: HTMLButtonElement) =>
      act(ctx, button, async () => {
        const toAdd = add.value.split(/\s+/).filter(Boolean);
        const toRemove = removes.filter((r) => r.checked).map((r) => r.value);
        if (!toAdd.length && !toRemove.length)
          return ctx.notice("Nothing to change: add a parameter or tick one to remove.");
        const after = applyKernelParams(e.options, toAdd, toRemove);
        const ok = await ctx.confirm({
          title: `Change kernel parameters of “${e.title ?? e.id}”?`,
          body: [
            h(
              "p",
              {},
              `Boot entry ${e.id} on the EFI partition. The original is kept and can be restored with “Revert”.`,
            ),
            paramDiff(e.options, after),
            h("p", { class: "muted" }, `Result: ${after.join(" ")}`),
          ],
          ok: "Change the boot entry",
        });
        if (!ok) return;
        await ctx.api.post(`/v1/boot/entries/${encodeURIComponent(e.id)}/kernel-params`, {
          add: toAdd,
          remove: toRemove,
        });
        ctx.rerender();
        ctx.notice(`Boot entry ${e.id} changed.`, "info");
      });
    return h(
      "details",
      {},
      h("summary", {}, "Kernel parameters hotfix"),
      h("div", { class: "row" }, h("label", { for: `add-${e.id}` }, "Add"), add),
      e.options.length
        ? h(
            "div",
            {},
            h("p", { class: "muted" }, "Remove:"),
            ...e.options.map((o, i) => h("label", {}, removes[i], h("code", {}, o))),
          )
        : null,
      h(
        "div",
        { class: "row" },
        btn("Preview and apply…", (ev) => void apply(ev.currentTarget as HTMLButtonElement), "primary"),
      ),
    );
  };
  const revert = (e: BootEntry, button: HTMLButtonElement) =>
    act(ctx, button, async () => {
      const ok = await ctx.confirm({
        title: `Restore the original boot entry ${e.id}?`,
        body: [h("p", {}, "The entry goes back to what it was before Lifeboat changed it.")],
        ok: "Restore",
      });
      if (!ok) return;
      await ctx.api.post(`/v1/boot/entries/${encodeURIComponent(e.id)}/revert`, {});
      ctx.rerender();
      ctx.notice(`Boot entry ${e.id} restored.`, "info");
    });
  clear(
    ctx.main,
    h("h1", {}, "Boot entries"),
    h("p", {}, `Boot loader: ${b.loader}${b.default ? `, default entry ${b.default}` : ""}.`),
    b.loader === "grub"
      ? h("p", { class: "warn" }, "GRUB entries are shown read-only: change the generation default instead.")
      : null,
    ...(b.notes ?? []).map((n) => h("p", { class: "muted" }, n)),
    ...b.entries.map((e) =>
      h(
        "section",
        { "aria-label": e.title ?? e.id },
        h("h2", {}, e.title ?? e.id, e.isDefault ? h("span", { class: "badge ok" }, " default") : null),
        kv([
          ["Entry", h("code", {}, e.id)],
          ["Version", e.version ?? ""],
          ["Options", h("code", {}, e.options.join(" "))],
        ]),
        b.loader === "systemd-boot" ? editor(e) : null,
        e.hasBackup
          ? btn("Revert to the original…", (ev) => void revert(e, ev.currentTarget as HTMLButtonElement))
          : null,
      ),
    ),
  );
}

// ---------------------------------------------------------------- configuration

function diffView(before: string, after: string): HTMLElement {
  const d = lineDiff(before, after);
  if (!d)
    return h(
      "p",
      {},
      `${before.split("\n").length} lines → ${after.split("\n").length} lines (too large to compare here).`,
    );
  const hs = hunks(d);
  if (!hs.length) return h("p", {}, "No changes.");
  return h(
    "pre",
    { class: "diff" },
    ...hs.map((l) =>
      l
        ? h("div", { class: l.op === "+" ? "add" : l.op === "-" ? "del" : "" }, `${l.op} ${l.text}`)
        : h("div", { class: "muted" }, "…"),
    ),
  );
}

async function config(ctx: ViewContext): Promise<void> {
  const tree = await ctx.api.get<{
    files: { path: string; size: number }[];
    flake: unknown;
    hosts?: string[];
  }>("/v1/config");
  const editorBox = h("div", { id: "editor" });
  const open = async (path: string) => {
    const { data, res } = await ctx.api.request<{ path: string; content: string; etag: string }>(
      "GET",
      `/v1/config/${encodePath(path)}`,
    );
    let etag = res.headers.get("etag") ?? data.etag;
    let base = data.content;
    const area = h("textarea", {
      id: "config-text",
      spellcheck: "false",
      "aria-label": `Contents of ${path}`,
    });
    area.value = base;
    const save = (button: HTMLButtonElement) =>
      act(ctx, button, async () => {
        const ok = await ctx.confirm({
          title: `Save ${path}?`,
          body: [
            diffView(base, area.value),
            h(
              "p",
              { class: "muted" },
              "A snapshot is taken first. Nothing is rebuilt until you run a rebuild.",
            ),
          ],
          ok: "Save",
        });
        if (!ok) return;
        try {
          const r = await ctx.api.request<{ result?: { etag?: string } }>(
            "PUT",
            `/v1/config/${encodePath(path)}`,
            { content: area.value },
            { "if-match": etag },
          );
          etag = r.res.headers.get("etag") ?? r.data?.result?.etag ?? etag;
          base = area.value;
          ctx.notice(`${path} saved.`, "info");
        } catch (err) {
          if (!(err instanceof ApiError && err.status === 412)) throw err;
          const theirs = await ctx.api.request<{ content: string; etag: string }>(
            "GET",
            `/v1/config/${encodePath(path)}`,
          );
          ctx.notice(null);
          const mine = area.value;
          const keep = await ctx.confirm({
            title: `${path} changed meanwhile`,
            body: [
              h(
                "p",
                {},
                "Someone or something changed this file since you opened it. Their changes compared with yours:",
              ),
              diffView(theirs.data.content, mine),
              h(
                "p",
                {},
                "Overwrite with your text, or cancel to load theirs (your text is then shown below the editor to copy from).",
              ),
            ],
            ok: "Overwrite with mine",
            danger: true,
          });
          etag = theirs.res.headers.get("etag") ?? theirs.data.etag;
          if (keep) {
            await ctx.api.request(
              "PUT",
              `/v1/config/${encodePath(path)}`,
              { content: mine },
              { "if-match": etag },
            );
            base = mine;
            ctx.notice(`${path} saved (their changes overwritten).`, "info");
          } else {
            base = theirs.data.content;
            area.value = base;
            editorBox.append(
              h("details", { open: true }, h("summary", {}, "Your discarded text"), h("pre", {}, mine)),
            );
          }
        }
      });
    clear(
      editorBox,
      h("h2", {}, path),
      area,
      h(
        "div",
        { class: "row" },
        btn(
          "Review and save…",
          (e) => void save(e.currentTarget as HTMLButtonElement),
          "primary",
          "config-save",
        ),
      ),
    );
    area.focus();
  };
  clear(
    ctx.main,
    h("h1", {}, "Configuration (/etc/nixos)"),
    h(
      "p",
      {},
      tree.flake
        ? `A flake${tree.hosts?.length ? ` with the hosts ${tree.hosts.join(", ")}` : ""}.`
        : "A classic configuration.nix (no flake).",
    ),
    h(
      "ul",
      { "aria-label": "Files" },
      ...tree.files.map((f) =>
        h(
          "li",
          {},
          h(
            "button",
            { type: "button", class: "link", onclick: () => void open(f.path).catch(ctx.error) },
            f.path,
          ),
          h("span", { class: "muted" }, ` ${bytes(f.size)}`),
        ),
      ),
    ),
    editorBox,
  );
}

// ---------------------------------------------------------------- rebuild and jobs

interface JobView {
  id: string;
  kind: string;
  title: string;
  state: string;
  exitCode: number | null;
  createdAt: string;
  steps: { label: string; command: string[] }[];
}

function jobLog(ctx: ViewContext, job: { id: string; title?: string }): HTMLElement {
  const pre = h("pre", { class: "log", id: "job-log", tabindex: "0", "aria-label": "Build log" });
  const state = h("span", { class: "badge", id: "job-state" }, "running");
  const cancel = btn(
    "Cancel the rebuild",
    (e) =>
      void act(ctx, e.currentTarget as HTMLButtonElement, async () => {
        await ctx.api.post(`/v1/jobs/${encodeURIComponent(job.id)}/cancel`, {});
      }),
  );
  const box = h(
    "section",
    { "aria-label": "Job" },
    h("h2", {}, job.title ?? "Job", " ", state),
    pre,
    h("div", { class: "row" }, cancel),
  );
  void ctx.api
    .stream(
      `/v1/jobs/${encodeURIComponent(job.id)}/log`,
      (ev) => {
        const d = JSON.parse(ev.data || "{}") as {
          stream?: string;
          text?: string;
          state?: string;
          exitCode?: number | null;
        };
        if (ev.event === "line") {
          const stick = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
          pre.append(h("span", { class: d.stream ?? "" }, `${d.text ?? ""}\n`));
          if (stick) pre.scrollTop = pre.scrollHeight;
        } else if (ev.event === "end") {
          state.textContent = `${d.state}${d.exitCode !== null && d.exitCode !== undefined ? ` (exit ${d.exitCode})` : ""}`;
          state.className = `badge ${d.state === "succeeded" ? "ok" : "bad"}`;
          cancel.remove();
        }
      },
      ctx.signal,
    )
    .catch((err) => {
      if (!ctx.signal.aborted) ctx.error(err);
    });
  return box;
}

async function rebuild(ctx: ViewContext): Promise<void> {
  const [cfg, jobs] = await Promise.all([
    ctx.api
      .get<{ flake: unknown; hosts?: string[] }>("/v1/config")
      .catch(() => ({ flake: null, hosts: [] as string[] })),
    ctx.api.get<{ jobs: JobView[] }>("/v1/jobs").catch(() => ({ jobs: [] as JobView[] })),
  ]);
  const actionBoot = h("input", {
    type: "radio",
    name: "action",
    value: "boot",
    checked: true,
    id: "action-boot",
  });
  const actionBuild = h("input", { type: "radio", name: "action", value: "build", id: "action-build" });
  const flake = h("input", {
    type: "text",
    id: "flake",
    size: 40,
    placeholder: "/etc/nixos#host (empty: what the system uses)",
  });
  if (cfg.flake && cfg.hosts?.length === 1) flake.value = `/etc/nixos#${cfg.hosts[0]}`;
  const logBox = h("div", {});
  const start = (button: HTMLButtonElement) =>
    act(ctx, button, async () => {
      const action = actionBoot.checked ? "boot" : "build";
      const ok = await ctx.confirm({
        title: action === "boot" ? "Rebuild and make it the boot default?" : "Build only?",
        body: [
          h(
            "p",
            {},
            action === "boot"
              ? "Runs nixos-rebuild boot inside the installed system: builds the configuration and adds a new generation as the boot default. Nothing is activated now. A snapshot is taken first."
              : "Runs nixos-rebuild build inside the installed system: checks that the configuration builds. The boot menu is not changed.",
          ),
          flake.value ? h("p", {}, `Flake: ${flake.value}`) : null,
          h("p", { class: "muted" }, "It can take a long time and may download from the network."),
        ],
        ok: action === "boot" ? "Rebuild" : "Build",
      });
      if (!ok) return;
      const r = await ctx.api.post<{ job: JobView }>("/v1/rebuild", {
        action,
        ...(flake.value ? { flake: flake.value } : {}),
      });
      clear(logBox, jobLog(ctx, r.job));
    });
  clear(
    ctx.main,
    h("h1", {}, "Rebuild"),
    h(
      "section",
      { "aria-label": "Rebuild" },
      h("label", {}, actionBoot, "Build and boot it next time (nixos-rebuild boot)"),
      h("br"),
      h("label", {}, actionBuild, "Only check that it builds (nixos-rebuild build)"),
      h("div", { class: "row" }, h("label", { for: "flake" }, "Flake"), flake),
      h(
        "div",
        { class: "row" },
        btn("Start…", (e) => void start(e.currentTarget as HTMLButtonElement), "primary", "rebuild-start"),
      ),
    ),
    logBox,
    jobs.jobs.length
      ? h(
          "section",
          { "aria-label": "Earlier jobs" },
          h("h2", {}, "Earlier jobs"),
          table(
            ["Started", "What", "Result", ""],
            jobs.jobs.map((j) => [
              new Date(j.createdAt).toLocaleString(),
              j.title,
              `${j.state}${j.exitCode !== null ? ` (exit ${j.exitCode})` : ""}`,
              btn("Show log", () => clear(logBox, jobLog(ctx, j))),
            ]),
          ),
        )
      : null,
  );
}

// ---------------------------------------------------------------- journal

interface JournalEntry {
  cursor: string;
  time: string | null;
  priority: number | null;
  unit: string | null;
  identifier: string | null;
  message: string;
}
const PRIORITIES = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"];

async function journal(ctx: ViewContext): Promise<void> {
  const boots = await ctx.api
    .get<{ boots: Record<string, unknown>[] }>("/v1/journal/boots")
    .catch(() => ({ boots: [] as Record<string, unknown>[] }));
  const bootSel = h(
    "select",
    { id: "journal-boot" },
    ...(boots.boots.length
      ? boots.boots.map((b) => {
          const idx = String(b.index ?? b.offset ?? "");
          const when = String(b.first ?? b.firstEntry ?? b.start ?? "");
          return h(
            "option",
            { value: idx, selected: idx === "-1" },
            `${idx === "0" ? "last boot" : idx === "-1" ? "previous boot" : `boot ${idx}`}${when ? ` (${when})` : ""}`,
          );
        })
      : [h("option", { value: "-1" }, "previous boot"), h("option", { value: "0" }, "last boot")]),
  );
  const prio = h(
    "select",
    { id: "journal-priority" },
    h("option", { value: "" }, "everything"),
    ...PRIORITIES.slice(0, 7).map((p, i) =>
      h("option", { value: String(i), selected: i === 4 }, `${p} and worse`),
    ),
  );
  const unit = h("input", { type: "text", id: "journal-unit", placeholder: "e.g. sshd.service", size: 20 });
  const rows = h("tbody", {});
  const more = btn("Load more", () => void load(false), "", "journal-more");
  more.hidden = true;
  let cursor: string | null = null;
  const load = async (fresh: boolean) => {
    const q = new URLSearchParams({ boot: bootSel.value || "-1", limit: "200" });
    if (prio.value) q.set("priority", prio.value);
    if (unit.value.trim()) q.set("unit", unit.value.trim());
    if (!fresh && cursor) q.set("cursor", cursor);
    try {
      const r = await ctx.api.get<{ entries: JournalEntry[]; nextCursor: string | null }>(`/v1/journal?${q}`);
      if (fresh) rows.replaceChildren();
      for (const e of r.entries)
        rows.append(
          h(
            "tr",
            {},
            h("td", {}, e.time ? new Date(e.time).toLocaleString() : ""),
            h(
              "td",
              { class: e.priority === null ? "" : e.priority <= 3 ? "bad" : e.priority === 4 ? "warn" : "" },
              e.priority === null ? "" : (PRIORITIES[e.priority] ?? String(e.priority)),
            ),
            h("td", {}, e.unit ?? e.identifier ?? ""),
            h("td", {}, h("pre", {}, e.message)),
          ),
        );
      if (fresh && !r.entries.length) rows.append(h("tr", {}, h("td", { colspan: 4 }, "No entries.")));
      cursor = r.nextCursor;
      more.hidden = !cursor;
    } catch (err) {
      ctx.error(err);
    }
  };
  clear(
    ctx.main,
    h("h1", {}, "Journal of the installed system"),
    h(
      "form",
      {
        class: "row",
        onsubmit: (e: Event) => {
          e.preventDefault();
          void load(true);
        },
      },
      h("label", { for: "journal-boot" }, "Boot"),
      bootSel,
      h("label", { for: "journal-priority" }, "Show"),
      prio,
      h("label", { for: "journal-unit" }, "Unit"),
      unit,
      h("button", { class: "primary" }, "Show"),
    ),
    h(
      "div",
      { class: "scroll" },
      h(
        "table",
        { "aria-label": "Journal" },
        h("thead", {}, h("tr", {}, ...["Time", "Level", "Unit", "Message"].map((t) => h("th", {}, t)))),
        rows,
      ),
    ),
    more,
  );
  await load(true);
}

// ---------------------------------------------------------------- snapshots, export, reboot

interface Snapshot {
  name: string;
  dataset: string;
  snapshot: string;
  created: string;
  used: string;
}

function when(v: string | null | undefined): string {
  if (!v) return "";
  const d = /^\d+$/.test(v) ? new Date(Number(v) * 1000) : new Date(v);
  return Number.isNaN(d.getTime()) ? v : d.toLocaleString();
}

async function snapshots(ctx: ViewContext): Promise<void> {
  const r = await ctx.api.get<{ pool: string; snapshots: Snapshot[] }>("/v1/snapshots");
  const create = (button: HTMLButtonElement) =>
    act(ctx, button, async () => {
      const ok = await ctx.confirm({
        title: "Take a snapshot?",
        body: [
          h(
            "p",
            {},
            `A recursive ZFS snapshot of pool ${r.pool}. It costs no space until data changes, and the system can be rolled back to it.`,
          ),
        ],
        ok: "Take snapshot",
      });
      if (!ok) return;
      const s = await ctx.api.post<{ snapshot: string | null }>("/v1/snapshots", {});
      ctx.rerender();
      ctx.notice(`Snapshot ${s.snapshot ?? ""} taken.`, "info");
    });
  const rollback = (snap: Snapshot, button: HTMLButtonElement) =>
    act(ctx, button, async () => {
      const typed = h("input", { type: "text", id: "rollback-confirm", autocomplete: "off", size: 30 });
      const ok = await ctx.confirm({
        title: `Roll back to ${snap.snapshot}?`,
        body: [
          h(
            "p",
            { class: "bad" },
            `Every dataset of pool ${r.pool} goes back to how it was at ${when(snap.created)}. Everything written since is lost, and so are later snapshots.`,
          ),
          h("label", { for: "rollback-confirm" }, `Type ${snap.snapshot} to confirm`),
          typed,
        ],
        ok: "Roll back",
        danger: true,
      });
      if (!ok) return;
      await ctx.api.post(`/v1/snapshots/${encodeURIComponent(snap.snapshot)}/rollback`, {
        confirm: typed.value,
      });
      ctx.rerender();
      ctx.notice(`Rolled back to ${snap.snapshot}.`, "info");
    });
  // One row per recursive snapshot (taken on the pool's top dataset), not one per dataset.
  const top = r.snapshots.filter((x) => x.dataset === r.pool);
  clear(
    ctx.main,
    h("h1", {}, `Snapshots of ${r.pool}`),
    h(
      "div",
      { class: "row" },
      btn("Take a snapshot now…", (e) => void create(e.currentTarget as HTMLButtonElement), "primary"),
    ),
    top.length
      ? table(
          ["Snapshot", "Created", "Used", ""],
          top.map((x) => [
            h("code", {}, x.snapshot),
            when(x.created),
            bytes(x.used),
            btn("Roll back…", (e) => void rollback(x, e.currentTarget as HTMLButtonElement)),
          ]),
          "Snapshots",
        )
      : h("p", {}, "No snapshots."),
  );
}

async function power(ctx: ViewContext): Promise<void> {
  const s = await ctx.api.get<Status>("/v1/status");
  const exportNow = (button: HTMLButtonElement) =>
    act(ctx, button, async () => {
      const ok = await ctx.confirm({
        title: "Unmount and export?",
        body: [
          h(
            "p",
            {},
            `Everything under ${s.root} is unmounted and the pools (${s.pools.imported.join(", ") || "none imported"}) are exported, so that the server can import them cleanly when it boots.`,
          ),
        ],
        ok: "Unmount and export",
      });
      if (!ok) return;
      await ctx.api.post("/v1/export", {});
      ctx.notice("Unmounted and exported. The server can be rebooted into its own system.", "info");
      await ctx.refreshPhase();
    });
  const reboot = (button: HTMLButtonElement) =>
    act(ctx, button, async () => {
      const ok = await ctx.confirm({
        title: "Reboot the machine?",
        body: [
          h("p", {}, "The installed system is unmounted and its pools exported, then the machine restarts."),
          h(
            "p",
            { class: "warn" },
            "This page stops working: if the server boots its own system, Lifeboat is gone. If it boots the rescue medium again, there is a new token on the console.",
          ),
        ],
        ok: "Reboot now",
        danger: true,
      });
      if (!ok) return;
      await ctx.api.post("/v1/reboot", { export: true });
      ctx.notice("Rebooting.", "info");
    });
  clear(
    ctx.main,
    h("h1", {}, "Export and reboot"),
    h(
      "section",
      {},
      h("h2", {}, "Hand the pools back"),
      h("p", {}, "Do this when you are done, before the server boots its own system."),
      btn("Unmount and export…", (e) => void exportNow(e.currentTarget as HTMLButtonElement), "", "export"),
    ),
    h(
      "section",
      {},
      h("h2", {}, "Reboot"),
      btn("Reboot…", (e) => void reboot(e.currentTarget as HTMLButtonElement), "danger", "reboot"),
    ),
  );
}

export const VIEWS: { id: string; title: string; render: (ctx: ViewContext) => Promise<void> }[] = [
  { id: "overview", title: "Overview", render: overview },
  { id: "disks", title: "Disks & pools", render: disks },
  { id: "mount", title: "Mount", render: mount },
  { id: "generations", title: "Generations", render: generations },
  { id: "boot", title: "Boot entries", render: boot },
  { id: "config", title: "Configuration", render: config },
  { id: "rebuild", title: "Rebuild", render: rebuild },
  { id: "journal", title: "Journal", render: journal },
  { id: "snapshots", title: "Snapshots", render: snapshots },
  { id: "power", title: "Export & reboot", render: power },
];
