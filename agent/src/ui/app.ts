import { Api, ApiError } from "./api.js";
import { type Child, clear, h } from "./dom.js";
import { PHASE_WORDS, type Status, VIEWS, type ViewContext } from "./views.js";

const KEY = "lifeboat.token";
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/** The token from the QR code's `#token=…` fragment, or the one this tab already has. */
function takeToken(): string | null {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m?.[1]) {
    sessionStorage.setItem(KEY, decodeURIComponent(m[1]));
    // Out of the address bar and the history at once.
    history.replaceState(null, "", `${location.pathname}${location.search}#/overview`);
  }
  return sessionStorage.getItem(KEY);
}

function notice(text: string | null, kind: "error" | "info" = "error"): void {
  const el = $("notice");
  el.className = kind === "info" ? "info" : "";
  clear(el, text ?? "");
}

function showError(err: unknown): void {
  if (err instanceof ApiError) {
    const title = typeof err.problem.title === "string" ? `${err.problem.title}: ` : "";
    notice(`${title}${err.message}`);
  } else notice(String((err as Error)?.message ?? err));
}

/** A modal that says what will happen; resolves true only on the explicit confirm button. */
function confirmAction(opts: {
  title: string;
  body: Child[];
  ok: string;
  danger?: boolean;
}): Promise<boolean> {
  const dlg = $<HTMLDialogElement>("confirm");
  clear($("confirm-title"), opts.title);
  clear($("confirm-body"), ...opts.body);
  const ok = $<HTMLButtonElement>("confirm-ok");
  ok.textContent = opts.ok;
  ok.className = opts.danger ? "danger" : "primary";
  dlg.returnValue = "";
  dlg.showModal();
  $<HTMLButtonElement>("confirm-cancel").focus();
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok"), { once: true });
  });
}

function tokenForm(reason: string | null): void {
  $("nav").hidden = true;
  clear($("phase"));
  const input = h("input", {
    type: "password",
    id: "token",
    autocomplete: "off",
    spellcheck: "false",
    size: 48,
    required: true,
  });
  const form = h(
    "form",
    {
      onsubmit: (e: Event) => {
        e.preventDefault();
        const t = input.value.trim();
        if (!t) return;
        sessionStorage.setItem(KEY, t);
        start();
      },
    },
    h("h1", {}, "Connect to the rescue agent"),
    h(
      "p",
      {},
      "Enter the access token shown on the server's console (or scan the QR code there). It stays in this browser tab only.",
    ),
    h(
      "div",
      { class: "row" },
      h("label", { for: "token" }, "Access token"),
      input,
      h("button", { class: "primary" }, "Connect"),
    ),
  );
  clear($("main"), h("section", {}, form));
  if (reason) notice(reason);
  input.focus();
}

let api: Api;
let pollTimer: number | undefined;
let current: AbortController | null = null;
/** A message meant for the next view (e.g. "Mounted.") survives one navigation. */
let keepNotice = false;

function setPhase(s: Status): void {
  const w = PHASE_WORDS[s.phase] ?? [s.phase, ""];
  const el = $("phase");
  el.className = `badge ${w[1]}`;
  el.textContent = w[0];
  el.title = s.summary;
}

async function refreshPhase(): Promise<Status | null> {
  try {
    const s = await api.get<Status>("/v1/status");
    setPhase(s);
    return s;
  } catch {
    return null;
  }
}

function renderNav(active: string): void {
  const nav = $("nav");
  nav.hidden = false;
  clear(
    nav,
    ...VIEWS.map((v) =>
      h(
        "a",
        { href: `#/${v.id}`, id: `nav-${v.id}`, "aria-current": v.id === active ? "page" : false },
        v.title,
      ),
    ),
  );
}

async function route(): Promise<void> {
  const id = /^#\/([a-z-]+)/.exec(location.hash)?.[1] ?? "overview";
  const view = VIEWS.find((v) => v.id === id) ?? VIEWS[0];
  if (!view) return;
  current?.abort();
  current = new AbortController();
  renderNav(view.id);
  if (!keepNotice) notice(null);
  keepNotice = false;
  // Each render gets its own container: a view still finishing after the operator moved on (its
  // requests answered late) writes into its own detached container, never over the next view.
  const main = h("div", { class: "view" });
  clear($("main"), main);
  clear(main, h("p", { class: "muted" }, "Loading…"));
  document.title = `${view.title} · Lifeboat`;
  const ctx: ViewContext = {
    api,
    main,
    signal: current.signal,
    confirm: confirmAction,
    notice,
    error: showError,
    refreshPhase,
    go: (v: string) => {
      keepNotice = true;
      location.hash = `#/${v}`;
    },
    rerender: () => void route(),
  };
  try {
    await view.render(ctx);
  } catch (err) {
    if (ctx.signal.aborted) return;
    clear(main, h("h1", {}, view.title));
    showError(err);
  }
  void refreshPhase();
}

function start(): void {
  const token = takeToken();
  if (!token) {
    tokenForm(null);
    return;
  }
  api = new Api(token, () => {
    sessionStorage.removeItem(KEY);
    window.clearInterval(pollTimer);
    tokenForm(
      "The token was not accepted (the agent makes a new one at each boot). Enter the one on the console.",
    );
  });
  notice(null);
  if (!/^#\/[a-z-]+/.test(location.hash)) history.replaceState(null, "", "#/overview");
  void route();
  window.clearInterval(pollTimer);
  pollTimer = window.setInterval(() => {
    if (document.visibilityState === "visible") void refreshPhase();
  }, 10_000);
}

window.addEventListener("hashchange", () => {
  if (/(?:^#|&)token=/.test(location.hash)) start();
  else if (api) void route();
});
start();
