import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/** The package's folder, and the console's build in it (kept out of git). */
export const WEB_DIR = import.meta.dirname;
export const CONSOLE_DIST = join(WEB_DIR, "dist");

const SOURCES = ["src", "index.html", "vite.config.ts", "package.json"];

function newestChange(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestChange(join(path, entry)));
  return newest;
}

/** Why the build must run again, or undefined when dist/ is newer than every source. */
export function staleness(): string | undefined {
  const index = join(CONSOLE_DIST, "index.html");
  if (!existsSync(index)) return "it has not been built yet";
  const built = statSync(index).mtimeMs;
  const changed = SOURCES.find((source) => newestChange(join(WEB_DIR, source)) > built);
  return changed === undefined ? undefined : `packages/web/${changed} changed since the last build`;
}

/** Builds the console with Vite (the same as `npm run build -w @berth/web`). */
export async function buildConsole(): Promise<void> {
  const { build } = await import("vite");
  await build({ configFile: join(WEB_DIR, "vite.config.ts"), logLevel: "warn" });
}

/**
 * The console's build directory, built first when missing or older than its sources (`npm ci`
 * builds it already; this covers a checkout whose install skipped scripts, and edits since).
 */
export async function ensureConsoleBuilt(log: (line: string) => void): Promise<string> {
  if (staleness() === undefined) return CONSOLE_DIST;
  // Several Berth Locals starting at once (tests) build once: the others wait for the lock.
  const lock = join(WEB_DIR, ".build-lock");
  const deadline = Date.now() + 5 * 60_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // A lock older than the deadline is a build that died: take it over.
      const age = Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (Date.now() > deadline || age > 5 * 60_000) {
        rmSync(lock, { recursive: true, force: true });
      }
      await sleep(250);
    }
  }
  try {
    const why = staleness();
    if (why !== undefined) {
      log(`building the console (packages/web): ${why}…`);
      const started = Date.now();
      await buildConsole();
      log(`console built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
  return CONSOLE_DIST;
}
