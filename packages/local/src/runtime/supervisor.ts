/**
 * Every container process is started through a supervisor: a small `/bin/sh` script that leads
 * the container's process group, holds the read end of a pipe from Berth Local, and kills its
 * whole group (itself included) the moment that pipe closes. The write end lives only in Berth
 * Local (Node opens pipes close-on-exec), so the pipe closes when Berth Local ends however it
 * ends — a clean exit, an uncaught error, or SIGKILL, which no exit hook sees. Tasks therefore
 * never outlive Berth Local as orphans that a restart would duplicate.
 *
 * The script, with the container's argv as "$@":
 * - keeps the pipe on fd 3 and gives the container no stdin (as Berth Local always did);
 * - watches fd 3 in a background subshell of the same group: at end of file it sends SIGKILL to
 *   group 0, that is, to every process of the container;
 * - traps SIGTERM with a handler (not "ignore", which the container would inherit), so a stop
 *   that signals the whole group reaches the container while the supervisor waits on;
 * - exits with the container's status (128 + the signal number when a signal ended it), the
 *   exit code Berth Local records for the container.
 */

import { accessSync, constants, statSync } from "node:fs";
import { delimiter, isAbsolute, resolve } from "node:path";

export const SUPERVISOR_SHELL = "/bin/sh";

const SCRIPT = [
  "exec 3<&0 0</dev/null",
  "trap : TERM",
  "{ while read -r _; do :; done <&3; kill -9 0; } >/dev/null 2>&1 &",
  '"$@" 3<&- &',
  "child=$!",
  "exec 3<&-",
  "while :; do",
  '  wait "$child"',
  "  status=$?",
  '  if [ "$status" -gt 128 ] && kill -0 "$child" 2>/dev/null; then continue; fi',
  '  exit "$status"',
  "done",
].join("\n");

/** The argv that runs `argv` under the supervisor: spawn SUPERVISOR_SHELL with these arguments. */
export function supervisedArgs(argv: readonly string[]): string[] {
  // "$0" of the script; the container's argv follows as "$@".
  return ["-c", SCRIPT, "berth-supervisor", ...argv];
}

/**
 * Why `executable` could not be started as Node's spawn would report it (`ENOENT`, `EACCES`), or
 * undefined when it can. The supervisor always starts, so what spawn used to tell Berth Local
 * about the container's own executable is checked before, the way execvp looks it up.
 */
export function executableProblem(
  executable: string,
  cwd: string,
  pathVariable: string | undefined,
): "ENOENT" | "EACCES" | undefined {
  const candidates = executable.includes("/")
    ? [isAbsolute(executable) ? executable : resolve(cwd, executable)]
    : (pathVariable ?? "")
        .split(delimiter)
        .map((directory) => resolve(cwd, directory === "" ? "." : directory, executable));
  let found = false;
  for (const candidate of candidates) {
    try {
      if (!statSync(candidate).isFile()) continue;
    } catch {
      continue;
    }
    found = true;
    try {
      accessSync(candidate, constants.X_OK);
      return undefined;
    } catch {
      // Not executable here; execvp goes on to the next directory.
    }
  }
  return found ? "EACCES" : "ENOENT";
}
