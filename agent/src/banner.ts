import { readFile } from "node:fs/promises";
import { parseListen } from "./config.js";
import { listenUrls } from "./system/network.js";
import { VERSION } from "./version.js";

/** `lifeboat banner`: the console text (URLs, token) for tty1 / the getty help line. */
export async function runBanner(argv: string[]): Promise<number> {
  let tokenFile = process.env.LIFEBOAT_TOKEN_FILE ?? "/run/lifeboat/token";
  let port = 8080;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--token-file") tokenFile = argv[++i] ?? tokenFile;
    else if (argv[i] === "--port") port = Number(argv[++i]);
    else if (argv[i] === "--listen") port = parseListen(argv[++i] ?? "").port;
  }
  const token = (await readFile(tokenFile, "utf8").catch(() => "")).trim();
  const urls = listenUrls("0.0.0.0", port);
  const lines = [
    `Lifeboat ${VERSION} — rescue agent`,
    "",
    ...(urls.length
      ? urls.map((u) => `  Open ${u}#token=${token || "<token>"}`)
      : ["  No network address yet (waiting for DHCP)."]),
    "",
    `  Token: ${token || `(not generated yet: ${tokenFile})`}`,
    "",
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
  return 0;
}
