/**
 * Kernel command line → `lifeboat.*` settings. Values may be double-quoted
 * (`lifeboat.token="a b"`); bare `lifeboat.flag` means "1".
 */
export function parseKernelCmdline(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /(?:^|\s)([^\s="]+)(?:=("([^"]*)"|\S*))?/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const key = m[1] as string;
    if (!key.startsWith("lifeboat.")) continue;
    const value = m[3] ?? m[2] ?? "1";
    out[key.slice("lifeboat.".length)] = value;
  }
  return out;
}
