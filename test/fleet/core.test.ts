import { describe, expect, it } from "vitest";
import { ParseError } from "../../agent/src/core/errors.js";
import { DEFAULT_RETRY, retryDelayMs } from "../../agent/src/core/fleet/backoff.js";
import {
  acceptReport,
  agentUrl,
  type FleetState,
  hostKey,
  parseFleetState,
  serviceDiscovery,
} from "../../agent/src/core/fleet/fleet.js";
import { parseHostsFile } from "../../agent/src/core/fleet/hosts.js";
import {
  buildReport,
  type FleetReport,
  parseReport,
  problemsOf,
  type ReportParts,
} from "../../agent/src/core/fleet/report.js";
import { keyIdOf, signatureMatches, signBody, verifyReport } from "../../agent/src/core/fleet/sign.js";
import { registerSecret } from "../helpers/secrets.js";

// Constructed inputs: the report is this project's own format (no external tool prints it).
const KEY = "core-test-fleet-key-0123456789-SECRET";
registerSecret(KEY);

function parts(over: Partial<ReportParts> = {}): ReportParts {
  return {
    bootId: "0b6f2f0e-4f54-4d7e-9d59-3a3f1f0d2c11",
    seq: 1,
    sentAt: "2026-11-30T00:00:00.000Z",
    reason: "start",
    agent: {
      version: "0.1.0",
      urls: ["http://192.0.2.10:8080/"],
      advertise: null,
      tlsFingerprint: null,
      tokenId: keyIdOf("api-token-of-atlas-0123456789"),
      metricsTokenId: null,
    },
    host: {
      name: null,
      machineId: "4e94ca0830aecd9a467e26d22b49108a",
      hostname: "atlas",
      dmiSerial: "To Be Filled By O.E.M.",
      productUuid: "00000000-0000-0000-0000-000000000000",
      macs: ["52:54:00:12:34:56"],
      addresses: ["192.0.2.10"],
    },
    phase: "mounted-ro",
    summary: "The installed system is mounted read-only at /mnt.",
    autoMount: { state: "mounted", detail: "mounted: zfs:nvmepool (read-only)" },
    busy: null,
    pools: [{ name: "nvmepool", state: "ONLINE", imported: true }],
    mounted: { source: "nvmepool/root", readonly: true, count: 5 },
    warnings: [],
    jobs: [],
    ...over,
  };
}

const report = (over: Partial<ReportParts> = {}) => buildReport(parts(over));

describe("phone-home report", () => {
  it("round-trips through the collector's parser", () => {
    const r = report();
    expect(parseReport(JSON.stringify(r))).toEqual(r);
  });

  it("the builder bounds what came from disks and stderr: control characters, long texts, long lists", () => {
    const r = report({
      warnings: Array.from({ length: 80 }, (_, i) => `warning ${i}\n\u001b[31mred\u0000${"x".repeat(2000)}`),
      host: { ...parts().host, hostname: "evil\u0007host" },
    });
    expect(r.warnings).toHaveLength(50);
    expect(r.warnings[0]).not.toMatch(/\p{Cc}/u);
    expect(r.warnings[0]?.length).toBeLessThanOrEqual(512);
    const text = JSON.stringify(r);
    expect(Buffer.byteLength(text)).toBeLessThan(64 * 1024);
    expect(parseReport(text).warnings).toHaveLength(50);
  });

  it("the parser refuses what the builder never makes", () => {
    const ok = JSON.parse(JSON.stringify(report())) as Record<string, any>;
    const bad: [string, (r: Record<string, any>) => void][] = [
      ["version", (r) => (r.v = 2)],
      ["control characters", (r) => (r.summary = "a\u001b[2Jb")],
      ["javascript: URL", (r) => (r.agent.urls = ["javascript:alert(1)"])],
      ["URL with credentials", (r) => (r.agent.advertise = "http://u:p@192.0.2.1/")],
      ["phase", (r) => (r.phase = "pwned")],
      ["seq", (r) => (r.seq = 0)],
      ["token id", (r) => (r.agent.tokenId = "the-token-itself")],
      ["too many pools", (r) => (r.pools = Array.from({ length: 40 }, () => r.pools[0]))],
      ["mac", (r) => (r.host.macs = ["<script>"])],
      ["name", (r) => (r.host.name = "a b")],
    ];
    for (const [what, mutate] of bad) {
      const r = structuredClone(ok);
      mutate(r);
      expect(() => parseReport(JSON.stringify(r)), what).toThrow(ParseError);
    }
    expect(() => parseReport("{")).toThrow(ParseError);
    expect(() => parseReport(`"${"a".repeat(70_000)}"`)).toThrow(/larger than/);
  });

  it("what is wrong: phase, auto-mount, pools, failed jobs, warnings (no duplicates)", () => {
    expect(problemsOf(report())).toEqual([]);
    const r = report({
      phase: "found",
      autoMount: { state: "waiting", detail: "pool-in-use-elsewhere: …" },
      pools: [{ name: "nvmepool", state: "DEGRADED", imported: false }],
      warnings: ["pool nvmepool is DEGRADED: nvme1n1p1 CANT_OPEN"],
      jobs: [{ id: "j1", kind: "rebuild", state: "failed", title: "nixos-rebuild boot" }],
    });
    expect(problemsOf(r)).toEqual([
      "auto-mount waiting: pool-in-use-elsewhere: …",
      "pool nvmepool is DEGRADED",
      "rebuild job failed",
    ]);
  });
});

describe("signature", () => {
  const body = JSON.stringify(report());
  it("HMAC-SHA256 over the exact bytes; the key id is the audit's token id, never the key", () => {
    const sig = signBody(body, KEY);
    expect(sig).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(signatureMatches(body, KEY, sig)).toBe(true);
    expect(keyIdOf(KEY)).toMatch(/^tok-[0-9a-f]{8}$/);
    expect(sig).not.toContain(KEY);
    expect(verifyReport(body, ["another-key-0123456789abc", KEY], keyIdOf(KEY), sig)).toEqual({
      keyId: keyIdOf(KEY),
    });
  });
  it("a tampered body, another key, a wrong key id or a malformed header does not verify", () => {
    const sig = signBody(body, KEY);
    expect(verifyReport(body.replace("mounted-ro", "mounted-rw"), [KEY], keyIdOf(KEY), sig)).toBeNull();
    expect(verifyReport(body, ["another-key-0123456789abc"], keyIdOf(KEY), sig)).toBeNull();
    expect(verifyReport(body, [KEY], "tok-00000000", sig)).toBeNull();
    for (const h of [undefined, "", "sha256=", sig.toUpperCase(), `${sig}0`, sig.replace("sha256", "sha1")])
      expect(signatureMatches(body, KEY, h)).toBe(false);
  });
});

describe("retry delays", () => {
  it("exponential with full jitter in [cap/2, cap], capped", () => {
    const p = DEFAULT_RETRY;
    expect(retryDelayMs(1, p, () => 0)).toBe(1000);
    expect(retryDelayMs(1, p, () => 1)).toBe(2000);
    expect(retryDelayMs(3, p, () => 1)).toBe(8000);
    expect(retryDelayMs(50, p, () => 1)).toBe(60_000);
    expect(retryDelayMs(50, p, () => 0)).toBe(30_000);
    const seen = new Set(Array.from({ length: 50 }, () => retryDelayMs(2, p)));
    expect(seen.size).toBeGreaterThan(10);
  });
});

describe("fleet list", () => {
  const meta = { source: "192.0.2.10", keyId: keyIdOf(KEY), now: new Date("2026-11-30T00:00:05Z") };
  const accept = (s: FleetState, r: FleetReport) => acceptReport(s, r, meta);

  it("host identity: given name, real serial, product UUID, lowest MAC, else the run", () => {
    expect(hostKey(report({ host: { ...parts().host, name: "web-07" } }))).toBe("name:web-07");
    expect(hostKey(report({ host: { ...parts().host, dmiSerial: "CZ2D1234XY" } }))).toBe("serial:CZ2D1234XY");
    expect(hostKey(report())).toBe("mac:52:54:00:12:34:56"); // placeholder serial, all-zero UUID
    expect(
      hostKey(report({ host: { ...parts().host, productUuid: "4c4c4544-0042-3510-8052-b4c04f564433" } })),
    ).toBe("uuid:4c4c4544-0042-3510-8052-b4c04f564433");
    expect(hostKey(report({ host: { ...parts().host, macs: [] } }))).toBe(`boot:${parts().bootId}`);
  });

  it("accepts newer reports, refuses replays of the run and of superseded runs", () => {
    let s: FleetState = { hosts: [] };
    const a = accept(s, report());
    expect(a.ok).toBe(true);
    s = a.ok ? a.state : s;
    expect(accept(s, report()).ok).toBe(false); // same seq
    const b = accept(s, report({ seq: 2, phase: "mounted-rw" }));
    expect(b.ok && b.changed).toBe(true);
    s = b.ok ? b.state : s;
    const reboot = accept(s, report({ bootId: "9b6f2f0e-4f54-4d7e-9d59-3a3f1f0d2c11", seq: 1 }));
    expect(reboot.ok).toBe(true);
    s = reboot.ok ? reboot.state : s;
    expect(s.hosts).toHaveLength(1);
    const old = accept(s, report({ seq: 3 }));
    expect(old.ok).toBe(false);
    expect(old.ok ? "" : old.reason).toMatch(/earlier run/);
  });

  it("the agent's URL: advertised, else the one on the report's source address, https first with TLS", () => {
    expect(agentUrl(report(), "192.0.2.10")).toBe("http://192.0.2.10:8080/");
    expect(agentUrl(report(), "::ffff:198.51.100.7")).toBe("http://198.51.100.7:8080/");
    expect(agentUrl(report(), "127.0.0.1")).toBe("http://192.0.2.10:8080/");
    const adv = report({ agent: { ...parts().agent, advertise: "http://127.0.0.1:18080/" } });
    expect(agentUrl(adv, "192.0.2.10")).toBe("http://127.0.0.1:18080/");
    const tls = report({
      agent: {
        ...parts().agent,
        urls: ["http://192.0.2.10:8080/", "https://192.0.2.10:8080/"],
        tlsFingerprint: Array.from({ length: 32 }, () => "AB").join(":"),
      },
    });
    expect(agentUrl(tls, "192.0.2.10")).toBe("https://192.0.2.10:8080/");
  });

  it("Prometheus service discovery: host:port targets, scheme and path as labels", () => {
    const a = accept({ hosts: [] }, report());
    const s = a.ok ? a.state : { hosts: [] };
    expect(serviceDiscovery(s)).toEqual([
      {
        targets: ["192.0.2.10:8080"],
        labels: {
          __scheme__: "http",
          __metrics_path__: "/metrics",
          lifeboat_host: "atlas",
          lifeboat_key: "mac:52:54:00:12:34:56",
          lifeboat_machine_id: "4e94ca0830aecd9a467e26d22b49108a",
        },
      },
    ]);
  });

  it("the state file is re-checked when read back: a bad entry is dropped, not trusted", () => {
    const a = accept({ hosts: [] }, report());
    const s = a.ok ? a.state : { hosts: [] };
    const text = JSON.stringify({
      v: 1,
      hosts: [...s.hosts, { ...s.hosts[0], report: { v: 1, phase: "x" } }, 7],
    });
    const back = parseFleetState(text);
    expect(back.dropped).toBe(2);
    expect(back.state.hosts.map((h) => h.key)).toEqual(["mac:52:54:00:12:34:56"]);
    expect(() => parseFleetState("not json")).toThrow(ParseError);
  });
});

describe("hosts file", () => {
  it("one server per line, fields, comments; or the collector's JSON", () => {
    const hosts = parseHostsFile(
      "# rescued after the bad deploy\n192.0.2.10  name=atlas token=tok-in-file-0123456789\n\n[2001:db8::7]:8443 fingerprint=AB:CD # v6\nhttps://192.0.2.12:8080/ name=hermes\n",
    );
    expect(hosts).toEqual([
      {
        name: "atlas",
        address: "192.0.2.10",
        fingerprint: null,
        token: "tok-in-file-0123456789",
        tokenId: null,
      },
      {
        name: "[2001:db8::7]:8443",
        address: "[2001:db8::7]:8443",
        fingerprint: "AB:CD",
        token: null,
        tokenId: null,
      },
      { name: "hermes", address: "https://192.0.2.12:8080/", fingerprint: null, token: null, tokenId: null },
    ]);
    expect(
      parseHostsFile(
        JSON.stringify({
          hosts: [
            { name: "atlas", url: "http://192.0.2.10:8080/", tokenId: "tok-12345678", tlsFingerprint: null },
            { name: "x", url: null },
          ],
        }),
      ),
    ).toEqual([
      {
        name: "atlas",
        address: "http://192.0.2.10:8080/",
        fingerprint: null,
        token: null,
        tokenId: "tok-12345678",
      },
    ]);
    expect(() => parseHostsFile("a b\n")).toThrow(/more than one address/);
    expect(() => parseHostsFile("name=x\n")).toThrow(/no address/);
  });
});
