// Scenario 21 (issue 12): / is a tmpfs; the disk holds /nix and /persistent (btrfs subvolumes).
// Built by guest/mklayouts.sh (layout_impermanence) the way its source does it; the expected system is
// LAYOUT_EXPECTATIONS["impermanence"] in layouts.ts (its source is cited there).
import { autoMountScenario } from "./layout-checks.js";

autoMountScenario("scenario 21", "impermanence");
