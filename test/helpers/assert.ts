import { LifeboatError } from "../../agent/src/core/errors.js";

/** The LifeboatError a promise rejects with (fails the test if it resolves or throws anything else). */
export async function rejection(p: Promise<unknown>): Promise<LifeboatError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof LifeboatError) return err;
    throw err;
  }
  throw new Error("expected a rejection");
}
