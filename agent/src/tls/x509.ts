import { generateKeyPairSync, randomBytes, sign, X509Certificate } from "node:crypto";
import { isIP } from "node:net";

// A minimal DER writer: just what a self-signed X.509 v3 server certificate needs. node:crypto
// makes keys and signatures and parses certificates, but cannot create one.

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let x = n; x > 0; x = Math.floor(x / 256)) bytes.unshift(x & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const tlv = (tag: number, body: Buffer) => Buffer.concat([Buffer.from([tag]), len(body.length), body]);
const seq = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));
const ctx = (n: number, body: Buffer, constructed = true) => tlv((constructed ? 0xa0 : 0x80) | n, body);
const octets = (b: Buffer) => tlv(0x04, b);
const bitString = (b: Buffer) => tlv(0x03, Buffer.concat([Buffer.from([0]), b]));
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, "utf8"));
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0]));

function oid(dotted: string): Buffer {
  const parts = dotted.split(".").map(Number);
  const out = [40 * (parts[0] as number) + (parts[1] as number)];
  for (const p of parts.slice(2)) {
    const chunk = [p & 0x7f];
    for (let x = Math.floor(p / 128); x > 0; x = Math.floor(x / 128)) chunk.unshift(0x80 | (x & 0x7f));
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

function integer(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  const v = b.subarray(i);
  return tlv(0x02, (v[0] as number) & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v);
}

/** UTCTime until 2049, GeneralizedTime after (RFC 5280 4.1.2.5). */
function time(d: Date): Buffer {
  const iso = d
    .toISOString()
    .replace(/[-:T]/g, "")
    .replace(/\.\d+Z$/, "Z");
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(iso.slice(2))) : tlv(0x18, Buffer.from(iso));
}

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split(".").map(Number));
  const [head = "", tail = ""] = ip.split("::");
  const h = head ? head.split(":") : [];
  const t = ip.includes("::") ? (tail ? tail.split(":") : []) : [];
  const groups = [...h, ...new Array(8 - h.length - t.length).fill("0"), ...t];
  return Buffer.from(groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
}

export interface SelfSigned {
  certPem: string;
  keyPem: string;
  /** SHA-256 of the DER certificate, "AB:CD:…" (what browsers and `openssl x509 -fingerprint` show). */
  fingerprint: string;
}

const ECDSA_SHA256 = seq(oid("1.2.840.10045.4.3.2"));

/** A self-signed ECDSA P-256 certificate for a server reached by these names and addresses. */
export function createSelfSigned(opts: {
  commonName: string;
  dnsNames?: string[];
  ips?: string[];
  days?: number;
  now?: Date;
}): SelfSigned {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const now = opts.now ?? new Date();
  const notBefore = new Date(now.getTime() - 5 * 60_000);
  const notAfter = new Date(now.getTime() + (opts.days ?? 30) * 86_400_000);
  const name = seq(set(seq(oid("2.5.4.3"), utf8(opts.commonName))));
  const ips = (opts.ips ?? []).map((a) => a.replace(/%.*$/, "")).filter((a) => isIP(a));
  const altNames = [
    ...(opts.dnsNames ?? []).map((d) => tlv(0x82, Buffer.from(d, "ascii"))),
    ...ips.map((a) => tlv(0x87, ipBytes(a))),
  ];
  const ext = (id: string, critical: boolean, value: Buffer) =>
    seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));
  const extensions = [
    ext("2.5.29.19", true, seq()), // basicConstraints: not a CA
    ext("2.5.29.15", true, tlv(0x03, Buffer.from([0x07, 0x80]))), // keyUsage: digitalSignature
    ext("2.5.29.37", false, seq(oid("1.3.6.1.5.5.7.3.1"))), // extKeyUsage: serverAuth
    ...(altNames.length ? [ext("2.5.29.17", false, seq(...altNames))] : []),
  ];
  const serial = randomBytes(16);
  serial[0] = (serial[0] as number) & 0x7f;
  const tbs = seq(
    ctx(0, integer(Buffer.from([2]))), // v3
    integer(serial),
    ECDSA_SHA256,
    name,
    seq(time(notBefore), time(notAfter)),
    name,
    publicKey.export({ type: "spki", format: "der" }),
    ctx(3, seq(...extensions)),
  );
  const signature = sign("sha256", tbs, privateKey);
  const der = seq(tbs, ECDSA_SHA256, bitString(signature));
  const certPem = `-----BEGIN CERTIFICATE-----\n${der
    .toString("base64")
    .replace(/.{64}/g, "$&\n")
    .replace(/\n?$/, "\n")}-----END CERTIFICATE-----\n`;
  const cert = new X509Certificate(certPem);
  return {
    certPem,
    keyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    fingerprint: cert.fingerprint256,
  };
}
