import type { ApiRequestError } from "./api.ts";

const CODES = { red: 31, green: 32, yellow: 33, cyan: 36, dim: 2, bold: 1 } as const;
export type Style = keyof typeof CODES;

export type Paint = (style: Style, text: string) => string;

export function painter(color: boolean): Paint {
  return color ? (style, text) => `\u001b[${CODES[style]}m${text}\u001b[0m` : (_, text) => text;
}

/** NO_COLOR (https://no-color.org): any non-empty value turns color off. */
export function wantsColor(requested: boolean | undefined, env: Record<string, string | undefined>): boolean {
  if (env.NO_COLOR) return false;
  return requested ?? process.stdout.isTTY === true;
}

export function statusStyle(status: string): Style {
  if (status === "SUCCEEDED" || status === "LIVE" || status === "unchanged") return "green";
  if (["FAILED", "ROLLED_BACK", "ROLLBACK_FAILED", "CANCELLED", "SUPERSEDED"].includes(status)) return "red";
  return "yellow";
}

/** `0:07`, `12:34`, `1:02:03`: minutes and seconds since the command started. */
export function elapsed(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = String(seconds % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** `850ms`, `42s`, `3m05s`, `2h10m`, `3d4h`. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(seconds % 60).padStart(2, "0")}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h${String(minutes % 60).padStart(2, "0")}m`;
  return `${Math.floor(hours / 24)}d${hours % 24}h`;
}

export function age(iso: string, now: number): string {
  const time = Date.parse(iso);
  return Number.isNaN(time) ? "?" : `${duration(Math.max(0, now - time))} ago`;
}

/**
 * Left-aligned columns, two spaces apart. Widths come from the plain text, so a cell may be
 * painted after measuring with `paintCell`.
 */
export function table(
  header: string[],
  rows: string[][],
  paintCell: (row: number, column: number, text: string) => string = (_r, _c, text) => text,
): string[] {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)),
  );
  const line = (cells: string[], row: number) =>
    cells
      .map((cell, column) => {
        const padded = column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0);
        return row < 0 ? padded : paintCell(row, column, padded);
      })
      .join("  ")
      .trimEnd();
  return [line(header, -1), ...rows.map((row, index) => line(row, index))];
}

/**
 * An API error as the person at the terminal needs it: code, status and message, then each
 * detail; a detail with a line points into `fileName` in validate's FILE:LINE:COL form.
 */
export function apiErrorLines(error: ApiRequestError, fileName?: string): string[] {
  const lines = [`berth: ${error.code} (HTTP ${error.status}): ${error.message}`];
  for (const detail of error.details) {
    const where =
      detail.line !== undefined
        ? `${fileName ?? "line"}${fileName ? ":" : " "}${detail.line}:${detail.column ?? 1} `
        : "";
    lines.push(`  ${where}${detail.path}: ${detail.message}`);
  }
  if (error.requestId) lines.push(`  request id: ${error.requestId}`);
  if (error.status === 401) {
    lines.push("  Set BERTH_TOKEN, or run from the directory that holds Berth Local's data dir (.berth).");
  }
  return lines;
}

const ESC = String.fromCharCode(0x1b);
const BEL = String.fromCharCode(0x07);
/** CSI sequences (colors, cursor moves, erase line), OSC sequences (titles, links) and other escapes. */
const CONTROL_SEQUENCES = new RegExp(
  `${ESC}\\[[0-?]*[ -/]*[@-~]|${ESC}\\][^${BEL}${ESC}]*(?:${BEL}|${ESC}\\\\)|${ESC}[@-_]`,
  "g",
);
/** The other control characters a terminal would act on (tab and newline are handled apart). */
const CONTROL_CHARACTERS = new RegExp(
  `[${String.fromCharCode(0)}-${String.fromCharCode(8)}${String.fromCharCode(0x0b)}${String.fromCharCode(0x0c)}${String.fromCharCode(0x0e)}-${String.fromCharCode(0x1f)}${String.fromCharCode(0x7f)}]`,
  "g",
);
/**
 * Progress meters, removed from where they start to the end of their line (output often follows
 * a prefix such as "Task failed container health checks: "): curl's two header lines and its
 * rows, and bars such as `[=====>   ] 45%`.
 */
const SIZE = "[\\d.]+[kMGT]?";
const CLOCK = "(?:--:--:--|\\d+:\\d\\d:\\d\\d)";
const PROGRESS_METERS = [
  /\s*% Total\s+% Received.*$/,
  /\s*Dload\s+Upload\s+Total.*$/,
  new RegExp(
    `\\s*\\d{1,3}\\s+${SIZE}(?:\\s+\\d{1,3}\\s+${SIZE}){2}(?:\\s+${SIZE}){2}(?:\\s+${CLOCK}){3}\\s+${SIZE}\\s*$`,
  ),
  /\s*\[[=#>.\s-]+\]\s*\d{1,3}(?:\.\d+)?%\s*$/,
];

/**
 * Command output (a health check's, a task's) as a terminal would end up showing it, as plain
 * text: control sequences and progress meters gone, a line rewritten with carriage returns kept
 * as last written; the remaining lines, non-empty, in order.
 */
export function plainLines(text: string): string[] {
  return text
    .replace(CONTROL_SEQUENCES, "")
    .split("\n")
    .map((line) => {
      // What is left of each carriage-return rewrite once meters are gone; the last one stands.
      const parts = line
        .split("\r")
        .map((part) => part.replace(/\t/g, " ").replace(CONTROL_CHARACTERS, ""))
        .map((part) => PROGRESS_METERS.reduce((kept, meter) => kept.replace(meter, ""), part).trimEnd())
        .filter((part) => part.trim() !== "");
      return parts[parts.length - 1] ?? "";
    })
    .filter((line) => line.trim() !== "");
}

/** `plainLines` on one line, for a table cell or a status line. */
export function plainText(text: string): string {
  return plainLines(text)
    .map((line) => line.trim())
    .join(" | ");
}
