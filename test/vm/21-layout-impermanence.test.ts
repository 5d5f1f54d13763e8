// Scenario 21 (issue 12): / is a tmpfs; the disk holds /nix and /persistent (btrfs subvolumes); the
// persisted directories are bind mounts of impermanence's .mount units (not in the fstab): the exact
// table, binds included (read-only, nodev, nosuid, after /persistent), is asserted.
// Built by guest/mklayouts.sh (layout_impermanence) the way its source does it; the expected system is
// LAYOUT_EXPECTATIONS["impermanence"] in layouts.ts (its source is cited there).
import { autoMountScenario } from "./layout-checks.js";

autoMountScenario("scenario 21", "impermanence");
