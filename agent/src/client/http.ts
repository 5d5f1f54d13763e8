import { request as httpRequest, type IncomingMessage } from "node:http";
import { isIP } from "node:net";
import { type TLSSocket, connect as tlsConnect } from "node:tls";
import { type SseEvent, SseParser } from "../ui/sse.js";

export interface Target {
  scheme: "http" | "https";
  host: string;
  port: number;
  /** SHA-256 of the server's certificate (hex, any case, colons optional); required for https. */
  fingerprint: string | null;
}

export class ClientError extends Error {
  constructor(
    message: string,
    readonly status = 0,
    readonly code = "client",
    readonly problem: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** `addr`, `addr:port`, `[v6]:port`, or a URL; port 8080 unless given. */
export function parseHost(value: string, fingerprint: string | null): Target {
  let v = value.trim();
  let scheme: Target["scheme"] = fingerprint ? "https" : "http";
  const m = /^(https?):\/\//i.exec(v);
  if (m) {
    scheme = (m[1] as string).toLowerCase() as Target["scheme"];
    v = v.slice(m[0].length).replace(/\/.*$/, "");
  }
  const hp = /^\[([^\]]+)\](?::(\d+))?$/.exec(v) ?? /^([^:]+)(?::(\d+))?$/.exec(v);
  const host = hp ? (hp[1] as string) : isIP(v) === 6 ? v : "";
  if (!host) throw new ClientError(`--host wants ADDR[:PORT], got ${JSON.stringify(value)}`, 0, "usage");
  const port = hp?.[2] ? Number(hp[2]) : 8080;
  if (!(port > 0 && port < 65536)) throw new ClientError(`bad port in --host ${value}`, 0, "usage");
  return { scheme, host, port, fingerprint };
}

export const normalizeFingerprint = (f: string) => f.replace(/[^0-9a-f]/gi, "").toUpperCase();

export interface Reply {
  status: number;
  headers: IncomingMessage["headers"];
  body: string;
}

/**
 * The agent over HTTP(S). With https the certificate is self-signed, so instead of a CA check the
 * connection is pinned to the fingerprint shown on the console, and checked before any byte (and
 * so the token) is sent.
 */
export class Connection {
  constructor(
    readonly target: Target,
    private readonly token: string,
    private readonly timeoutMs = 120_000,
  ) {}

  private async socket(): Promise<TLSSocket | undefined> {
    const t = this.target;
    if (t.scheme === "http") return undefined;
    const sock = tlsConnect({
      host: t.host,
      port: t.port,
      rejectUnauthorized: false,
      ...(isIP(t.host) ? {} : { servername: t.host }),
    });
    await new Promise<void>((resolve, reject) => {
      sock.once("secureConnect", resolve);
      sock.once("error", (e) =>
        reject(new ClientError(`cannot connect to ${t.host}:${t.port}: ${e.message}`)),
      );
    });
    const got = normalizeFingerprint(sock.getPeerCertificate().fingerprint256 ?? "");
    const pretty = got.replace(/(..)(?!$)/g, "$1:");
    if (!t.fingerprint) {
      sock.destroy();
      throw new ClientError(
        `the agent's certificate is self-signed: compare its fingerprint with the console and pass --fingerprint ${pretty}`,
        0,
        "fingerprint-required",
      );
    }
    if (got !== normalizeFingerprint(t.fingerprint)) {
      sock.destroy();
      throw new ClientError(
        `certificate fingerprint mismatch: the server presented ${pretty}, not the one given with --fingerprint. Nothing was sent.`,
        0,
        "fingerprint-mismatch",
      );
    }
    return sock;
  }

  private async open(
    method: string,
    path: string,
    body: unknown,
    headers: Record<string, string>,
  ): Promise<IncomingMessage> {
    const sock = await this.socket();
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = httpRequest({
        host: this.target.host,
        port: this.target.port,
        method,
        path,
        agent: false,
        ...(sock ? { createConnection: () => sock } : {}),
        headers: {
          authorization: `Bearer ${this.token}`,
          accept: "application/json",
          ...(payload
            ? { "content-type": "application/json", "content-length": String(payload.length) }
            : {}),
          ...headers,
        },
      });
      req.setTimeout(this.timeoutMs, () => req.destroy(new Error("timed out")));
      req.on("response", resolve);
      req.on("error", (e) =>
        reject(
          new ClientError(
            `cannot reach the agent at ${this.target.host}:${this.target.port}: ${(e as Error).message}`,
            0,
            "network",
          ),
        ),
      );
      req.end(payload);
    });
  }

  async request(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Reply> {
    const res = await this.open(method, path, body, headers);
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const reply = {
      status: res.statusCode ?? 0,
      headers: res.headers,
      body: Buffer.concat(chunks).toString("utf8"),
    };
    if (reply.status >= 400) throw problemError(reply);
    return reply;
  }

  async json<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<T> {
    const r = await this.request(method, path, body, headers);
    return (r.body ? JSON.parse(r.body) : null) as T;
  }

  /** Server-Sent Events until the server ends the stream. */
  async stream(path: string, onEvent: (e: SseEvent) => void): Promise<void> {
    const res = await this.open("GET", path, undefined, { accept: "text/event-stream" });
    if ((res.statusCode ?? 0) >= 400) {
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      throw problemError({
        status: res.statusCode ?? 0,
        headers: res.headers,
        body: Buffer.concat(chunks).toString(),
      });
    }
    const parser = new SseParser(onEvent);
    res.setEncoding("utf8");
    for await (const c of res) parser.push(c as string);
    parser.end();
  }
}

function problemError(r: Reply): ClientError {
  let p: Record<string, unknown> = {};
  try {
    p = JSON.parse(r.body) as Record<string, unknown>;
  } catch {
    p = {};
  }
  const title = typeof p.title === "string" ? `${p.title}: ` : "";
  const detail = typeof p.detail === "string" ? p.detail : `HTTP ${r.status}`;
  return new ClientError(
    `${title}${detail}`,
    r.status,
    typeof p.code === "string" ? p.code : `http-${r.status}`,
    p,
  );
}
