// Issue 5 on real OpenZFS: the rescue actions against the seed's server, each checked on the guest's
// real files, snapshots and pools. `nixos-enter`/`nixos-rebuild` do not exist in the Debian guest:
// the rebuild job here runs against a stand-in `nixos-enter` that only prints its arguments, which
// proves the job plumbing (command line, snapshot, network check, live log, exit code); scenario 11
// runs the same job through a stand-in that behaves like the real nixos-enter.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mounts, pools } from "./guest-state.js";
import { boot, ensureDiskSet, type Vm } from "./lab.js";
import { expectOk, expectProblem, finish, waitForAutoMount } from "./scenario.js";

const ENTRY = "/mnt/boot/loader/entries/nixos-generation-3.conf";

async function snapshots(vm: Vm): Promise<string[]> {
  const out = await vm.sh("zfs list -H -o name -t snapshot -r nvmepool || true");
  return out.split("\n").filter(Boolean);
}

describe("scenario 9: rescue actions on the seed's server (issue 5)", () => {
  let vm: Vm;

  beforeAll(async () => {
    const set = await ensureDiskSet("single");
    vm = await boot({ name: "s9-rescue", diskSet: set });
    const st = await waitForAutoMount(vm, "s9");
    expect(st.phase).toBe("mounted-ro");
  });
  afterAll(() => finish(vm));

  it("generations and boot entries come from the installed system", async () => {
    const g = await vm.api("GET", "/v1/generations");
    expectOk(g);
    expect(g.body.generations.map((x: { number: number }) => x.number)).toEqual([3, 2, 1]);
    expect(g.body.generations[0]).toMatchObject({ current: true, bootDefault: true, closurePresent: true });
    expect(g.body.generations[0].nixosVersion).toMatch(/^24\.11\./);
    const b = await vm.api("GET", "/v1/boot");
    expectOk(b);
    expect(b.body).toMatchObject({
      loader: "systemd-boot",
      esp: "/boot",
      default: "nixos-generation-3.conf",
    });
    expect(b.body.entries).toHaveLength(3);
  });

  it("changes are refused while mounted read-only", async () => {
    const r = await vm.api("POST", "/v1/boot/entries/nixos-generation-3/kernel-params", {
      add: ["module_blacklist=vfio_pci"],
    });
    expectProblem(r, 409, "read-only-mount");
    expect(await snapshots(vm)).toEqual([]);
  });

  it("kernel-param hotfix on the ESP (snapshot first), then revert to the byte", async () => {
    expectOk(await vm.api("POST", "/v1/mount", { readonly: false }));
    const before = await vm.sh(`cat ${ENTRY}`);
    const r = await vm.api("POST", "/v1/boot/entries/nixos-generation-3/kernel-params", {
      add: ["module_blacklist=vfio_pci"],
    });
    expectOk(r);
    // named after the change it came before
    expect(r.body.snapshot).toMatch(/^nvmepool@lifeboat-\d{8}T\d{6}Z-kernel-params$/);
    expect(await snapshots(vm)).toContain(`nvmepool/root@${r.body.snapshot.split("@")[1]}`);
    expect(await vm.sh(`grep ^options ${ENTRY}`)).toContain("module_blacklist=vfio_pci");
    expectOk(await vm.api("POST", "/v1/boot/entries/nixos-generation-3/revert", {}));
    expect(await vm.sh(`cat ${ENTRY}`)).toBe(before);
  });

  it("boot default via loader.conf", async () => {
    const r = await vm.api("POST", "/v1/boot/default", { generation: 2 });
    expectOk(r);
    expect(await vm.sh("grep ^default /mnt/boot/loader/loader.conf")).toBe(
      "default nixos-generation-2.conf\n",
    );
  });

  it("config edit with If-Match; a stale ETag is refused", async () => {
    const got = await vm.api("GET", "/v1/config/configuration.nix");
    expectOk(got);
    const put = (etag: string, content: string) =>
      fetch(`${vm.apiUrl}/v1/config/configuration.nix`, {
        method: "PUT",
        headers: {
          authorization: `Bearer ${vm.token}`,
          "content-type": "application/json",
          "if-match": etag,
        },
        body: JSON.stringify({ content }),
      });
    const fixed = `${got.body.content}\n# lifeboat: blacklist vfio_pci\n`;
    const ok = await put(got.body.etag, fixed);
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { result: { backup: string } };
    expect(await vm.sh("cat /mnt/etc/nixos/configuration.nix")).toBe(fixed);
    expect((await vm.run(`test -f /mnt${body.result.backup}`)).rc).toBe(0);
    expect((await put(got.body.etag, "stale")).status).toBe(412);
  });

  it("the installed system's own journal is readable", async () => {
    const journalDir = (await vm.run("ls /mnt/var/log/journal/*/*.journal")).rc === 0;
    const boots = await vm.api("GET", "/v1/journal/boots");
    if (!journalDir) {
      expectProblem(boots, 404);
      return;
    }
    expectOk(boots);
    expect(boots.body.boots.length).toBeGreaterThan(0);
    const last = await vm.api("GET", "/v1/journal?boot=0&limit=20");
    expectOk(last);
    expect(last.body.entries.length).toBeGreaterThan(0);
  });

  it("rebuild job (stand-in nixos-enter): command line, snapshot, network check, live log, exit code", async () => {
    await vm.sh(
      "printf '#!/bin/sh\\necho \"stand-in nixos-enter: $*\"\\necho building the system configuration... >&2\\nexit 0\\n' > /usr/local/bin/nixos-enter && chmod +x /usr/local/bin/nixos-enter",
    );
    const r = await vm.api("POST", "/v1/rebuild", { action: "boot", flake: "/etc/nixos#atlas" });
    expect(r.status, r.text).toBe(202);
    const id = r.body.job.id;
    const log = await fetch(`${vm.apiUrl}/v1/jobs/${id}/log`, {
      headers: { authorization: `Bearer ${vm.token}` },
    });
    const text = await log.text();
    // The installed system's own nixos-rebuild through its shell (core/chroot.ts); what the real
    // nixos-enter does with this command line is scenario 11 (11-nixos-enter.test.ts).
    expect(text).toContain("stand-in nixos-enter: --root /mnt -- /nix/var/nix/profiles/system/sw/bin/sh -c ");
    // After the program's name: the rescue side's resolver lines (one argument, may be empty).
    expect(text).toMatch(
      /lifeboat-in-target (?:\S[^"]*? )?nixos-rebuild boot --option sandbox false --flake \/etc\/nixos#atlas/,
    );
    expect(text).toContain("network: https://cache.nixos.org");
    expect(text).toMatch(/event: end\ndata: \{"state":"succeeded","exitCode":0\}/);
    const job = await vm.api("GET", `/v1/jobs/${id}`);
    expect(job.body.state).toBe("succeeded");
    expect((await vm.run(`test -s /mnt/var/log/lifeboat/jobs/${id}.log`)).rc).toBe(0);
    expect(await vm.sh("cat /mnt/var/log/lifeboat/audit.jsonl")).toContain('"action":"rebuild"');
  });

  it("export, then the pool imports again without -f", async () => {
    expectOk(await vm.api("POST", "/v1/export", {}));
    expect(await mounts(vm, "/mnt")).toEqual([]);
    expect(await pools(vm)).toEqual({});
    const listing = await vm.run("zpool import");
    expect(listing.stdout).not.toMatch(/last accessed by another system/i);
    const imp = await vm.run("zpool import -N nvmepool");
    expect(imp.rc, imp.stderr).toBe(0);
    await vm.sh("zpool export nvmepool");
  });
});
