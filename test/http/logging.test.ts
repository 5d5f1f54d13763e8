import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { buildServer } from "../../agent/src/http/server.js";
import { REDACT_PATHS } from "../../agent/src/logger.js";
import { LogSink, rig } from "../app/harness.js";
import { registerSecret } from "../helpers/secrets.js";

const TOKEN = "logging-token-0123456789abcdef-SECRET";
const auth = { authorization: `Bearer ${TOKEN}` };
registerSecret(TOKEN);

const open: { close: () => Promise<unknown> }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((a) => a.close()));
});

async function server(level: "info" | "debug") {
  const r = await rig("single");
  const logs = new LogSink();
  let children = 0;
  const logger = pino({ level, redact: { paths: REDACT_PATHS, censor: "[redacted]" } }, logs);
  // Count children made from this logger or any of its descendants (they inherit `child`).
  const child = logger.child;
  logger.child = function (this: typeof logger, ...args: Parameters<typeof child>) {
    children++;
    return child.apply(this, args);
  } as typeof logger.child;
  const app = await buildServer({ token: TOKEN, logger, services: r.services });
  open.push(app);
  await app.ready();
  return { app, logs, children: () => children };
}

const lines = (logs: LogSink) => logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>);

describe("request logging", () => {
  it("at info (the default): status polls log nothing and make no child logger", async () => {
    const { app, logs, children } = await server("info");
    const before = { lines: logs.lines.length, children: children() };
    for (let i = 0; i < 5; i++)
      expect((await app.inject({ url: "/v1/status", headers: auth })).statusCode).toBe(200);
    expect(logs.lines.length).toBe(before.lines);
    expect(children()).toBe(before.children);
  });

  it("at info: a warning of a request still carries its request id", async () => {
    const { app, logs } = await server("info");
    expect(
      (await app.inject({ url: "/v1/status", headers: { authorization: "Bearer nope" } })).statusCode,
    ).toBe(401);
    const warn = lines(logs).find((l) => l.msg === "rejected request without a valid token");
    expect(warn).toMatchObject({ level: 40, reqId: expect.any(String), path: "/v1/status" });
  });

  it("at debug: every request is logged, in and out, with its id; the token never is", async () => {
    const { app, logs } = await server("debug");
    await app.inject({ url: "/v1/status", headers: auth });
    const all = lines(logs);
    const incoming = all.find((l) => l.msg === "incoming request");
    const done = all.find((l) => l.msg === "request completed");
    expect(incoming).toMatchObject({ level: 20, reqId: expect.any(String) });
    expect(done).toMatchObject({ level: 20, reqId: incoming?.reqId, res: { statusCode: 200 } });
    expect(logs.text).not.toContain(TOKEN);
  });
});
