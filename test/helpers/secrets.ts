/**
 * Secret scan across a test file: every token and passphrase a test uses is registered, every log
 * line (LogSink) and HTTP response body (recordResponses) is captured, and test/setup/secrets.ts
 * fails the file if any secret shows up in any of them.
 */
const secrets = new Set<string>();
const captured: { where: string; text: string }[] = [];

export function registerSecret(...values: string[]): void {
  for (const v of values) if (v.length >= 8) secrets.add(v);
}

export function capture(where: string, text: string): void {
  captured.push({ where, text });
}

export function leaks(): { secret: string; where: string }[] {
  const out: { secret: string; where: string }[] = [];
  for (const secret of secrets)
    for (const c of captured)
      if (c.text.includes(secret)) out.push({ secret: `${secret.slice(0, 3)}…`, where: c.where });
  return out;
}

/** For the scanner's own test only. */
export function forgetCaptured(): void {
  captured.length = 0;
}

export function scanned(): { secrets: number; texts: number } {
  return { secrets: secrets.size, texts: captured.length };
}

/** Capture every response body a fastify app sends (test servers only). */
export function recordResponses(app: {
  addHook: (
    name: "onSend",
    fn: (req: unknown, reply: unknown, payload: unknown) => Promise<unknown>,
  ) => unknown;
}): void {
  app.addHook("onSend", async (_req, _reply, payload) => {
    if (typeof payload === "string" || Buffer.isBuffer(payload)) capture("http response", payload.toString());
    return payload;
  });
}
