import { BuildpackError } from "./errors.ts";

/** The BuildpackError `act` throws; any other outcome fails the test. */
export function catchError(act: () => unknown): BuildpackError {
  try {
    act();
  } catch (error) {
    if (error instanceof BuildpackError) return error;
    throw error;
  }
  throw new Error("expected a BuildpackError");
}
