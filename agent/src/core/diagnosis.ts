/**
 * The diagnosis planner: boots ↔ generations, what changed between the last good generation and
 * the first bad one, which failure class explains it (core/diagnosis/classes/), and which API
 * requests would fix it. Pure: fed facts, returns data. The modules live under core/diagnosis/.
 */
export { diagnose } from "./diagnosis/diagnose.js";
export * from "./diagnosis/types.js";
export { ranges } from "./diagnosis/words.js";
