import { BerthError } from "../errors.ts";

/**
 * A build that cannot be planned or did not succeed. Codes: `UNSUPPORTED_LANGUAGE`,
 * `INVALID_INPUT`, `OUT_DIR_NOT_EMPTY`, `BUILD_FAILED`.
 */
export class BuildpackError extends BerthError {}
