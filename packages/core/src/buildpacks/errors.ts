import { BerthError, type ErrorCode, type ErrorDetail } from "../errors.ts";

type BuildpackErrorCode = Extract<
  ErrorCode,
  "UNSUPPORTED_LANGUAGE" | "INVALID_INPUT" | "LOCAL_BUILD_UNSUPPORTED" | "OUT_DIR_NOT_EMPTY" | "BUILD_FAILED"
>;

/** A build that cannot be planned or did not succeed. */
export class BuildpackError extends BerthError {
  /** The last lines a failed build step printed, oldest first; also at the end of the message. */
  readonly outputTail: readonly string[];

  constructor(
    code: BuildpackErrorCode,
    message: string,
    details: readonly ErrorDetail[] = [],
    outputTail: readonly string[] = [],
    options?: { cause?: unknown },
  ) {
    super(code, message, details, options);
    this.outputTail = outputTail;
  }
}

export function buildFailed(
  what: string,
  outputTail: readonly string[],
  options?: { cause?: unknown },
): BuildpackError {
  const output = outputTail.length > 0 ? `; last output:\n${outputTail.join("\n")}` : "";
  return new BuildpackError("BUILD_FAILED", `${what}${output}`, [], outputTail, options);
}
