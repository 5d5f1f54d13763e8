// Scenario 22 (issue 12): own mix: a tmpfs root over a boot pool + root pool, /home mounted by ZFS itself.
// Built by guest/mklayouts.sh (layout_tmpfsbpool) the way its source does it; the expected system is
// LAYOUT_EXPECTATIONS["tmpfs-bpool"] in layouts.ts (its source is cited there).
import { autoMountScenario } from "./layout-checks.js";

autoMountScenario("scenario 22", "tmpfs-bpool");
