import { X509Certificate } from "node:crypto";
import type { System } from "../system/system.js";
import { createSelfSigned } from "./x509.js";

export interface TlsMaterial {
  key: string;
  cert: string;
  fingerprint: string;
  origin: "file" | "generated";
}

/**
 * The agent's certificate: the one in `dir` while it is valid for another day (so a restarted
 * agent keeps the fingerprint the operator already checked), else a new self-signed one, key 0600.
 */
export async function ensureCertificate(
  sys: System,
  dir: string,
  names: { ips: string[]; dnsNames: string[] },
  now = new Date(),
): Promise<TlsMaterial> {
  const [certPem, keyPem] = await Promise.all([
    sys.readFile(`${dir}/cert.pem`).then((b) => b?.toString("utf8") ?? null),
    sys.readFile(`${dir}/key.pem`).then((b) => b?.toString("utf8") ?? null),
  ]);
  if (certPem && keyPem) {
    try {
      const x = new X509Certificate(certPem);
      if (new Date(x.validTo).getTime() > now.getTime() + 86_400_000)
        return { key: keyPem, cert: certPem, fingerprint: x.fingerprint256, origin: "file" };
    } catch {
      // Unreadable: replaced below.
    }
  }
  const made = createSelfSigned({ commonName: "lifeboat", dnsNames: names.dnsNames, ips: names.ips, now });
  await sys.mkdir(dir);
  await sys.writeFile(`${dir}/key.pem`, made.keyPem, 0o600);
  await sys.writeFile(`${dir}/cert.pem`, made.certPem, 0o644);
  return { key: made.keyPem, cert: made.certPem, fingerprint: made.fingerprint, origin: "generated" };
}
