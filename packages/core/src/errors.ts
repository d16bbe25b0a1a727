/**
 * The one error base class of the domain. Every error Berth raises on purpose carries a stable
 * `code` that callers (the HTTP API, the CLI) map to a response; anything else is a bug.
 */
export class BerthError extends Error {
  readonly code: string;
  readonly details: readonly ErrorDetail[];

  constructor(code: string, message: string, details: readonly ErrorDetail[] = []) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }
}

export interface ErrorDetail {
  path: string;
  line?: number;
  column?: number;
  message: string;
}
