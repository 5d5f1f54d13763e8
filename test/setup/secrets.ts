import { afterAll, expect } from "vitest";
import { leaks, registerSecret } from "../helpers/secrets.js";

// Passphrases of the captured fixture sets and the ones tests try.
registerSecret("correct-horse-battery", "wrongpassphrase");

afterAll(() => {
  expect(leaks(), "a token or passphrase reached a log line or a response").toEqual([]);
});
