import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { type NetworkInterfaceInfo, networkInterfaces } from "node:os";
import { parseListen } from "../config.js";
import { help } from "../help.js";
import { VERSION } from "../version.js";
import { type BannerInput, bannerUrls, renderBanner } from "./banner.js";

export interface BannerDeps {
  interfaces: () => NodeJS.Dict<NetworkInterfaceInfo[]>;
  readText: (path: string) => Promise<string | null>;
  write: (s: string) => void;
  /** Resolves after `ms`, or false when the watch should stop. */
  wait: (ms: number) => Promise<boolean>;
}

const realDeps: BannerDeps = {
  interfaces: networkInterfaces,
  readText: (p) => readFile(p, "utf8").catch(() => null),
  write: (s) => void process.stdout.write(s),
  wait: (ms) => new Promise((r) => setTimeout(() => r(true), ms)),
};

export function fingerprintOf(pem: string | null): string | null {
  if (!pem) return null;
  try {
    return new X509Certificate(pem).fingerprint256;
  } catch {
    return null;
  }
}

export async function runBanner(
  argv: string[],
  env = process.env,
  deps: BannerDeps = realDeps,
): Promise<number> {
  let tokenFile = env.LIFEBOAT_TOKEN_FILE ?? "/run/lifeboat/token";
  let tlsDir = env.LIFEBOAT_TLS_DIR ?? "/run/lifeboat/tls";
  let port = env.LIFEBOAT_LISTEN ? parseListen(env.LIFEBOAT_LISTEN).port : 8080;
  let qr = true;
  let watch = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--token-file") tokenFile = argv[++i] ?? tokenFile;
    else if (a === "--port") port = Number(argv[++i]);
    else if (a === "--listen") port = parseListen(argv[++i] ?? "").port;
    else if (a === "--tls-dir") tlsDir = argv[++i] ?? tlsDir;
    else if (a === "--no-qr") qr = false;
    else if (a === "--watch") watch = true;
    else if (a === "-h" || a === "--help") {
      deps.write(help("banner"));
      return 0;
    } else {
      process.stderr.write(`lifeboat banner: unknown option ${a}\n${help("banner")}`);
      return 2;
    }
  }
  if (!(port > 0 && port < 65536)) {
    process.stderr.write("lifeboat banner: --port wants 1-65535\n");
    return 2;
  }
  const snapshot = async (): Promise<BannerInput> => {
    const fingerprint = fingerprintOf(await deps.readText(`${tlsDir}/cert.pem`));
    return {
      version: VERSION,
      urls: bannerUrls(deps.interfaces(), port),
      token: (await deps.readText(tokenFile))?.trim() || null,
      tokenFile,
      fingerprint,
      qr,
    };
  };
  if (!watch) {
    deps.write(renderBanner(await snapshot()));
    return 0;
  }
  let last = "";
  do {
    const text = renderBanner(await snapshot());
    if (text !== last) {
      // Clear the screen and home the cursor: the banner replaces itself on tty1.
      deps.write(`\x1b[H\x1b[2J${text}`);
      last = text;
    }
  } while (await deps.wait(2_000));
  return 0;
}
