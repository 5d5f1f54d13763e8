import { RUNS_INSTALLED_CODE } from "../../core/notices.js";
import { clear, h, table } from "../dom.js";
import { act, btn, type Status, type ViewContext } from "./common.js";
import { readWriteNotice } from "./progress.js";

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

export async function rebuild(ctx: ViewContext): Promise<void> {
  const [cfg, jobs, s] = await Promise.all([
    ctx.api
      .get<{ flake: unknown; hosts?: string[] }>("/v1/config")
      .catch(() => ({ flake: null, hosts: [] as string[] })),
    ctx.api.get<{ jobs: JobView[] }>("/v1/jobs").catch(() => ({ jobs: [] as JobView[] })),
    ctx.api.get<Status>("/v1/status"),
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
          h("p", { class: "warn", "data-testid": "runs-installed-code" }, RUNS_INSTALLED_CODE),
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
    readWriteNotice(ctx, s),
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
