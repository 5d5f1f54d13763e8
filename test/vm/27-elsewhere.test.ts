// Scenario 27: the root pool last used by another system on real OpenZFS. The diagnosis disk set
// (generation 4 booted, 5 and 6 never did) whose pool atlas (hostid 8425e349) left imported; the
// server is made borealis (hostid 2f1c9a6b in every generation's etc/hostid) with
// boot.zfs.forceImportRoot = false. The rescue imports the pool read-only, then read-write (the
// label then names the rescue), and the diagnosis still names the label as zpool worded it before
// the first import. Its hand-back (read-write mount, export) then lets the server, hostid 2f1c9a6b,
// import the pool WITHOUT -f, after which the label carries the server's own hostid.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pools } from "./guest-state.js";
import { boot, type DiagnosisSets, ensureDiagnosisDiskSets, type Vm } from "./lab.js";
import { expectOk, finish, waitForAutoMount } from "./scenario.js";

const SERVER = { hostid: "2f1c9a6b", hostname: "borealis" };
/** The hostid and hostname the pool's label holds (zdb -l of its disk's ZFS partition). */
const label = (vm: Vm) =>
  vm.sh(
    `for d in /dev/nvme*n*p*; do zdb -l "$d" 2>/dev/null; done | grep -E '^[[:space:]]*(hostid|hostname):' | head -n 2 || true`,
  );

describe("scenario 27: the root pool last used by another system", () => {
  let sets: DiagnosisSets;
  let vm: Vm;
  let server: Vm | undefined;
  let d: any;

  beforeAll(async () => {
    sets = await ensureDiagnosisDiskSets();
    vm = await boot({ name: "s27-elsewhere", diskSet: sets.good });
    expect((await waitForAutoMount(vm, "s27")).phase).toBe("mounted-ro");
  });
  afterAll(() => finish(vm, server));

  it("after the rescue's own read-write import, the diagnosis names the label it saw before: atlas, not the rescue", async () => {
    expectOk(await vm.api("POST", "/v1/mount", { readonly: false }));
    // the server's hostid in each generation's etc/hostid (4 bytes, little-endian, as NixOS writes it)
    for (const n of [4, 5, 6]) {
      // etc is a store link (absolute: resolved inside /mnt by hand); octal escapes for the guest's sh
      await vm.sh(
        `t=/mnt${sets.toplevels[n]}/etc; if [ -L "$t" ]; then t=/mnt$(readlink "$t"); fi; printf '\\153\\232\\034\\057' > "$t/hostid"`,
      );
    }
    await vm.sh(
      `sed -i 's/^}$/  boot.zfs.forceImportRoot = false;\\n}/' /mnt/etc/nixos/configuration.nix && sync`,
    );
    const r = await vm.api("GET", "/v1/diagnosis?refresh=true");
    expectOk(r);
    d = r.body;
    const f = d.findings.find((x: any) => x.class === "pool-in-use-elsewhere");
    expect(f, JSON.stringify(d.findings.map((x: any) => [x.class, x.cause]))).toBeTruthy();
    expect(f.confidence).toBe("high");
    expect(f.generation).toBe(5);
    expect(f.evidence[0].detail).toMatch(
      /^Last accessed by atlas \(hostid=8425e349\) at .* \(read .*, before the rescue imported the pool; the rescue's hostid was 00bab10c\)$/,
    );
    expect(f.evidence.map((e: any) => e.detail)).toContain("generation 5: 2f1c9a6b");
    expect(d.findings[0].class).toBe("pool-in-use-elsewhere");
    // the label now names the rescue (its read-write import), which the finding does not take for it
    expect(await label(vm)).toMatch(/hostname: 'rescue'/);
  });

  it("the hand-back, sent as the diagnosis wrote it: read-write mount and export", async () => {
    const back = d.proposals.find((p: any) => p.kind === "hand-back");
    expect(back.requests.map((q: any) => `${q.method} ${q.path}`)).toEqual([
      "POST /v1/mount",
      "POST /v1/export",
    ]);
    for (const q of back.requests) expectOk(await vm.api(q.method, q.path, q.body));
    expect(await pools(vm)).toEqual({});
  });

  it("the server, hostid 2f1c9a6b, imports the pool WITHOUT -f; the label then carries its own hostid", async () => {
    await vm.shutdown();
    server = await boot({ name: "s27-server", overlaysFrom: vm, agent: false, ...SERVER });
    const listing = await server.run("zpool import");
    expect(listing.stdout).toMatch(/pool: nvmepool/);
    expect(listing.stdout).not.toMatch(/another system/i);
    const imp = await server.run("zpool import -N nvmepool");
    expect(imp.rc, imp.stderr).toBe(0);
    expect(await pools(server)).toEqual({ nvmepool: "ONLINE" });
    await server.sh("zpool export nvmepool");
    const after = await label(server);
    expect(after).toContain(`hostid: ${Number.parseInt(SERVER.hostid, 16)}`);
    expect(after).toContain("hostname: 'borealis'");
  });
});
