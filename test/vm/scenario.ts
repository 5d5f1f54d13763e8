// Small helpers shared by the scenario files: waiting on the agent's status, problem+json checks,
// and the per-file lifecycle (boot in beforeAll, logs kept, QEMU always reaped in afterAll).
import { expect } from "vitest";
import { describe as describeGuest } from "./guest-state.js";
import { type ApiResponse, log, recordTiming, timingReport, type Vm } from "./lab.js";

export type Phase = "nothing-found" | "found" | "imported" | "locked" | "mounted-ro" | "mounted-rw";

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
 * The boot-time auto-mount is over: status.autoMount.state left pending/running and the agent is idle.
 * Records "agent start -> settled" by the guest's clock (an upper bound: it includes one poll interval).
 * `startedAt`: the guest's uptime when a test restarted the agent (init's mark is the boot's start).
 */
export async function waitForAutoMount(vm: Vm, label: string, startedAt?: number): Promise<any> {
  const s = await waitForStatus(vm, "auto-mount settled", (st) =>
    ["mounted", "waiting", "failed", "off"].includes(st?.autoMount?.state),
  );
  const since = startedAt === undefined ? await vm.secondsSinceAgentStart() : (await vm.uptime()) - startedAt;
  if (since !== undefined)
    recordTiming(`${label}: agent start -> auto-mount ${s.autoMount.state} (${s.phase})`, since * 1000);
  return s;
}

/**
 * Call the API, retrying while it answers 409 `busy` (e.g. the boot-time auto-mount is still looking
 * again for disks that may appear late: its state reads "waiting" between attempts).
 */
export async function apiWhenIdle(
  vm: Vm,
  method: string,
  p: string,
  body?: unknown,
  timeoutMs = 180_000,
): Promise<ApiResponse> {
  return vm.waitFor(
    `${method} ${p} without 409 busy`,
    async () => {
      const r = await vm.api(method, p, body);
      return r.body?.code === "busy" ? undefined : r;
    },
    timeoutMs,
    2000,
  );
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
