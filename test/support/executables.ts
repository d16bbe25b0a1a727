import { spawnSync } from "node:child_process";

const resolved = new Map<string, string>();

/**
 * The executable to run for `name` (`aws`, `python3`): what PATH finds, unless that is a pyenv
 * shim, which on every call runs bash and pyenv to find the real one (about 0.4 s of CPU, a third
 * of an `aws` call's); then the executable the shim would run, found once per process.
 */
export function executable(name: string): string {
  let found = resolved.get(name);
  if (found === undefined) {
    const onPath = spawnSync("sh", ["-c", 'command -v "$1"', "sh", name], {
      encoding: "utf8",
    }).stdout?.trim();
    found = onPath || name;
    if (onPath?.includes("/shims/")) {
      const which = spawnSync("pyenv", ["which", name], { encoding: "utf8" });
      if (which.status === 0 && which.stdout.trim() !== "") found = which.stdout.trim();
    }
    resolved.set(name, found);
  }
  return found;
}
