import { describe, expect, it } from "vitest";
import { DEFAULTS, parseListen, resolveConfig } from "../../agent/src/config.js";
import { LifeboatError } from "../../agent/src/core/errors.js";

const run = (argv: string[], env: Record<string, string> = {}, cmdline = "") => {
  const a = resolveConfig(argv, env, cmdline);
  if (a.kind !== "run") throw new Error(a.kind);
  return a.config;
};

describe("configuration", () => {
  it("defaults", () => {
    expect(run([])).toEqual(DEFAULTS);
  });
  it("flags, both forms", () => {
    expect(
      run([
        "--listen",
        "127.0.0.1:9000",
        "--root=/rescue",
        "--auto-mount",
        "readonly",
        "--log-level",
        "debug",
        "--token-file",
        "/tmp/t",
      ]),
    ).toMatchObject({
      host: "127.0.0.1",
      port: 9000,
      root: "/rescue",
      autoMount: "readonly",
      logLevel: "debug",
      tokenFile: "/tmp/t",
    });
    expect(parseListen("[::]:8080")).toEqual({ host: "::", port: 8080 });
    expect(parseListen("8081")).toEqual({ host: "0.0.0.0", port: 8081 });
  });
  it("precedence: flag > kernel command line > environment > default", () => {
    const env = {
      LIFEBOAT_AUTO_MOUNT: "readwrite",
      LIFEBOAT_ROOT: "/a",
      LIFEBOAT_TOKEN: "env-token-0123456789",
    };
    const cmd = "quiet lifeboat.automount=off lifeboat.token=cmdline-token-012345";
    expect(run([], env, cmd)).toMatchObject({ autoMount: "off", root: "/a", token: "cmdline-token-012345" });
    expect(run(["--auto-mount", "readonly"], env, cmd).autoMount).toBe("readonly");
    expect(run([], env).token).toBe("env-token-0123456789");
  });
  it("help and version", () => {
    expect(resolveConfig(["--help"], {}, "").kind).toBe("help");
    expect(resolveConfig(["-V"], {}, "").kind).toBe("version");
  });
  it("bad values are clear errors", () => {
    for (const argv of [
      ["--auto-mount", "yes"],
      ["--listen", "nope"],
      ["--root", "relative"],
      ["--root", "/"],
      ["--bogus"],
      ["--log-level", "loud"],
      ["--listen"],
    ]) {
      expect(() => run(argv), argv.join(" ")).toThrow(LifeboatError);
    }
    expect(() => run([], {}, "lifeboat.token=short")).toThrow(/16 characters/);
  });
});
