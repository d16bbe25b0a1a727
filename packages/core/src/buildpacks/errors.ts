import { BerthError, type ErrorDetail } from "../errors.ts";

/**
 * A build that cannot be planned or did not succeed. Codes: `UNSUPPORTED_LANGUAGE`,
 * `INVALID_INPUT`, `LOCAL_BUILD_UNSUPPORTED`, `OUT_DIR_NOT_EMPTY`, `BUILD_FAILED`.
 */
export class BuildpackError extends BerthError {
  /** The last lines a failed build step printed, oldest first; also at the end of the message. */
  readonly outputTail: readonly string[];

  constructor(
    code: string,
    message: string,
    details: readonly ErrorDetail[] = [],
    outputTail: readonly string[] = [],
  ) {
    super(code, message, details);
    this.outputTail = outputTail;
  }
}

export function buildFailed(what: string, outputTail: readonly string[]): BuildpackError {
  const output = outputTail.length > 0 ? `; last output:\n${outputTail.join("\n")}` : "";
  return new BuildpackError("BUILD_FAILED", `${what}${output}`, [], outputTail);
}
