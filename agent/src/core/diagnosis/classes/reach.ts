import type { JournalRecord } from "../../journalBoots.js";
import { MESSAGE_ID } from "../../journalBoots.js";
import type { BootFacts } from "../types.js";

/**
 * Whether a boot could be reached and logged into, from its journal: for a server that, not
 * multi-user.target, is a good boot. Unit names are NixOS's (nixos/modules/services/networking/ssh/sshd.nix:
 * sshd.service, sshd.socket and sshd@.service with startWhenNeeded; tasks/network-interfaces-scripted.nix:
 * network-addresses-<if>.service, network-link-<if>.service, network-setup.service, bound to
 * sys-subsystem-net-devices-<if>.device; services/networking/dhcpcd.nix; systemd-networkd).
 */
export const SSHD_UNIT = /^sshd(?:@[^/]*)?\.(?:service|socket)$/;
export const NETWORK_UNIT =
  /^(?:network-(?:addresses|link)-[^/]+\.service|network-setup\.service|dhcpcd\.service|systemd-networkd(?:-wait-online)?\.service|sys-subsystem-net-devices-[^/]+\.device)$/;
const EMERGENCY_UNITS = ["emergency.target", "emergency.service", "rescue.target", "rescue.service"];

/** OpenSSH's identifiers: sshd, and sshd-session for per-connection lines since OpenSSH 9.8. */
const isSshd = (r: JournalRecord) => r.identifier === "sshd" || r.identifier === "sshd-session";

/** "Reached target emergency.target - Emergency Mode." / "Started emergency.service - Emergency Shell." */
export function emergencyRecord(b: BootFacts): JournalRecord | null {
  return (
    (b.notable ?? []).find(
      (r) => r.messageId === MESSAGE_ID.unitStarted && r.unit !== null && EMERGENCY_UNITS.includes(r.unit),
    ) ?? null
  );
}

export interface LoginLine {
  user: string;
  record: JournalRecord;
}

/** sshd's (OpenSSH auth.c / auth2.c) "Accepted <method> for <user> from …" and the refusals. */
export function logins(b: BootFacts): { accepted: LoginLine[]; refused: LoginLine[] } {
  const accepted: LoginLine[] = [];
  const refused: LoginLine[] = [];
  for (const r of b.notable ?? []) {
    if (!isSshd(r)) continue;
    const a = /^Accepted \S+ for (\S+) from /.exec(r.message);
    if (a) {
      accepted.push({ user: a[1] as string, record: r });
      continue;
    }
    const f =
      /^Failed \S+ for (?:invalid user )?(\S+) from /.exec(r.message) ??
      /^Connection closed by authenticating user (\S+) /.exec(r.message) ??
      /^(?:error: )?maximum authentication attempts exceeded for (\S+) from /.exec(r.message);
    if (f) refused.push({ user: f[1] as string, record: r });
  }
  return { accepted, refused };
}

/**
 * Why a boot could not be reached or logged into (empty: nothing says it could not). `knownUsers`
 * are the users who logged in on some boot: refusals of anyone else are the internet's background
 * noise, not the operator locked out.
 */
export function unreachableReasons(b: BootFacts, knownUsers: Set<string>): string[] {
  const out: string[] = [];
  const failed = b.failedUnits.map((f) => f.unit);
  const em = emergencyRecord(b);
  if (em) out.push(`emergency mode (${em.unit})`);
  const sshd = failed.filter((u) => SSHD_UNIT.test(u));
  if (sshd.length) out.push(`${sshd.join(", ")} failed`);
  const net = failed.filter((u) => NETWORK_UNIT.test(u));
  if (net.length) out.push(`${net.join(", ")} failed`);
  const l = logins(b);
  if (l.accepted.length === 0) {
    const locked = [...new Set(l.refused.map((x) => x.user).filter((u) => knownUsers.has(u)))];
    if (locked.length)
      out.push(
        `every login of ${locked.join(", ")} was refused (${l.refused.length} refused, none accepted)`,
      );
  }
  return out;
}

export function knownUsers(boots: BootFacts[]): Set<string> {
  return new Set(boots.flatMap((b) => logins(b).accepted.map((a) => a.user)));
}
