import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { JsonFile } from "../state.ts";

export interface RepositoryRecord {
  name: string;
  /** Epoch milliseconds. */
  createdAt: number;
  imageTagMutability: string;
  scanOnPush: boolean;
  encryptionType: string;
  kmsKey?: string;
}

interface Document {
  repositories: RepositoryRecord[];
}

/** The repositories CreateRepository made, written to a JSON file on every change. */
export class RepositoryStore {
  private readonly file: JsonFile<Document>;
  private readonly repositories: Map<string, RepositoryRecord>;

  constructor(path: string) {
    this.file = new JsonFile<Document>(path);
    this.repositories = new Map(
      this.file.read({ repositories: [] }).repositories.map((repository) => [repository.name, repository]),
    );
  }

  get(name: string): RepositoryRecord | undefined {
    return this.repositories.get(name);
  }

  /** Every repository, ordered by name. */
  list(): RepositoryRecord[] {
    return [...this.repositories.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  create(repository: RepositoryRecord): void {
    this.repositories.set(repository.name, repository);
    this.file.write({ repositories: [...this.repositories.values()] });
  }
}

export interface Artifact {
  /** The 64 hex digits of the artifact's sha256 digest. */
  hex: string;
  /** When the build finished writing it: its manifest's modification time, epoch milliseconds. */
  pushedAt: number;
}

const HEX_DIGEST = /^[0-9a-f]{64}$/;

/**
 * The artifacts local builds wrote to `<artifactsDir>/sha256/<hex>/`. An artifact exists once its
 * `manifest.json` does: the runtime cannot start an artifact without it, so a directory without
 * one is not an image a task could run.
 */
export class ArtifactStore {
  readonly directory: string;

  constructor(artifactsDir: string) {
    this.directory = join(artifactsDir, "sha256");
  }

  async get(hex: string): Promise<Artifact | undefined> {
    if (!HEX_DIGEST.test(hex)) return undefined;
    try {
      const manifest = await stat(join(this.directory, hex, "manifest.json"));
      return manifest.isFile() ? { hex, pushedAt: manifest.mtimeMs } : undefined;
    } catch {
      return undefined;
    }
  }

  /** Every artifact, ordered by digest. */
  async list(): Promise<Artifact[]> {
    let entries: string[];
    try {
      entries = await readdir(this.directory);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
    const found = await Promise.all(
      entries.filter((entry) => HEX_DIGEST.test(entry)).map((hex) => this.get(hex)),
    );
    return found
      .filter((artifact): artifact is Artifact => artifact !== undefined)
      .sort((a, b) => (a.hex < b.hex ? -1 : a.hex > b.hex ? 1 : 0));
  }
}

interface TagDocument {
  /** `repository:tag` → the 64 hex digits of the artifact it names. */
  tags: Record<string, { hex: string; pushedAt: number }>;
}

/**
 * The tags `berth push` gave artifacts, per repository, written to a JSON file on every change.
 * A tag names one artifact at a time; pushing it again moves it.
 */
export class TagStore {
  private readonly file: JsonFile<TagDocument>;
  private readonly tags: Map<string, { hex: string; pushedAt: number }>;

  constructor(path: string) {
    this.file = new JsonFile<TagDocument>(path);
    this.tags = new Map(Object.entries(this.file.read({ tags: {} }).tags));
  }

  get(repository: string, tag: string): { hex: string; pushedAt: number } | undefined {
    return this.tags.get(`${repository}:${tag}`);
  }

  /** The tags of `repository` that name the artifact `hex`. */
  tagsOf(repository: string, hex: string): string[] {
    const prefix = `${repository}:`;
    return [...this.tags.entries()]
      .filter(([key, value]) => key.startsWith(prefix) && value.hex === hex)
      .map(([key]) => key.slice(prefix.length))
      .sort();
  }

  put(repository: string, tag: string, hex: string): void {
    this.tags.set(`${repository}:${tag}`, { hex, pushedAt: Date.now() });
    this.file.write({ tags: Object.fromEntries(this.tags) });
  }
}
