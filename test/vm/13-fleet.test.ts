// Issue 16 on real OpenZFS: two rescued servers phone home to a collector on the host, and one batch
// hotfix from `lifeboat client --hosts <collector>` is applied to both. The guests reach the host
// through QEMU's user network (10.0.2.2 is the host's loopback there); the collector serves HTTPS
// with a self-signed certificate the agents pin (lifeboat.callbackFingerprint). Both guests boot
// the `single` disk set (each on its own overlay), so their hardware identity is the same (QEMU's
// default MAC, no DMI serial): they are told apart by the name a PXE server would give them.
import { spawnSync } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import type { Server } from "node:net";
import { join } from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ClientIO, runClient } from "../../agent/src/client/main.js";
import { Collector } from "../../agent/src/collector/collector.js";
import { buildCollectorServer } from "../../agent/src/collector/server.js";
import { RealSystem } from "../../agent/src/system/real.js";
import { dualProtocolServer, listenOn } from "../../agent/src/tls/serve.js";
import { createSelfSigned } from "../../agent/src/tls/x509.js";
import { AGENT_ARGS, boot, ensureDiskSet, grepLogs, log, recordTiming, type Vm, WORK } from "./lab.js";
import { finish } from "./scenario.js";

const FLEET_KEY = `fleet-key-${Math.random().toString(36).slice(2)}-0123456789`;
const ENTRY = "/mnt/boot/loader/entries/nixos-generation-3.conf";
const NAMES = ["atlas-a", "atlas-b"] as const;

function io(): ClientIO & { stdout: string; stderr: string } {
  const c = {
    stdout: "",
    stderr: "",
    out: (s: string) => {
      c.stdout += s;
    },
    err: (s: string) => {
      c.stderr += s;
    },
    env: {} as Record<string, string>,
    promptSecret: async () => "",
    confirm: async () => false,
    edit: async () => undefined,
  };
  return c;
}

async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => resolve(typeof a === "object" && a ? a.port : 0));
    });
  });
}

describe("scenario 13: a fleet phones home; one batch hotfix for all (issue 16)", () => {
  const vms: Vm[] = [];
  let collector: Collector;
  let server: Server;
  let collectorUrl = "";
  let dir = "";
  let closeApp: () => Promise<unknown> = async () => undefined;

  beforeAll(async () => {
    const set = await ensureDiskSet("single");
    dir = join(WORK, `fleet-collector-${Date.now()}`);
    await import("node:fs/promises").then((f) => f.mkdir(dir, { recursive: true }));
    const logger = pino({ level: "info" }, pino.destination(join(dir, "collector.log")));
    collector = new Collector(new RealSystem(logger), logger, {
      keys: [FLEET_KEY],
      stateFile: join(dir, "fleet.json"),
      fileSd: join(dir, "sd.json"),
    });
    const app = await buildCollectorServer({ collector, logger });
    const cert = createSelfSigned({ commonName: "collector", ips: ["10.0.2.2", "127.0.0.1"] });
    await app.ready();
    server = dualProtocolServer(app.server, { key: cert.keyPem, cert: cert.certPem });
    await listenOn(server, "127.0.0.1", 0);
    const port = (server.address() as { port: number }).port;
    collectorUrl = `http://127.0.0.1:${port}`;
    closeApp = () => app.close();
    await writeFile(join(dir, "fleetkey"), `${FLEET_KEY}\n`, { mode: 0o600 });

    // Two guests at once (2 cores, TCG): the cost this scenario adds is measured here.
    const t0 = Date.now();
    const booted = await Promise.all(
      NAMES.map(async (name) => {
        const apiPort = await freePort();
        return boot({
          name: `s13-${name}`,
          diskSet: set,
          apiPort,
          extraShareFiles: { fleetkey: join(dir, "fleetkey") },
          agent: {
            args: [
              ...AGENT_ARGS,
              "--callback",
              `https://10.0.2.2:${port}/v1/report`,
              "--callback-fingerprint",
              cert.fingerprint,
              "--callback-token-file",
              "/host/fleetkey",
              "--advertise",
              `http://127.0.0.1:${apiPort}/`,
              "--name",
              name,
            ],
          },
        });
      }),
    );
    vms.push(...booted);
    recordTiming("s13: two guests booted at once -> both APIs ready", Date.now() - t0);
  });

  afterAll(async () => {
    server?.close();
    await closeApp();
    await finish(...vms);
  });

  const fleet = () => collector.hosts();
  const waitFleet = async (
    what: string,
    ok: (h: ReturnType<typeof fleet>) => boolean,
    timeoutMs = 600_000,
  ) => {
    const vm = vms[0] as Vm;
    return vm.waitFor(what, async () => (ok(fleet()) ? fleet() : undefined), timeoutMs, 1000);
  };

  it("both servers phone home over pinned HTTPS once auto-mounted read-only", async () => {
    const t0 = Date.now();
    const hosts = await waitFleet("both servers mounted-ro at the collector", (h) =>
      NAMES.every((n) => h.find((x) => x.name === n)?.phase === "mounted-ro"),
    );
    recordTiming("s13: APIs ready -> both reported mounted-ro", Date.now() - t0);
    for (const [i, name] of NAMES.entries()) {
      const h = hosts.find((x) => x.name === name);
      expect(h).toMatchObject({
        key: `name:${name}`,
        url: `http://127.0.0.1:${(vms[i] as Vm).apiPort}/`,
        source: "127.0.0.1",
        problems: [],
      });
      expect(h?.machineId).toMatch(/^[0-9a-f]{32}$/); // the installed system's, read once mounted
      expect(h?.pools).toEqual([{ name: "nvmepool", state: "ONLINE", imported: true }]);
    }
    // The identity the agent read from the guest's sysfs is the guest's own. The collector answers
    // from memory before its files are written: wait for the write in flight.
    await collector.persist();
    const state = JSON.parse(await readFile(join(dir, "fleet.json"), "utf8"));
    const mac = (await (vms[0] as Vm).sh("cat /sys/class/net/eth0/address")).trim();
    expect(state.hosts[0].report.host.macs).toContain(mac);
    const sd = JSON.parse(await readFile(join(dir, "sd.json"), "utf8"));
    expect(sd.map((g: { targets: string[] }) => g.targets[0]).sort()).toEqual(
      vms.map((v) => `127.0.0.1:${v.apiPort}`).sort(),
    );
  });

  it("/metrics of a real rescued server passes promtool", async () => {
    const vm = vms[0] as Vm;
    const r = await fetch(`${vm.apiUrl}/metrics`, { headers: { authorization: `Bearer ${vm.token}` } });
    const text = await r.text();
    expect(r.status).toBe(200);
    expect(text).toContain('lifeboat_phase{phase="mounted-ro"} 1');
    expect(text).toContain('lifeboat_pool_health{pool="nvmepool",state="ONLINE",imported="true"} 1');
    if (spawnSync("promtool", ["--version"]).status === 0) {
      const p = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
      expect(`${p.stdout}${p.stderr}`).toBe("");
    } else log("promtool not installed: the metrics text is not checked by Prometheus' parser here");
  });

  it("the batch hotfix: dry run first (nothing changes), then --yes on both: mount rw, blacklist, export", async () => {
    const tokens = join(dir, "tokens");
    await writeFile(tokens, `${vms.map((v) => v.token).join("\n")}\n`, { mode: 0o600 });
    const batch = async (...args: string[]) => {
      const o = io();
      const code = await runClient(["--hosts", collectorUrl, "--token-file", tokens, ...args], o);
      log(`batch ${args.join(" ")} -> ${code}\n${o.stdout}${o.stderr}`);
      return { code, ...o };
    };
    const t0 = Date.now();
    const dry = await batch("mount", "--rw");
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain("2 server(s): 0 ok, 2 planned, 0 failed");
    expect(dry.stdout.match(/Read-WRITE mount of zfs:nvmepool/g)).toHaveLength(2);
    for (const vm of vms) expect(await vm.sh("findmnt -n -o OPTIONS /mnt")).toMatch(/(^|,)ro(,|$)/);

    const steps = [
      ["mount", "--rw"],
      ["kernel-params", "default", "--add", "module_blacklist=vfio_pci"],
      ["export"],
    ];
    for (const step of steps) {
      const r = await batch("--yes", ...step);
      expect(r.code, r.stdout).toBe(0);
      expect(r.stdout).toContain("2 server(s): 2 ok, 0 planned, 0 failed");
    }
    recordTiming("s13: batch hotfix on two servers (dry run + 3 steps)", Date.now() - t0);
    for (const vm of vms) {
      expect(await vm.sh("zpool list -H -o name || true")).toBe(""); // exported
      await vm.sh("mkdir -p /tmp/esp && mount -o ro LABEL=boot /tmp/esp");
      const entry = await vm.sh(`cat /tmp/esp/loader/entries/${ENTRY.split("/").pop()}`);
      await vm.sh("umount /tmp/esp");
      expect(entry).toMatch(/^options .*module_blacklist=vfio_pci/m);
    }
    // The servers said so themselves: the collector shows both back at "found".
    await waitFleet("both servers report found after the export", (h) =>
      NAMES.every((n) => h.find((x) => x.name === n)?.phase === "found"),
    );
  });

  it("the fleet key never reached a log or the guests' journals", async () => {
    for (const vm of vms) expect(await grepLogs(vm, FLEET_KEY)).toEqual([]);
    expect(await readFile(join(dir, "collector.log"), "utf8")).not.toContain(FLEET_KEY);
  });
});
