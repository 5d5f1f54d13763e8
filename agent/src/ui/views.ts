import { boot } from "./views/boot.js";
import type { ViewContext } from "./views/common.js";
import { config } from "./views/config.js";
import { disks } from "./views/disks.js";
import { generations } from "./views/generations.js";
import { journal } from "./views/journal.js";
import { mount } from "./views/mount.js";
import { overview } from "./views/overview.js";
import { power } from "./views/power.js";
import { rebuild } from "./views/rebuild.js";
import { snapshots } from "./views/snapshots.js";

/** The page's views, one file each under views/. */
export { PHASE_WORDS, type Status, type ViewContext } from "./views/common.js";
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
