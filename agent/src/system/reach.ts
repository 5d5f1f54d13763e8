import { lookup } from "node:dns/promises";

export interface ReachResult {
  url: string;
  host: string;
  dns: string | null;
  http: number | null;
  error: string | null;
  ms: number;
}

/** DNS + HTTP reach of each URL (`<substituter>/nix-cache-info`), each bounded by a timeout. */
export async function checkReach(urls: string[], timeoutMs = 8_000): Promise<ReachResult[]> {
  return Promise.all(
    urls.map(async (url) => {
      const started = performance.now();
      let host = "";
      let dns: string | null = null;
      try {
        host = new URL(url).hostname;
        dns = (await lookup(host)).address;
        const res = await fetch(`${url.replace(/\/+$/, "")}/nix-cache-info`, {
          method: "GET",
          signal: AbortSignal.timeout(timeoutMs),
          redirect: "manual",
        });
        await res.body?.cancel();
        return { url, host, dns, http: res.status, error: null, ms: Math.round(performance.now() - started) };
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        return {
          url,
          host,
          dns,
          http: null,
          error: e.code ?? e.name ?? "error",
          ms: Math.round(performance.now() - started),
        };
      }
    }),
  );
}
