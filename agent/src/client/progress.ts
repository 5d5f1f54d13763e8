import type { Connection } from "./http.js";

type Json = Record<string, unknown>;

interface Busy {
  name: string;
  kind: "change" | "reading";
  step: string | null;
  steps: string[];
  waitingFor: string[];
}

/**
 * Run a long request while printing, on stderr, what the agent does meanwhile (from /v1/status):
 * each finished step once, the readers a change waits for, the diagnosis' progress. Information,
 * not warnings: plain lines, indented.
 */
export async function withProgress<T>(
  c: Connection,
  err: (s: string) => void,
  work: Promise<T>,
  intervalMs = 1_000,
): Promise<T> {
  let done = false;
  let shownSteps = 0;
  let lastLine = "";
  const say = (line: string) => {
    if (line === lastLine) return;
    lastLine = line;
    err(`  ${line}\n`);
  };
  const poll = async () => {
    await new Promise((r) => setTimeout(r, Math.min(intervalMs, 300)));
    while (!done) {
      const s = await c
        .json<Json & { busy: Busy | null; diagnosis?: Json }>("GET", "/v1/status")
        .catch(() => null);
      if (done) break;
      const b = s?.busy;
      if (b?.kind === "change") {
        if (b.steps.length < shownSteps) shownSteps = 0;
        for (const step of b.steps.slice(shownSteps)) say(`done: ${step}`);
        shownSteps = b.steps.length;
        if (b.waitingFor.length) say(`waiting for ${b.waitingFor.join(", ")} to finish`);
        else if (b.step) say(`${b.step}…`);
      } else if (s?.diagnosis?.state === "running") {
        const since = Date.parse(String(s.diagnosis.since ?? ""));
        const secs = Number.isFinite(since) ? Math.max(0, Math.round((Date.now() - since) / 1000)) : 0;
        say(
          `diagnosing (${secs < 10 ? "a few" : `${Math.round(secs / 10) * 10}`} s): ${String(s.diagnosis.step ?? "reading")}`,
        );
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  };
  const polling = poll();
  try {
    return await work;
  } finally {
    done = true;
    await polling;
  }
}
