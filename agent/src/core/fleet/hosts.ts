import { ParseError } from "../errors.js";
import { isRecord } from "../json.js";

/** One server of a batch run of `lifeboat client --hosts …`. */
export interface BatchHost {
  name: string;
  /** ADDR[:PORT], [v6]:PORT or an http(s) URL, as `--host` takes it. */
  address: string;
  fingerprint: string | null;
  /** A token written in the hosts file for this server. */
  token: string | null;
  /** The public id of the token the server holds (from the collector), to pick the right one. */
  tokenId: string | null;
}

const MAX_HOSTS = 10_000;
const FIELD = /^(name|token|fingerprint|token-id)=(.*)$/;

/**
 * A hosts file: one server per line, `ADDR[:PORT]|URL [name=N] [token=T] [fingerprint=F]`, `#`
 * comments; or the JSON a collector serves at /v1/fleet (saved to a file).
 */
export function parseHostsFile(text: string): BatchHost[] {
  const t = text.trimStart();
  if (t.startsWith("{") || t.startsWith("[")) {
    let raw: unknown;
    try {
      raw = JSON.parse(t);
    } catch (err) {
      throw new ParseError("hosts file", (err as Error).message);
    }
    return hostsFromFleet(raw);
  }
  const hosts: BatchHost[] = [];
  for (const [i, line] of text.split(/\r?\n/).entries()) {
    const body = line.replace(/(^|\s)#.*$/, "").trim();
    if (!body) continue;
    const h: BatchHost = { name: "", address: "", fingerprint: null, token: null, tokenId: null };
    for (const f of body.split(/\s+/)) {
      const m = FIELD.exec(f);
      if (!m) {
        if (h.address) throw new ParseError("hosts file", `line ${i + 1}: more than one address`);
        h.address = f;
      } else if (m[1] === "name") h.name = m[2] as string;
      else if (m[1] === "token") h.token = (m[2] as string) || null;
      else if (m[1] === "fingerprint") h.fingerprint = (m[2] as string) || null;
      else h.tokenId = (m[2] as string) || null;
    }
    if (!h.address) throw new ParseError("hosts file", `line ${i + 1}: no address`);
    h.name ||= h.address;
    hosts.push(h);
    if (hosts.length > MAX_HOSTS) throw new ParseError("hosts file", `more than ${MAX_HOSTS} servers`);
  }
  return hosts;
}

/** The collector's fleet list (`{hosts: [...]}` or the bare list) → servers; those without a URL are left out. */
export function hostsFromFleet(raw: unknown): BatchHost[] {
  const list = isRecord(raw) ? raw.hosts : raw;
  if (!Array.isArray(list)) throw new ParseError("fleet list", "no hosts list");
  const s = (v: unknown) => (typeof v === "string" && v.length > 0 && v.length < 300 ? v : null);
  const hosts: BatchHost[] = [];
  for (const h of list.slice(0, MAX_HOSTS)) {
    if (!isRecord(h)) throw new ParseError("fleet list", "a host is not an object");
    const url = s(h.url);
    if (!url) continue;
    hosts.push({
      name: s(h.name) ?? s(h.key) ?? url,
      address: url,
      fingerprint: s(h.tlsFingerprint),
      token: null,
      tokenId: s(h.tokenId),
    });
  }
  return hosts;
}
