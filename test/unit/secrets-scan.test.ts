import { describe, expect, it } from "vitest";
import { LogSink } from "../app/harness.js";
import { capture, forgetCaptured, leaks, registerSecret, scanned } from "../helpers/secrets.js";

describe("the secret scan itself", () => {
  it("finds a registered secret in a captured log line, and only then", () => {
    registerSecret("canary-secret-0123456789");
    const sink = new LogSink();
    sink.write('{"msg":"nothing to see"}\n');
    expect(leaks()).toEqual([]);
    capture("test", "oops canary-secret-0123456789 leaked");
    expect(leaks()).toEqual([{ secret: "can…", where: "test" }]);
    expect(scanned().texts).toBeGreaterThan(1);
    forgetCaptured();
  });
});
