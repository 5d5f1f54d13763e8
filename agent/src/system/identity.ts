import { networkInterfaces } from "node:os";
import type { System } from "./system.js";

/** Facts about the machine itself (DMI, NICs), as the rescue system sees them. */
export interface MachineFacts {
  dmiSerial: string | null;
  productUuid: string | null;
  macs: string[];
  addresses: string[];
}

const DMI = "/sys/class/dmi/id";
const NET = "/sys/class/net";

async function small(sys: System, path: string): Promise<string | null> {
  const info = await sys.lstat(path).catch(() => null);
  if (info?.type !== "file") return null;
  // sysfs reports 4096 for every attribute; readable by root only for the serial.
  const text = (await sys.readFile(path).catch(() => null))?.toString("utf8").trim();
  return text && text.length <= 128 ? text : null;
}

/**
 * What identifies this machine in a fleet (the rescue system's view, not the installed system's):
 * the firmware's serial and product UUID (`/sys/class/dmi/id`, as dmidecode shows them) and the
 * MAC addresses of the physical NICs (`/sys/class/net/<if>/address` where `device` exists), plus
 * the addresses the rescue system has.
 */
export async function readMachineFacts(sys: System): Promise<MachineFacts> {
  const [dmiSerial, productUuid, ifaces] = await Promise.all([
    small(sys, `${DMI}/product_serial`),
    small(sys, `${DMI}/product_uuid`),
    sys.readdir(NET).catch(() => null),
  ]);
  const macs: string[] = [];
  for (const i of ifaces ?? []) {
    if (i === "lo" || i.includes("/")) continue;
    if (!(await sys.lstat(`${NET}/${i}/device`).catch(() => null))) continue; // virtual (bridge, veth…)
    const mac = (await small(sys, `${NET}/${i}/address`))?.toLowerCase();
    if (mac && /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(mac) && mac !== "00:00:00:00:00:00") macs.push(mac);
  }
  const addresses = Object.values(networkInterfaces())
    .flatMap((l) => l ?? [])
    .filter((a) => !a.internal && !(a.family === "IPv6" && a.address.startsWith("fe80")))
    .map((a) => a.address);
  return {
    dmiSerial,
    productUuid: productUuid && /^[0-9a-f-]{36}$/i.test(productUuid) ? productUuid.toLowerCase() : null,
    macs: [...new Set(macs)].sort(),
    addresses: [...new Set(addresses)],
  };
}
