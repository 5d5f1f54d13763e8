import { describe, expect, it } from "vitest";
import { parseKeys, resolveCollectConfig } from "../../agent/src/collector/main.js";
import { resolveConfig } from "../../agent/src/config.js";
import { LifeboatError } from "../../agent/src/core/errors.js";
import { registerSecret } from "../helpers/secrets.js";

const FLEET = "pxe-fleet-callback-token-0123456789";
registerSecret(FLEET);
const FP = `${"AB:".repeat(31)}AB`;

const run = (argv: string[], env: Record<string, string> = {}, cmdline = "") => {
  const a = resolveConfig(argv, env, cmdline);
  if (a.kind !== "run") throw new Error(a.kind);
  return a.config;
};

describe("fleet configuration of the agent", () => {
  it("kernel command line as a PXE server writes it (keys in any case)", () => {
    const c = run(
      [],
      {},
      `BOOT_IMAGE=/bzImage init=/nix/store/x/init lifeboat.callback=https://collector.example:9180/v1/report lifeboat.callbackToken=${FLEET} lifeboat.callbackFingerprint=${FP} lifeboat.metricsToken=${FLEET}-m lifeboat.name=web-07 quiet`,
    );
    expect(c).toMatchObject({
      callback: "https://collector.example:9180/v1/report",
      callbackToken: FLEET,
      callbackFingerprint: FP,
      metricsToken: `${FLEET}-m`,
      name: "web-07",
    });
  });

  it("flags and environment; flags win", () => {
    const c = run(
      [
        "--callback",
        "https://10.0.2.2:9180/v1/report",
        "--advertise",
        "http://127.0.0.1:18080/",
        "--metrics-token-file",
        "/run/m",
      ],
      { LIFEBOAT_CALLBACK: "https://other/", LIFEBOAT_CALLBACK_TOKEN_FILE: "/run/cb", LIFEBOAT_NAME: "db-1" },
    );
    expect(c).toMatchObject({
      callback: "https://10.0.2.2:9180/v1/report",
      callbackTokenFile: "/run/cb",
      metricsTokenFile: "/run/m",
      advertise: "http://127.0.0.1:18080/",
      name: "db-1",
    });
  });

  it("refuses what would leak or cannot work", () => {
    const bad = (argv: string[], cmdline = "") => {
      try {
        run(argv, {}, cmdline);
      } catch (e) {
        expect(e).toBeInstanceOf(LifeboatError);
        return (e as Error).message;
      }
      throw new Error(`accepted ${argv.join(" ")} ${cmdline}`);
    };
    expect(bad(["--callback", "ftp://x/"])).toMatch(/https/);
    expect(bad(["--callback", "https://user:pw@x/"])).toMatch(/credentials/);
    expect(bad(["--callback", "not a url"])).toMatch(/URL/);
    expect(bad([], "lifeboat.callbackToken=short")).toMatch(/16 characters/);
    expect(bad(["--callback-fingerprint", "ABCD"])).toMatch(/SHA-256/);
    expect(bad(["--name", "a b"])).toMatch(/--name/);
    expect(bad(["--metrics-token-file", "relative"])).toMatch(/absolute/);
  });
});

describe("lifeboat collect configuration", () => {
  it("defaults, flags, help; --keys is required", () => {
    expect(resolveCollectConfig(["--keys", "/etc/k"])).toMatchObject({
      host: "0.0.0.0",
      port: 9180,
      keysFile: "/etc/k",
      stateFile: "lifeboat-fleet.json",
      fileSd: null,
      tls: false,
    });
    expect(
      resolveCollectConfig([
        "--keys=/k",
        "--listen",
        "127.0.0.1:9999",
        "--tls",
        "--file-sd",
        "/sd.json",
        "--state",
        "/s",
      ]),
    ).toMatchObject({ host: "127.0.0.1", port: 9999, tls: true, fileSd: "/sd.json", stateFile: "/s" });
    expect(resolveCollectConfig(["--help"])).toBe("help");
    expect(() => resolveCollectConfig([])).toThrow(/--keys/);
    expect(() => resolveCollectConfig(["--keys", "/k", "--bogus"])).toThrow(/unknown option/);
  });
  it("keys file: one per line, comments, each long enough", () => {
    expect(parseKeys(`# fleet\n${FLEET}\n\n  ${FLEET}  \n`)).toEqual([FLEET]);
    expect(() => parseKeys("short\n")).toThrow(/16 characters/);
    expect(() => parseKeys("# nothing\n")).toThrow(/no key/);
  });
});
