// Readers of the REAL guest state, through the lab's control channel. Scenarios assert on these
// after every API call, so a response that merely claims success is not enough.
import type { Vm } from "./lab.js";

export interface Mount {
  source: string;
  target: string;
  fstype: string;
  options: string[];
}

/** /proc/mounts decoded (octal escapes), optionally only the ones at or below `under` */
export async function mounts(vm: Vm, under?: string): Promise<Mount[]> {
  const text = await vm.sh("cat /proc/mounts");
  const unesc = (s: string) =>
    s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(Number.parseInt(o, 8)));
  const all = text
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const [source = "", target = "", fstype = "", opts = ""] = l.split(" ");
      return { source: unesc(source), target: unesc(target), fstype, options: opts.split(",") };
    });
  if (!under) return all;
  return all.filter((m) => m.target === under || m.target.startsWith(`${under}/`));
}

export async function mountAt(vm: Vm, target: string): Promise<Mount | undefined> {
  return (await mounts(vm)).filter((m) => m.target === target).pop();
}

/** Imported pools: name -> health (empty when none) */
export async function pools(vm: Vm): Promise<Record<string, string>> {
  const r = await vm.run("zpool list -H -o name,health");
  const out: Record<string, string> = {};
  for (const l of r.stdout.split("\n").filter(Boolean)) {
    const [name = "", health = ""] = l.split("\t");
    out[name] = health;
  }
  return out;
}

export async function poolProp(vm: Vm, pool: string, prop: string): Promise<string> {
  return (await vm.sh(`zpool get -H -o value ${prop} ${pool}`)).trim();
}

export async function dsProp(vm: Vm, ds: string, prop: string): Promise<string> {
  return (await vm.sh(`zfs get -H -o value ${prop} ${ds}`)).trim();
}

/** What `hostid` prints (the live hostid the kernel module and userland use) */
export async function liveHostid(vm: Vm): Promise<string> {
  return (await vm.sh("hostid")).trim();
}

/** /etc/hostid decoded (4 bytes, host byte order = little endian here), or "" if absent */
export async function etcHostid(vm: Vm): Promise<string> {
  const r = await vm.run("od -An -tx4 /etc/hostid");
  return r.rc === 0 ? r.stdout.trim() : "";
}

/** The hostid the ZFS kernel module currently uses (spl_hostid parameter, 0 = read /etc/hostid) */
export async function splHostid(vm: Vm): Promise<string> {
  const v = (await vm.run("cat /sys/module/spl/parameters/spl_hostid")).stdout.trim();
  return Number(v).toString(16).padStart(8, "0");
}

/** A snapshot of everything a scenario usually cares about, for error messages */
export async function describe(vm: Vm): Promise<string> {
  const r = await vm.run(
    "echo '# zpool list'; zpool list -H -o name,health,readonly,altroot 2>&1; echo '# hostid'; hostid;" +
      " echo '# mounts under /mnt'; grep -E ' /mnt(/| )' /proc/mounts; echo '# dm'; ls /dev/mapper; true",
  );
  return r.stdout;
}
