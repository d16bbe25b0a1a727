import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";

/** What the CLI writes; tests pass their own to capture it. */
export interface Output {
  out: (text: string) => void;
  err: (text: string) => void;
}

/** Output plus what a command reads from its surroundings; tests set each one. */
export interface Io extends Output {
  /** Default: process.env. */
  env?: Record<string, string | undefined>;
  /** Where relative files and the `.berth` data dir are looked up. Default: process.cwd(). */
  cwd?: string;
  /** Stops following (deploy, logs --follow). Default: the first Ctrl-C. */
  signal?: AbortSignal;
  /** Default: stdout is a terminal. NO_COLOR turns it off either way. */
  color?: boolean;
  /** How often deploy and logs --follow ask the API again. Default: one second. */
  pollIntervalMs?: number;
  /** deploy: the longest a deploying service goes without a line before a progress line. Default: 10 s. */
  progressIntervalMs?: number;
  /** init: asks a question on the terminal. Default: absent (nothing is asked) unless stdin is a terminal. */
  prompt?: (question: string) => Promise<string>;
}

/** Io with every default filled in: what the commands work with. */
export interface Context extends Output {
  env: Record<string, string | undefined>;
  cwd: string;
  signal: AbortSignal;
  color: boolean;
  pollIntervalMs: number;
  progressIntervalMs: number;
}

export const DEFAULT_TIMEOUT = "30m";
export const DEFAULT_SINCE = "15m";

export class UsageError extends Error {}

export type OptionSpec = Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }>;

export function parseOptions(
  args: string[],
  spec: OptionSpec,
  allowPositionals = false,
): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args, options: spec, allowPositionals, strict: true });
    return { values: values as Record<string, string | boolean | undefined>, positionals };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

export const FILE_OPTION: OptionSpec = { file: { type: "string", short: "f" } };

export function stringOption(values: Record<string, unknown>, name: string): string | undefined {
  return typeof values[name] === "string" ? (values[name] as string) : undefined;
}

export function requiredOption(values: Record<string, unknown>, name: string): string {
  const value = stringOption(values, name);
  if (value === undefined || value === "") throw new UsageError(`--${name} is required`);
  return value;
}

/** The service a command is about: `--stack` and `--service`, both required. */
export function serviceOption(values: Record<string, unknown>): { stack: string; service: string } {
  return { stack: requiredOption(values, "stack"), service: requiredOption(values, "service") };
}

export function readText(fileName: string, cwd = process.cwd()): string {
  try {
    return readFileSync(resolve(cwd, fileName), "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(
      code === "ENOENT" ? `${fileName}: no such file` : `${fileName}: ${(error as Error).message}`,
    );
  }
}

const DURATION_UNITS_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `90s`, `30m`, `1h30m`, `500ms` → milliseconds. */
export function parseDuration(text: string, option: string): number {
  const parts = [...text.matchAll(/(\d+)(ms|s|m|h|d)/g)];
  if (parts.length === 0 || parts.map((part) => part[0]).join("") !== text) {
    throw new UsageError(`--${option} ${text}: give a duration such as 90s, 30m or 1h30m`);
  }
  return parts.reduce(
    (total, [, amount, unit]) =>
      total + Number(amount) * DURATION_UNITS_MS[unit as keyof typeof DURATION_UNITS_MS],
    0,
  );
}

/** Resolves after `ms`, or at once (false) when the signal fires. */
export function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
