import { REPO_ROOT } from "./binary.ts";

export interface CommandRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * `bun src/main.ts <args>` from the repository, stdout a pipe (not a terminal), with only PATH,
 * HOME and `env` in its environment (Bun.spawn would not pass on what the test preload set).
 */
export async function runCoursepay(
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<CommandRun> {
  const child = Bun.spawn([process.execPath, "src/main.ts", ...args], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? "/tmp",
      ...env,
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [code, stdout, stderr] = await Promise.all([
    child.exited,
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  return { code, stdout, stderr };
}
