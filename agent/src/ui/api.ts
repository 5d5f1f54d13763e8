import { type SseEvent, SseParser } from "./sse.js";

/** A problem+json answer (or a network failure) as an Error with the stable code. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly problem: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export interface Answer<T> {
  data: T;
  res: Response;
}

/**
 * The agent's API. The token travels in the Authorization header only (never in a URL), so it
 * does not end up in logs, history or Referer headers.
 */
export class Api {
  constructor(
    private readonly token: string,
    private readonly onUnauthorized: () => void,
  ) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { authorization: `Bearer ${this.token}`, accept: "application/json", ...extra };
  }

  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    extra: Record<string, string> = {},
  ): Promise<Answer<T>> {
    let res: Response;
    try {
      res = await fetch(path, {
        method,
        headers: this.headers(body === undefined ? extra : { "content-type": "application/json", ...extra }),
        body: body === undefined ? null : JSON.stringify(body),
        cache: "no-store",
      });
    } catch {
      throw new ApiError(
        0,
        "network",
        "The rescue agent cannot be reached (network down, or the machine is restarting).",
      );
    }
    const text = await res.text();
    let data: unknown = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = text;
    }
    if (!res.ok) {
      const p = (data && typeof data === "object" ? data : {}) as Record<string, unknown>;
      if (res.status === 401) this.onUnauthorized();
      const code = typeof p.code === "string" ? p.code : `http-${res.status}`;
      const msg = typeof p.detail === "string" ? p.detail : `${res.status} ${res.statusText}`;
      throw new ApiError(res.status, code, msg, p);
    }
    return { data: data as T, res };
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>("GET", path).then((a) => a.data);
  }
  post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.request<T>("POST", path, body).then((a) => a.data);
  }

  /** Server-Sent Events read with fetch (EventSource cannot send the Authorization header). */
  async stream(path: string, onEvent: (e: SseEvent) => void, signal: AbortSignal): Promise<void> {
    const res = await fetch(path, {
      headers: this.headers({ accept: "text/event-stream" }),
      signal,
      cache: "no-store",
    });
    if (!res.ok || !res.body) {
      if (res.status === 401) this.onUnauthorized();
      const p = (await res.json().catch(() => ({}))) as Record<string, unknown>;
      throw new ApiError(
        res.status,
        String(p.code ?? `http-${res.status}`),
        String(p.detail ?? res.statusText),
        p,
      );
    }
    const parser = new SseParser(onEvent);
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      parser.push(value);
    }
    parser.end();
  }
}

/** `a/b c.nix` → `a/b%20c.nix`: each segment encoded, slashes kept. */
export function encodePath(p: string): string {
  return p.split("/").filter(Boolean).map(encodeURIComponent).join("/");
}
