import { existsSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

export const REPO_ROOT = resolve(import.meta.dir, "..", "..");
export const BUILT_BINARY = join(REPO_ROOT, "dist", "coursepay");

/** Newest modification time under the paths the binary is built from. */
function newestSourceMtime(): number {
  let newest = 0;
  const visit = (path: string): void => {
    if (!existsSync(path)) return;
    const stat = statSync(path);
    if (stat.isDirectory()) {
      for (const entry of readdirSync(path)) visit(join(path, entry));
    } else {
      newest = Math.max(newest, stat.mtimeMs);
    }
  };
  for (const path of ["src", "migrations", "build.ts", "package.json", "bun.lock"]) {
    visit(join(REPO_ROOT, path));
  }
  return newest;
}

/**
 * `bun run build` when dist/coursepay is missing or older than its sources, so tests and the
 * benchmark never run a stale binary. True when it built.
 */
export function ensureBinaryBuilt(): boolean {
  if (existsSync(BUILT_BINARY) && statSync(BUILT_BINARY).mtimeMs >= newestSourceMtime()) {
    return false;
  }
  const build = Bun.spawnSync([process.execPath, "run", "build"], {
    cwd: REPO_ROOT,
    stdout: "pipe",
    stderr: "pipe",
  });
  if (!build.success || !existsSync(BUILT_BINARY)) {
    throw new Error(
      `bun run build failed (exit ${build.exitCode}):\n${build.stdout}\n${build.stderr}`,
    );
  }
  return true;
}
