/**
 * iso/carry/restore.sh, run at boot of the rescue system by lifeboat-carry.service (iso/carry.nix):
 * what kexec's run script (or the ESP entry) carried in becomes the agent's token, root's SSH keys
 * and NetworkManager keyfiles. Fed with `ip -j` output captured on this host (fixtures/host, see
 * its README); the DHCP case is constructed from it and says so.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { have, repo, tempDirs } from "./shell.js";

const RESTORE = join(repo, "iso", "carry", "restore.sh");
const HOST = join(repo, "test", "kexec", "fixtures", "host");
const hasJq = have("jq");
const TOKEN = "carried-token-for-restore-tests-x7Qp2L";
const tempDir = tempDirs("lifeboat-restore-");

function carry(addresses: string, extra: Record<string, string> = {}) {
  const d = tempDir();
  const c = join(d, "carry");
  mkdirSync(c);
  writeFileSync(join(c, "addresses.json"), addresses);
  copyFileSync(join(HOST, "routes4.json"), join(c, "routes4.json"));
  copyFileSync(join(HOST, "routes6.json"), join(c, "routes6.json"));
  writeFileSync(join(c, "nameservers"), "192.0.2.53\n2001:db8::53\n");
  writeFileSync(join(c, "token"), `${TOKEN}\n`);
  writeFileSync(
    join(c, "authorized_keys"),
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIRestoreTestKey operator@laptop\n",
  );
  for (const [k, v] of Object.entries(extra)) writeFileSync(join(c, k), v);
  const out = { token: join(d, "run/lifeboat/token"), ssh: join(d, "root/.ssh"), nm: join(d, "nm") };
  const r = spawnSync("bash", [RESTORE, c, out.token, out.ssh, out.nm], { encoding: "utf8" });
  return { r, ...out };
}
const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);

describe.skipIf(!hasJq)("kexec carry-over restore (real ip -j captures)", () => {
  it("static addresses of this host become a manual NetworkManager profile matched by MAC", () => {
    const { r, nm } = carry(readFileSync(join(HOST, "addresses.json"), "utf8"));
    expect(r.status, r.stderr).toBe(0);
    // lo and the address-less ifb devices are left alone.
    expect(readdirSync(nm)).toEqual(["lifeboat-carried-eth0.nmconnection"]);
    const file = join(nm, "lifeboat-carried-eth0.nmconnection");
    expect(mode(file)).toBe("600");
    expect(readFileSync(file, "utf8")).toBe(
      [
        "[connection]",
        "id=lifeboat-carried-eth0",
        "type=ethernet",
        "autoconnect=true",
        "autoconnect-priority=100",
        "",
        "[ethernet]",
        "mac-address=02:fc:00:00:00:01",
        "",
        "[ipv4]",
        "method=manual",
        "address1=192.0.2.2/24",
        "gateway=192.0.2.1",
        "dns=192.0.2.53;",
        "",
        "[ipv6]",
        "method=manual",
        "address1=fd00::2/64",
        "gateway=fd00::1",
        "dns=2001:db8::53;",
        "",
      ].join("\n"),
    );
    expect(r.stdout).toContain("network: eth0 taken over");
  });

  it("the token and root's keys are taken over with private modes", () => {
    const { r, token, ssh } = carry(readFileSync(join(HOST, "addresses.json"), "utf8"));
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(token, "utf8")).toBe(`${TOKEN}\n`);
    expect(mode(token)).toBe("600");
    expect(mode(ssh)).toBe("700");
    expect(readFileSync(join(ssh, "authorized_keys"), "utf8")).toContain("RestoreTestKey");
    expect(mode(join(ssh, "authorized_keys"))).toBe("600");
    expect(r.stdout).not.toContain(TOKEN);
  });

  it("constructed from the capture: an address the old system got by DHCP stays automatic", () => {
    const addrs = JSON.parse(readFileSync(join(HOST, "addresses.json"), "utf8")) as {
      ifname: string;
      addr_info: { family: string; dynamic?: boolean }[];
    }[];
    for (const a of addrs.find((i) => i.ifname === "eth0")?.addr_info ?? [])
      if (a.family === "inet") a.dynamic = true;
    const { r, nm } = carry(JSON.stringify(addrs));
    expect(r.status, r.stderr).toBe(0);
    const text = readFileSync(join(nm, "lifeboat-carried-eth0.nmconnection"), "utf8");
    expect(text).toContain("[ipv4]\nmethod=auto\ndns=192.0.2.53;\n");
    expect(text).toContain("[ipv6]\nmethod=manual\naddress1=fd00::2/64");
  });

  it("constructed from the capture: DHCP plus a static address stays automatic and keeps the static one", () => {
    const addrs = JSON.parse(readFileSync(join(HOST, "addresses.json"), "utf8")) as {
      ifname: string;
      addr_info: { family: string; local: string; prefixlen: number; scope: string; dynamic?: boolean }[];
    }[];
    const eth0 = addrs.find((i) => i.ifname === "eth0");
    eth0?.addr_info.push({ family: "inet", local: "192.168.42.1", prefixlen: 24, scope: "global" });
    for (const a of eth0?.addr_info ?? []) if (a.local === "192.0.2.2") a.dynamic = true;
    const { r, nm } = carry(JSON.stringify(addrs));
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(join(nm, "lifeboat-carried-eth0.nmconnection"), "utf8")).toContain(
      "[ipv4]\nmethod=auto\naddress1=192.168.42.1/24\ndns=192.0.2.53;\n",
    );
  });

  it("constructed: an interface name that is not a plain name is skipped, not used in a path", () => {
    const addrs = JSON.parse(readFileSync(join(HOST, "addresses.json"), "utf8")) as { ifname: string }[];
    for (const a of addrs) if (a.ifname === "eth0") a.ifname = "../../etc/x";
    const { r, nm } = carry(JSON.stringify(addrs));
    expect(r.status, r.stderr).toBe(0);
    expect(readdirSync(nm)).toEqual([]);
    expect(r.stderr).toContain("skipping interface with an odd name");
  });

  it("nothing to take over: only what is there", () => {
    const d = tempDir();
    mkdirSync(join(d, "carry"));
    const r = spawnSync("bash", [RESTORE, join(d, "carry"), join(d, "t"), join(d, "ssh"), join(d, "nm")], {
      encoding: "utf8",
    });
    expect(r.status, r.stderr).toBe(0);
    expect(readdirSync(d)).toEqual(["carry"]);
  });
});
