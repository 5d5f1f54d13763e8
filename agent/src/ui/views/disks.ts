import { bytes, clear, h } from "../dom.js";
import type { ViewContext } from "./common.js";

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
export interface Importable {
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
export interface Imported {
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

export async function disks(ctx: ViewContext): Promise<void> {
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
