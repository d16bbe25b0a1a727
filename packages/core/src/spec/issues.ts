/** A problem in a stack file, located so a person can fix it. */
export interface SpecIssue {
  /** Stable identifier, e.g. `UNKNOWN_PROPERTY`, `INVALID_VALUE`, `UNKNOWN_RESOURCE`. */
  code: string;
  /** Dotted path with array indexes, e.g. `resources.api.properties.containers[0].name`. */
  path: string;
  /** 1-based line and column in the file, when the path (or its closest parent) is in it. */
  line?: number;
  column?: number;
  message: string;
  /** The closest valid name, for unknown names. */
  suggestion?: string;
}

export type PathSegment = string | number;

export function formatPath(path: readonly PathSegment[]): string {
  let text = "";
  for (const segment of path) {
    if (typeof segment === "number") text += `[${segment}]`;
    else text += text === "" ? segment : `.${segment}`;
  }
  return text;
}

/** `FILE:LINE:COL path: message`, the format of `berth validate`. */
export function formatIssue(fileName: string, issue: SpecIssue): string {
  const where = issue.line ? `${fileName}:${issue.line}:${issue.column ?? 1}` : fileName;
  const hint = issue.suggestion ? ` (did you mean "${issue.suggestion}"?)` : "";
  return `${where} ${issue.path || "(file)"}: ${issue.message}${hint}`;
}
