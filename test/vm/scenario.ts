// Small helpers shared by the scenario files: waiting on the agent's status, problem+json checks,
// and the per-file lifecycle (boot in beforeAll, logs kept, QEMU always reaped in afterAll).
import { expect } from "vitest";
import { describe as describeGuest } from "./guest-state.js";
import { type ApiResponse, log, recordTiming, timingReport, type Vm } from "./lab.js";

export type Phase = "nothing-found" | "found" | "mounted-ro" | "mounted-rw";

/** Poll GET /v1/status until `accept` is true (and the agent is not busy); returns the status body. */
export async function waitForStatus(
  vm: Vm,
  what: string,
  accept: (s: any) => boolean,
  timeoutMs = 600_000,
): Promise<any> {
  let last: any;
  try {
    return await vm.waitFor(
      what,
      async () => {
        const r = await vm.api("GET", "/v1/status", undefined, { timeoutMs: 30_000 });
        last = r.body;
        return r.status === 200 && !r.body?.busy && accept(r.body) ? r.body : undefined;
      },
      timeoutMs,
      1000,
    );
  } catch (e) {
    throw new Error(`${String(e)}\nlast status: ${JSON.stringify(last, null, 2)}\n${await vm.agentLog()}`);
  }
}

export async function waitForPhase(vm: Vm, phases: Phase[], timeoutMs?: number): Promise<any> {
  return waitForStatus(vm, `phase ${phases.join("|")}`, (s) => phases.includes(s?.phase), timeoutMs);
}

/**
 * The boot-time auto-mount is over: the agent is idle and either mounted something or gave up.
 * Records "agent start -> settled" by the guest's clock.
 */
export async function waitForAutoMount(vm: Vm, label: string): Promise<any> {
  const s = await waitForStatus(
    vm,
    "auto-mount settled",
    (st) => st?.phase?.startsWith("mounted") || st?.autoMount?.done === true || autoMountGaveUp(st),
  );
  const since = await vm.secondsSinceAgentStart();
  if (since !== undefined)
    recordTiming(`${label}: agent start -> ${s.phase} (guest clock, upper bound)`, since * 1000);
  return s;
}

function autoMountGaveUp(st: any): boolean {
  // until the agent says so explicitly: "found"/"nothing-found" with a warning or an error recorded
  if (!st || st.phase?.startsWith("mounted")) return false;
  if (st.phase === "nothing-found") return true;
  return Array.isArray(st.warnings) && st.warnings.length > 0;
}

/** An RFC 9457 problem response with the given status class and code */
export function expectProblem(r: ApiResponse, status: number | "4xx", code?: string): void {
  const ctx = `${r.status} ${r.text}`;
  if (status === "4xx") expect(r.status >= 400 && r.status < 500, ctx).toBe(true);
  else expect(r.status, ctx).toBe(status);
  expect(r.contentType, ctx).toMatch(/application\/problem\+json/);
  expect(typeof r.body?.title, ctx).toBe("string");
  expect(r.body?.status, ctx).toBe(r.status);
  if (code) expect(r.body?.code, ctx).toBe(code);
}

export function expectOk(r: ApiResponse): void {
  expect(r.status, `${r.status} ${r.text}`).toBeLessThan(300);
}

/** For assertion messages: the guest's pools/mounts/hostid right now */
export async function guestSnapshot(vm: Vm): Promise<string> {
  return describeGuest(vm).catch((e) => `(guest state unavailable: ${String(e)})`);
}

/** afterAll body: keep the logs, power off (or kill), print where things are and the timings */
export async function finish(...vms: (Vm | undefined)[]): Promise<void> {
  for (const vm of vms) {
    if (!vm) continue;
    await vm.shutdown().catch(() => vm.kill());
    log(`${vm.opts.name}: logs in ${vm.workDir}`);
  }
  const report = timingReport();
  if (report) process.stdout.write(`\nVM timings:\n${report}\n`);
}
