import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/**
 * A JSON document kept in the data dir. Writes go to a temporary file that is renamed over the
 * old one, so a crash leaves either the old or the new state, never half of one.
 */
export class JsonFile<T> {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
    mkdirSync(dirname(path), { recursive: true });
  }

  read(fallback: T): T {
    try {
      return JSON.parse(readFileSync(this.path, "utf8")) as T;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return fallback;
      throw error;
    }
  }

  write(value: T, mode = 0o644): void {
    const temporary = `${this.path}.${process.pid}.tmp`;
    writeFileSync(temporary, JSON.stringify(value), { mode });
    renameSync(temporary, this.path);
  }
}
