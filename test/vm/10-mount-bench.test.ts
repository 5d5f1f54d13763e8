// Benchmark (prints figures, asserts none of them): on the seed's server, the agent's mount next to
// the same zpool/mount commands typed as a shell script, in the same guest, in interleaved rounds
// (A B D, D B A, …, 5 each), every round from the same start state: the pool exported, the server's
// hostid already adopted (by the auto-mount at boot), nothing under /mnt. Sides: A is this agent
// mounting a pool it mounted before (the re-mount after a release: phase 1 by the last listing),
// B the shell, D this agent restarted without auto-mount before each of its rounds (its first
// mount: nothing remembered); C, with LIFEBOAT_VM_BASELINE_AGENT, an earlier agent.
// Both sides are timed by the guest's clock from one node client inside the guest (bench-guest.ts):
// the agent's request over the guest's loopback, the script through bash. Per round:
//   agent: detect = GET /v1/status?refresh=1 (a full detection with the device scan), mount = POST
//          /v1/mount (plan + import + mount), after = the next GET /v1/status (what a reader waits for)
//   shell: detect = `zpool import` (the operator's look), mount = the import and the five mounts.
// The timed agents log at the ISO's level (info: SHIPPED_LOG_LEVEL), as an operator's does; one more
// untimed round of A and of D at debug gives the command count per step and each request's timeline
// (the agent's own `command` and `mount step` lines; their durations carry the debug log's cost).
// Written to bench/results-vm.json (top level).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type AgentSide,
  agentLogLines,
  agentSwitcher,
  BASELINE_AGENT,
  BASELINE_COLD,
  bootTimeline,
  COLD_SETTLE_MS,
  type CommandKind,
  commandsBetween,
  countByKind,
  fmt,
  hostLoad,
  interleaved,
  requestTimeline,
  SHIPPED_LOG_LEVEL,
  type StepTime,
  showTimeline,
  spread,
  type TimelineEntry,
  timeInGuest,
  writeVmResults,
} from "./bench-guest.js";
import { mounts, pools } from "./guest-state.js";
import { boot, ensureDiskSet, log, recordTiming, type Vm } from "./lab.js";
import { expectOk, finish, waitForAutoMount } from "./scenario.js";

const ROUNDS = Number(process.env.LIFEBOAT_VM_BENCH_ROUNDS ?? 5);

const SCRIPT = [
  "zpool import -N -R /mnt -o readonly=on nvmepool",
  "mount -t zfs -o ro nvmepool/root /mnt",
  "mount -t zfs -o ro nvmepool/nix /mnt/nix",
  "mount -t zfs -o ro nvmepool/home /mnt/home",
  "mount -t zfs -o ro nvmepool/var /mnt/var",
  "mount -t vfat -o ro,fmask=0022,dmask=0022 /dev/nvme0n1p1 /mnt/boot",
].join(" && ");

type Side = "A" | "B" | "C" | "D";

interface Round {
  side: Side;
  load: number;
  detect: number;
  mount: number;
  after?: number;
}

describe("bench: agent mount vs the same commands as a shell script (interleaved rounds, guest clock)", () => {
  let vm: Vm;
  let bootMarks: Awaited<ReturnType<typeof bootTimeline>> | null = null;
  beforeAll(async () => {
    vm = await boot({ name: "s10-bench", diskSet: await ensureDiskSet("single") });
    await waitForAutoMount(vm, "s10");
    bootMarks = await bootTimeline(vm);
  });
  afterAll(() => finish(vm));

  /** Back to the start state: the side that mounted releases (the agent through its API), all exported. */
  async function reset(last: Side | null): Promise<void> {
    if ((await mounts(vm, "/mnt")).length > 0) {
      if (last === "B") await vm.sh("umount -R /mnt && zpool export nvmepool");
      else expectOk(await vm.api("POST", "/v1/unmount", { export: true }));
    }
    expect(await pools(vm)).toEqual({});
    expect(await mounts(vm, "/mnt")).toEqual([]);
  }

  /** What every side must leave: the server's five file systems under /mnt, each read-only. */
  async function expectMounted(): Promise<void> {
    const ms = await mounts(vm, "/mnt");
    expect(ms.map((m) => m.target).sort()).toEqual([
      "/mnt",
      "/mnt/boot",
      "/mnt/home",
      "/mnt/nix",
      "/mnt/var",
    ]);
    for (const m of ms) expect(m.options, m.target).toContain("ro");
  }

  it(`measures ${ROUNDS} rounds each`, async () => {
    const rounds: Round[] = [];
    let last: Side | null = null;
    // which agent runs: the one started at boot (its log at debug), then the side restarted into:
    // this one (A), the baseline (C), a fresh start of this one (D)
    let running = "boot" as "boot" | AgentSide;
    const restart = await agentSwitcher(vm, { level: SHIPPED_LOG_LEVEL });
    /** Restart the agent as `side` (as systemd restarts lifeboat.service); a cold side is left to settle. */
    async function startAs(side: AgentSide, cold: boolean, trace = false): Promise<void> {
      const restartedAt = await vm.uptime();
      await vm.sh(restart(side, trace));
      await vm.waitForApi(120_000);
      // a warm side's auto-mount runs, then it is released again
      if (!cold) {
        await waitForAutoMount(vm, `s10 restart ${side}`, restartedAt);
        await reset(side);
      } else await vm.sh(`sleep ${COLD_SETTLE_MS / 1000}`);
      running = side;
    }
    const agentSteps = [
      { name: "detect", http: { method: "GET", path: "/v1/status?refresh=1" } },
      { name: "mount", http: { method: "POST", path: "/v1/mount", body: { readonly: true } } },
      { name: "after", http: { method: "GET", path: "/v1/status" } },
    ];
    const sides: Side[] = BASELINE_AGENT ? ["A", "B", "D", "C"] : ["A", "B", "D"];
    for (const side of interleaved(sides, ROUNDS)) {
      await reset(last);
      // D is measured on its first mount: a restart before every D round
      const cold = side === "D" || (side === "C" && BASELINE_COLD);
      if (side !== "B" && (side !== running || cold)) await startAs(side, cold);
      last = side;
      const load = await hostLoad();
      const t =
        side !== "B"
          ? await timeInGuest(vm, agentSteps)
          : await timeInGuest(vm, [
              { name: "detect", sh: "zpool import" },
              { name: "mount", sh: SCRIPT },
            ]);
      const [detect, mount, after] = t as [StepTime, StepTime, StepTime | undefined];
      rounds.push({ side, load, detect: detect.ms, mount: mount.ms, after: after?.ms });
      await expectMounted();
      log(
        `s10 round ${rounds.length} ${side}: detect ${detect.ms.toFixed(0)} ms, mount ${mount.ms.toFixed(0)} ms${after ? `, after ${after.ms.toFixed(0)} ms` : ""} (host load ${load})`,
      );
    }
    // Where the time goes: one more round of A and of D, untimed, their log at debug (the agent's
    // command lines and its own steps): what each request ran, when, and how long.
    const timelines: Partial<Record<"A" | "D", TimelineEntry[]>> = {};
    let commands: Record<CommandKind | "after", number> | undefined;
    let mountCommands: string[][] | undefined;
    for (const side of ["A", "D"] as const) {
      await reset(last);
      await startAs(side, side === "D", true);
      last = side;
      const [detect, mount, after] = (await timeInGuest(vm, agentSteps)) as [StepTime, StepTime, StepTime];
      await expectMounted();
      const lines = await agentLogLines(vm);
      timelines[side] = requestTimeline(lines, mount.start, mount.end);
      if (side !== "A") continue;
      // what the detect step ran is detection; inside the mount request, by kind
      const inMount = commandsBetween(lines, mount.start, mount.end);
      mountCommands = inMount;
      commands = {
        ...countByKind([...commandsBetween(lines, detect.start, detect.end), ...inMount]),
        after: commandsBetween(lines, after.start, after.end).length,
      };
      commands.detect = commandsBetween(lines, detect.start, detect.end).length + countByKind(inMount).detect;
    }
    await reset(last);

    const A = rounds.filter((r) => r.side === "A");
    const B = rounds.filter((r) => r.side === "B");
    const C = rounds.filter((r) => r.side === "C");
    const D = rounds.filter((r) => r.side === "D");
    const baseline =
      C.length > 0
        ? {
            detect: spread(C.map((r) => r.detect)),
            mount: spread(C.map((r) => r.mount)),
            after: spread(C.map((r) => r.after ?? 0)),
            total: spread(C.map((r) => r.detect + r.mount)),
          }
        : null;
    const loads = rounds.map((r) => r.load);
    const agent = {
      detect: spread(A.map((r) => r.detect)),
      mount: spread(A.map((r) => r.mount)),
      after: spread(A.map((r) => r.after ?? 0)),
    };
    const shell = { detect: spread(B.map((r) => r.detect)), mount: spread(B.map((r) => r.mount)) };
    const agentTotal = spread(A.map((r) => r.detect + r.mount));
    const shellTotal = spread(B.map((r) => r.detect + r.mount));
    const ratio = Number((agent.mount.median / shell.mount.median).toFixed(2));
    const ratioWithDetect = Number((agentTotal.median / shellTotal.median).toFixed(2));
    const first = {
      detect: spread(D.map((r) => r.detect)),
      mount: spread(D.map((r) => r.mount)),
      after: spread(D.map((r) => r.after ?? 0)),
      total: spread(D.map((r) => r.detect + r.mount)),
    };
    const firstRatio = Number((first.mount.median / shell.mount.median).toFixed(2));
    const firstRatioWithDetect = Number((first.total.median / shellTotal.median).toFixed(2));
    const baselineRatio = baseline ? Number((baseline.mount.median / shell.mount.median).toFixed(2)) : null;
    const baselineRatioWithDetect = baseline
      ? Number((baseline.total.median / shellTotal.median).toFixed(2))
      : null;
    recordTiming("s10: shell import+mount (guest clock, median)", shell.mount.median);
    recordTiming("s10: agent POST /v1/mount (guest clock, median)", agent.mount.median);
    const report = [
      `VM mount bench, ${ROUNDS} rounds each (${sides.join(" ")}, then reversed), guest clock, TCG, the agent's log at ${SHIPPED_LOG_LEVEL}:`,
      `  agent  detect ${fmt(agent.detect)}  mount ${fmt(agent.mount)}  after ${fmt(agent.after)}`,
      `  shell  detect ${fmt(shell.detect)}  mount ${fmt(shell.mount)}`,
      `  first mount after a start: detect ${fmt(first.detect)}  mount ${fmt(first.mount)}  after ${fmt(first.after)}  (mount ${firstRatio}×, detect + mount ${firstRatioWithDetect}×)`,
      ...(baseline
        ? [
            `  baseline${BASELINE_COLD ? " (its first mount after a start)" : ""} detect ${fmt(baseline.detect)}  mount ${fmt(baseline.mount)}  after ${fmt(baseline.after)}  (mount ${baselineRatio}×, detect + mount ${baselineRatioWithDetect}×)`,
          ]
        : []),
      `  mount ${ratio}×   detect + mount ${ratioWithDetect}×   (target ≤ 1.0×); host load ${Math.min(...loads)}–${Math.max(...loads)}`,
      `  the mount request, ms in: ${showTimeline(timelines.A)}`,
      `  the first mount after a start, ms in: ${showTimeline(timelines.D)}`,
      `  boot (guest uptime, s): ${(bootMarks?.marks ?? []).map((m) => `${m.s} ${m.what}`).join(" | ")}; before the guest's clock (QEMU, firmware, kernel load) ${bootMarks?.preKernelS} s`,
      `  agent commands per step (the round at debug): ${JSON.stringify(commands)}`,
      `  the mount request ran: ${(mountCommands ?? []).map((c) => c.slice(0, 3).join(" ")).join(" | ")}`,
    ].join("\n");
    process.stdout.write(`\n${report}\n`);
    await writeVmResults({
      at: new Date().toISOString(),
      clock: "guest (node client in the guest: HTTP over loopback / bash)",
      rounds: ROUNDS,
      // the timed agents' log level (the ISO's); the timelines and command counts come from a round at debug
      logLevel: SHIPPED_LOG_LEVEL,
      timelineLogLevel: "debug",
      agentMountMs: agent.mount.median,
      shellMountMs: shell.mount.median,
      ratio,
      ratioWithDetect,
      agent,
      shell,
      agentTotal,
      shellTotal,
      // this agent's first mount after its start (nothing remembered from an earlier mount)
      first,
      firstRatio,
      firstRatioWithDetect,
      // without a baseline side, an earlier run's baseline figures are dropped (undefined: not written)
      baseline: baseline ?? undefined,
      baselineCold: baseline ? BASELINE_COLD : undefined,
      baselineRatio: baseline ? baselineRatio : undefined,
      baselineRatioWithDetect: baseline ? baselineRatioWithDetect : undefined,
      hostLoad: { min: Math.min(...loads), max: Math.max(...loads) },
      commands,
      mountCommands: mountCommands?.map((c) => c.join(" ")),
      mountTimeline: timelines.A,
      firstMountTimeline: timelines.D,
      boot: bootMarks,
    });
    // Rounds slow down with the host's load (and a baseline side restarts the agent): 2 h at most.
  }, 7_200_000);
});
