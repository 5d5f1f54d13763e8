// Every start path says how to get the token (issue 15): the token to an interactive terminal, its
// file (never the token) to a log.
import { describe, expect, it } from "vitest";
import { tokenNotice } from "../../agent/src/app/token.js";
import { registerSecret } from "../helpers/secrets.js";

const TOKEN = "tok-notice-3Jx9Qe7LmP2vR8sW5yZ1";
registerSecret(TOKEN);

describe("tokenNotice", () => {
  it("prints the token on a terminal, whatever its origin (npm start with an existing .cache/token too)", () => {
    for (const origin of ["generated", "file", "configured"] as const) {
      const n = tokenNotice({ token: TOKEN, origin }, ".cache/token", true);
      expect(n).toEqual({ stdout: `\nLifeboat API token (also in .cache/token):\n  ${TOKEN}\n\n` });
    }
  });
  it("without a terminal names the file, never the token", () => {
    for (const origin of ["generated", "file"] as const) {
      const n = tokenNotice({ token: TOKEN, origin }, "/run/lifeboat/token", false);
      expect(n).toEqual({
        log: "API token: read it from /run/lifeboat/token (mode 0600), e.g. sudo cat /run/lifeboat/token",
      });
      expect(JSON.stringify(n)).not.toContain(TOKEN);
    }
    const c = tokenNotice({ token: TOKEN, origin: "configured" }, "/run/lifeboat/token", false);
    expect("log" in c && c.log).toContain("kernel command line");
    expect(JSON.stringify(c)).not.toContain(TOKEN);
  });
});
