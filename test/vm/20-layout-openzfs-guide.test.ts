// Scenario 20 (issue 12): a boot pool for /boot (compatibility=grub2) + a root pool, mirrored ESPs: one system on two pools.
// Built by guest/mklayouts.sh (layout_guide) the way its source does it; the expected system is
// LAYOUT_EXPECTATIONS["openzfs-guide"] in layouts.ts (its source is cited there).
import { autoMountScenario } from "./layout-checks.js";

autoMountScenario("scenario 20", "openzfs-guide");
