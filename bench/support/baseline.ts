import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const repository = fileURLToPath(new URL("../..", import.meta.url));

/** A source tree a benchmark can run: this one, or a commit exported beside it. */
export interface Tree {
  /** What the figures are labelled with. */
  label: string;
  root: string;
  remove(): void;
}

export const currentTree = (): Tree => ({ label: "this tree", root: repository, remove: () => {} });

/**
 * The tree of `commit`, exported to a temporary directory (git archive) with this tree's
 * node_modules beside it: third-party packages are shared, while the workspace packages
 * (`@berth/*`) resolve to the exported ones. For "before and after in one run".
 */
export function exportCommit(commit: string): Tree {
  const root = mkdtempSync(join(tmpdir(), "berth-bench-baseline-"));
  const archive = execFileSync("git", ["-C", repository, "archive", "--format=tar", commit], {
    maxBuffer: 1 << 30,
  });
  execFileSync("tar", ["-x", "-C", root], { input: archive });
  const modules = join(root, "node_modules");
  mkdirSync(join(modules, "@berth"), { recursive: true });
  for (const entry of readdirSync(join(repository, "node_modules"))) {
    if (entry === "@berth" || entry === ".bin") continue;
    symlinkSync(join(repository, "node_modules", entry), join(modules, entry));
  }
  for (const workspace of readdirSync(join(root, "packages"))) {
    symlinkSync(join("..", "..", "packages", workspace), join(modules, "@berth", workspace));
    // A workspace's own node_modules (versions that differ from the root's).
    const own = join(repository, "packages", workspace, "node_modules");
    if (!existsSync(own)) continue;
    mkdirSync(join(root, "packages", workspace, "node_modules"), { recursive: true });
    for (const entry of readdirSync(own)) {
      symlinkSync(join(own, entry), join(root, "packages", workspace, "node_modules", entry));
    }
  }
  const short = execFileSync("git", ["-C", repository, "rev-parse", "--short", commit], { encoding: "utf8" });
  return {
    label: `${commit === short.trim() ? commit : `${commit} (${short.trim()})`}`,
    root,
    remove: () => rmSync(root, { recursive: true, force: true }),
  };
}

/** The trees a benchmark compares: `--baseline COMMIT` first, when given, then this one. */
export function treesToCompare(baseline: string | undefined): Tree[] {
  return baseline ? [exportCommit(baseline), currentTree()] : [currentTree()];
}

export interface ServedLocal {
  url: string;
  token: string;
  dynamoEndpointUrl: string;
  stop(): Promise<void>;
}

/**
 * Berth Local from `tree`, in its own process (`serve-local.ts`). With `BERTH_BENCH_CPU_PROF=DIR`
 * that process is profiled (`node --cpu-prof`) and writes its profile to DIR when it stops.
 */
export async function serveLocal(tree: Tree): Promise<ServedLocal> {
  const profileDir = process.env.BERTH_BENCH_CPU_PROF;
  const profiling = profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [];
  const child: ChildProcess = spawn(
    process.execPath,
    [...profiling, "--import", "tsx", join(repository, "bench/support/serve-local.ts"), "--root", tree.root],
    { stdio: ["ignore", "pipe", "ignore"], cwd: tree.root },
  );
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const first = await new Promise<string>((resolve, reject) => {
    lines.on("line", (line) => {
      if (line.startsWith('{"url"')) resolve(line);
    });
    child.once("exit", (code) => reject(new Error(`Berth Local (${tree.label}) exited with ${code}`)));
  });
  const served = JSON.parse(first) as Omit<ServedLocal, "stop">;
  return {
    ...served,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}
