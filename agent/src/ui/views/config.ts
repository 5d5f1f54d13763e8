import { ApiError, encodePath } from "../api.js";
import { hunks, lineDiff } from "../diff.js";
import { bytes, clear, h } from "../dom.js";
import { act, btn, type Status, type ViewContext } from "./common.js";
import { readWriteNotice } from "./progress.js";

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

export async function config(ctx: ViewContext): Promise<void> {
  const [tree, s] = await Promise.all([
    ctx.api.get<{
      files: { path: string; size: number }[];
      flake: unknown;
      hosts?: string[];
    }>("/v1/config"),
    ctx.api.get<Status>("/v1/status"),
  ]);
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
          const r = await ctx.api.request<{ result?: { etag?: string }; unchanged?: boolean }>(
            "PUT",
            `/v1/config/${encodePath(path)}`,
            { content: area.value },
            { "if-match": etag },
          );
          etag = r.res.headers.get("etag") ?? r.data?.result?.etag ?? etag;
          base = area.value;
          ctx.notice(
            r.data?.unchanged
              ? `${path} is unchanged: nothing written, no snapshot taken.`
              : `${path} saved.`,
            "info",
          );
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
    readWriteNotice(ctx, s),
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
