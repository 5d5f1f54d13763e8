import { networkInterfaces } from "node:os";

/** http://addr:port for every non-loopback address (what the console banner and status show). */
export function listenUrls(host: string, port: number, scheme = "http"): string[] {
  const wildcard = host === "0.0.0.0" || host === "::" || host === "";
  if (!wildcard) return [`${scheme}://${host.includes(":") ? `[${host}]` : host}:${port}/`];
  const urls: string[] = [];
  for (const [ifname, addrs] of Object.entries(networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.internal) continue;
      if (a.family === "IPv4") urls.push(`${scheme}://${a.address}:${port}/`);
      else if (host === "::" && !a.address.startsWith("fe80"))
        urls.push(`${scheme}://[${a.address}]:${port}/`);
      else if (host === "::") urls.push(`${scheme}://[${a.address}%${ifname}]:${port}/`);
    }
  }
  return urls;
}
