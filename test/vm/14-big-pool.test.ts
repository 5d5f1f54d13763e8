// Issue 13: a pool with ~2,000 datasets and ~20,000 snapshots (guest/mkbig.sh: the OpenZFS guide's
// rpool, 1,600 per-user homes and 400 container roots mounted by ZFS, 10 recursive snapshots).
// Benchmark (prints figures, asserts none of them) and correctness (asserted):
//   agent: the boot-time auto-mount, from the agent's "listening" log line to its "mounted" line
//          (pino stamps both with the guest's clock); a round restarts the agent (as systemd would
//          restart lifeboat.service) after releasing everything through its API.
//   by hand: what an operator types for this layout, after the same export:
//          zpool import -N -R /mnt -o readonly=on rpool && zfs mount -a && mount the ESP at /mnt/boot
//          (timed by the guest's clock, through bash).
// Rounds interleaved A B B A …, every round from the same state: rpool exported, the server's hostid
// adopted (by the first auto-mount, reported on its own), nothing under /mnt.
// Asserted: every dataset that ZFS would mount is mounted at its place under /mnt, read-only; the ESP
// too; nothing the agent ran listed snapshots (no `-t snapshot`/`-t all`, no type-less `zfs list`).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  abba,
  abcOrder,
  agentLogLines,
  agentSwitcher,
  BASELINE_AGENT,
  commandsBetween,
  hostLoad,
  type LogLine,
  type Spread,
  spread,
  timeInGuest,
  writeVmResults,
} from "./bench-guest.js";
import { mounts, pools } from "./guest-state.js";
import { BIG_POOL, boot, ensureBigPool, log, recordTiming, type Vm } from "./lab.js";
import { finish, waitForAutoMount } from "./scenario.js";

const ROUNDS = Number(process.env.LIFEBOAT_VM_BIG_ROUNDS ?? 5);
const BY_HAND =
  "zpool import -N -R /mnt -o readonly=on rpool && zfs mount -a && " +
  "mount -t vfat -o ro,fmask=0022,dmask=0022 /dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_LBVM0000-part1 /mnt/boot";

/** The agent's auto-mount after its latest start: ms from "listening" to "mounted", and what it ran. */
function lastAutoMount(lines: LogLine[]): { ms: number; commands: string[][] } | undefined {
  const start = lines.findLastIndex((l) => l.msg === "listening");
  if (start < 0) return undefined;
  const mounted = lines.slice(start).find((l) => l.msg === "mounted");
  const t0 = lines[start]?.time as number;
  if (!mounted) return undefined;
  return { ms: mounted.time - t0, commands: commandsBetween(lines, t0, mounted.time) };
}

/** The last auto-mount's commands: when each started (ms after "listening") and how long it ran. */
function autoMountTimeline(lines: LogLine[]): { cmd: string; ms: number; atMs: number }[] {
  const start = lines.findLastIndex((l) => l.msg === "listening");
  const t0 = lines[start]?.time ?? 0;
  const end = lines.slice(start).find((l) => l.msg === "mounted")?.time ?? Number.POSITIVE_INFINITY;
  return lines
    .slice(start)
    .filter((l) => l.msg === "command" && l.time <= end)
    .map((l) => {
      const ms = Number(l.ms ?? 0);
      // pino stamps a command's line when it ended
      return { cmd: (l.cmd ?? []).slice(0, 3).join(" "), ms, atMs: Math.round(l.time - ms - t0) };
    });
}

/** A command that would list snapshots: `-t` naming snapshot/all, or a `zfs list`/`zfs get` without `-t`. */
/**
 * A listing of the pool's snapshots by the thousand: any `zfs list`/`get` of snapshots but one of a
 * single dataset's own (`-d 1 <dataset>`: the background diagnosis reads the pool's own recursive
 * snapshots' names, ten here).
 */
function listsSnapshots(cmd: readonly string[]): boolean {
  if (cmd[0] !== "zfs" || (cmd[1] !== "list" && cmd[1] !== "get")) return false;
  const t = cmd.indexOf("-t");
  if (t >= 0 && !/snapshot|all/.test(cmd[t + 1] ?? "")) return false;
  const d = cmd.indexOf("-d");
  return !(d >= 0 && cmd[d + 1] === "1" && !cmd.includes("-r"));
}

// Opt-in (LIFEBOAT_VM_BIG=1): making the pool costs ~34 min under TCG on the 2-core host and each
// round 4-5 min, which a cold CI run (90 min) cannot hold next to the rest of the suite.
const BIG = process.env.LIFEBOAT_VM_BIG === "1";
if (!BIG)
  console.warn(
    "scenario 14 (big pool) SKIPPED: opt-in, LIFEBOAT_VM_BIG=1 (~34 min to make the pool, 4-5 min per round)",
  );

describe.skipIf(!BIG)(
  "issue 13: a pool with ~2,000 datasets and ~20,000 snapshots (auto-mount vs by hand)",
  () => {
    let vm: Vm;
    let expected: string[] = [];
    beforeAll(async () => {
      const big = await ensureBigPool();
      vm = await boot({ name: "s14-big", diskSet: big, memMb: 3072 });
    }, 3_600_000);
    afterAll(() => finish(vm));

    async function checkMounted(label: string): Promise<void> {
      const ms = await mounts(vm, "/mnt");
      const targets = ms.map((m) => m.target).sort();
      expect(targets.length, label).toBe(expected.length);
      expect(targets, label).toEqual(expected);
      const rw = ms.filter((m) => !m.options.includes("ro"));
      expect(
        rw.map((m) => m.target),
        `${label}: read-write mounts`,
      ).toEqual([]);
    }

    /**
     * Back to the start state, by the side that mounted: the agent through its API (it cancels its
     * background diagnosis first, whose jailed readers have the pool's datasets bound into their own
     * mount namespaces: an unmount by hand beside them finds the pool busy), the hand by hand.
     */
    async function release(by: "agent" | "hand"): Promise<void> {
      if (by === "agent") {
        const r = await vm.api("POST", "/v1/unmount", { export: true }, { timeoutMs: 600_000 });
        expect(r.status, JSON.stringify(r.body)).toBe(200);
      } else await vm.sh("umount -R /mnt && zpool export rpool", { timeoutMs: 280_000 });
      expect(await pools(vm)).toEqual({});
      expect(await mounts(vm, "/mnt")).toEqual([]);
    }

    /** Restart the agent, this one (A) or the baseline (C): its auto-mount runs again. Returns the guest's uptime before it. */
    async function restartAgent(side: "A" | "C"): Promise<number> {
      const restart = await agentSwitcher(vm);
      const at = await vm.uptime();
      await vm.sh(restart(side));
      await vm.waitForApi(120_000);
      return at;
    }

    it("auto-mounts everything read-only without listing snapshots; rounds against the by-hand commands", async () => {
      const first = await waitForAutoMount(vm, "s14");
      expect(first.autoMount.state, JSON.stringify(first.autoMount)).toBe("mounted");
      // What ZFS itself would mount (canmount=on, a path mountpoint), under the altroot, plus the ESP.
      const ds = (
        await vm.sh("zfs list -H -r -t filesystem -o canmount,mountpoint rpool", { timeoutMs: 600_000 })
      )
        .split("\n")
        .filter(Boolean)
        .map((l) => l.split("\t"))
        .filter(([canmount, mp]) => canmount === "on" && mp?.startsWith("/"))
        .map(([, mp]) => (mp === "/mnt" ? "/mnt" : (mp as string)));
      expected = [...ds, "/mnt/boot"].sort();
      expect(expected.length).toBeGreaterThan(BIG_POOL.users + BIG_POOL.containers);
      await checkMounted("first auto-mount");
      const lines = await agentLogLines(vm);
      const firstRun = lastAutoMount(lines);
      expect(firstRun).toBeDefined();
      const everything = lines.filter((l) => l.msg === "command").map((l) => l.cmd ?? []);
      expect(everything.filter(listsSnapshots).map((c) => c.join(" "))).toEqual([]);
      recordTiming(
        "s14: first auto-mount, hostid adopted (listening -> mounted, guest clock)",
        firstRun?.ms ?? 0,
      );

      const agentMs: number[] = [];
      const handMs: number[] = [];
      const baselineMs: number[] = [];
      const loads: number[] = [];
      let commands: string[][] = [];
      let timeline: { cmd: string; ms: number; atMs: number }[] = [];
      let mountedBy: "agent" | "hand" = "agent";
      for (const side of BASELINE_AGENT ? abcOrder(ROUNDS) : abba(ROUNDS)) {
        await release(mountedBy);
        mountedBy = side === "B" ? "hand" : "agent";
        loads.push(await hostLoad());
        if (side === "A" || side === "C") {
          const restartedAt = await restartAgent(side);
          const s = await waitForAutoMount(vm, "s14 round", restartedAt);
          expect(s.autoMount.state, JSON.stringify(s.autoMount)).toBe("mounted");
          const lines = await agentLogLines(vm);
          const run = lastAutoMount(lines);
          expect(run).toBeDefined();
          (side === "A" ? agentMs : baselineMs).push(run?.ms ?? 0);
          expect((run?.commands ?? []).filter(listsSnapshots).map((c) => c.join(" "))).toEqual([]);
          if (side === "A") {
            commands = run?.commands ?? [];
            timeline = autoMountTimeline(lines);
          }
        } else {
          const [t] = await timeInGuest(vm, [{ name: "by hand", sh: BY_HAND }]);
          handMs.push(t?.ms ?? 0);
        }
        await checkMounted(`round ${agentMs.length + handMs.length} (${side})`);
        const n = agentMs.length + handMs.length + baselineMs.length;
        const last = (side === "A" ? agentMs : side === "B" ? handMs : baselineMs).at(-1);
        log(`s14 round ${n} ${side}: ${last?.toFixed(0)} ms (host load ${loads.at(-1)})`);
      }
      const agent = spread(agentMs);
      const hand = spread(handMs);
      const ratio = Number((agent.median / hand.median).toFixed(2));
      const baseline: Spread | null = baselineMs.length > 0 ? spread(baselineMs) : null;
      const byKind: Record<string, number> = {};
      for (const c of commands) {
        const k = c[0] === "mount" || c[0] === "umount" ? c[0] : c.slice(0, 2).join(" ");
        byKind[k] = (byKind[k] ?? 0) + 1;
      }
      recordTiming("s14: agent auto-mount (median)", agent.median);
      recordTiming("s14: by hand (median)", hand.median);
      process.stdout.write(
        `\nbig pool (${expected.length - 1} datasets mounted + ESP, ~${BIG_POOL.snapshots} snapshots each), ${ROUNDS} rounds each (ABBA), guest clock:\n` +
          `  agent listening → mounted ${agent.median} ms (${agent.min}–${agent.max})\n` +
          `  by hand                   ${hand.median} ms (${hand.min}–${hand.max})\n` +
          (baseline
            ? `  baseline agent            ${baseline.median} ms (${baseline.min}–${baseline.max}), ${(baseline.median / hand.median).toFixed(2)}×\n`
            : "") +
          `  ratio ${ratio}× (target ≤ 1.0×); first auto-mount (hostid adopted) ${firstRun?.ms} ms; host load ${Math.min(...loads)}–${Math.max(...loads)}\n` +
          `  agent commands (last round): ${commands.length} ${JSON.stringify(byKind)}\n` +
          `  where the time goes (last A round, ms after "listening"): ${timeline.map((t) => `${t.atMs} ${t.cmd} ${t.ms}`).join(" | ")}\n`,
      );
      await writeVmResults({
        bigPool: {
          at: new Date().toISOString(),
          clock: "guest (agent: its log's listening → mounted; by hand: bash through a node client)",
          rounds: ROUNDS,
          mountedTargets: expected.length,
          snapshotsPerDataset: BIG_POOL.snapshots,
          agentMs: agent,
          byHandMs: hand,
          ratio,
          firstAutoMountMs: firstRun?.ms,
          ...(baseline
            ? { baselineMs: baseline, baselineRatio: Number((baseline.median / hand.median).toFixed(2)) }
            : {}),
          hostLoad: { min: Math.min(...loads), max: Math.max(...loads) },
          commands: commands.length,
          commandsByKind: byKind,
          timeline,
        },
      });
    }, 7_200_000);
  },
);
