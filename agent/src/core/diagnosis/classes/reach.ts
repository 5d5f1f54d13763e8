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

/** Addresses sshd accepted a login from ("Accepted … for <user> from <addr> port …"). */
export function loginAddresses(b: BootFacts): string[] {
  return logins(b).accepted.flatMap((a) => {
    const m = / from (\S+) port \d+/.exec(a.record.message);
    return m ? [m[1] as string] : [];
  });
}

/** The ports sshd listened on in a boot ("Server listening on 0.0.0.0 port 22."); [22] when it does not say. */
export function sshdPorts(b: BootFacts): number[] {
  const ports = new Set<number>();
  for (const r of b.notable ?? []) {
    if (!isSshd(r)) continue;
    const m = /^Server listening on \S+ port (\d+)\.$/.exec(r.message);
    if (m) ports.add(Number(m[1]));
  }
  return ports.size ? [...ports] : [22];
}

export interface FirewallDrop {
  src: string;
  port: number;
  record: JournalRecord;
}

/**
 * TCP connections the NixOS firewall refused: its nixos-fw-log-refuse chain logs them with
 * `-j LOG --log-level info --log-prefix "refused connection: "` (nixpkgs
 * nixos/modules/services/networking/firewall-iptables.nix, logRefusedConnections, on by default),
 * which the kernel's nf_log_syslog writes as "refused connection: IN=… SRC=<a> DST=… PROTO=TCP SPT=… DPT=<p> …".
 */
export function firewallDrops(b: BootFacts): FirewallDrop[] {
  const out: FirewallDrop[] = [];
  for (const r of b.notable ?? []) {
    if (r.transport !== "kernel") continue;
    const m = /^refused connection: .*\bSRC=(\S+) .*\bPROTO=TCP SPT=\d+ DPT=(\d+)\b/.exec(r.message);
    if (m) out.push({ src: m[1] as string, port: Number(m[2]), record: r });
  }
  return out;
}

/** Connections to sshd the firewall dropped from addresses that logged in on some boot (none accepted on this one). */
export function sshDropped(b: BootFacts, knownAddrs: Set<string>): FirewallDrop[] {
  if (logins(b).accepted.length) return [];
  const ports = sshdPorts(b);
  return firewallDrops(b).filter((d) => ports.includes(d.port) && knownAddrs.has(d.src));
}

/**
 * Why a boot could not be reached or logged into (empty: nothing says it could not). `knownUsers`
 * are the users who logged in on some boot: refusals of anyone else are the internet's background
 * noise, not the operator locked out.
 */
export function unreachableReasons(
  b: BootFacts,
  knownUsers: Set<string>,
  knownAddrs: Set<string> = new Set(),
): string[] {
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
  const dropped = sshDropped(b, knownAddrs);
  if (dropped.length)
    out.push(
      `the firewall refused ${dropped.length} SSH connection${dropped.length === 1 ? "" : "s"} from ${[...new Set(dropped.map((d) => d.src))].join(", ")}, which logged in before`,
    );
  return out;
}

export function knownUsers(boots: BootFacts[]): Set<string> {
  return new Set(boots.flatMap((b) => logins(b).accepted.map((a) => a.user)));
}

export function knownAddresses(boots: BootFacts[]): Set<string> {
  return new Set(boots.flatMap((b) => loginAddresses(b)));
}
