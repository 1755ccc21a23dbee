/**
 * The compiled binary as a test runs it: `dist/coursepay serve` with exactly the environment
 * given, its output collected, killed at the end of the file (killWorkerProcesses in afterAll).
 */
import { BUILT_BINARY } from "./binary.ts";

export const CONSUMER_STARTED = "✅ Event consumer started";

/** Every worker process started here, killed by killWorkerProcesses() (afterAll). */
const processes = new Set<Bun.Subprocess>();

export function killWorkerProcesses(): void {
  for (const child of processes) if (child.exitCode === null) child.kill("SIGKILL");
  processes.clear();
}

export interface WorkerProcess {
  readonly proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  readonly pid: number;
  /** Everything it wrote so far, stdout then stderr. */
  output(): string;
  /** Its JSON log lines so far (LOG_FORMAT=json). */
  logs(): Record<string, unknown>[];
  /** True once the test stopped or killed it (its exit is then expected). */
  readonly stopped: boolean;
  /** SIGTERM, then waits (at most timeoutMs) for it to exit: its code and how long it took. */
  stop(timeoutMs?: number): Promise<{ code: number | null; ms: number }>;
  kill(): void;
}

/** Runs dist/coursepay serve with exactly `env` (nothing inherited), output collected. */
export function spawnBinary(env: Record<string, string>, cwd: string): WorkerProcess {
  const proc = Bun.spawn([BUILT_BINARY, "serve"], {
    cwd,
    env,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  processes.add(proc);
  const out = { stdout: "", stderr: "" };
  const drain = async (stream: ReadableStream<Uint8Array>, key: "stdout" | "stderr") => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) out[key] += decoder.decode(chunk, { stream: true });
  };
  void drain(proc.stdout, "stdout");
  void drain(proc.stderr, "stderr");
  let stopped = false;
  return {
    proc,
    pid: proc.pid,
    get stopped() {
      return stopped;
    },
    output: () => out.stdout + out.stderr,
    logs: () =>
      out.stdout
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .flatMap((line) => {
          try {
            return [JSON.parse(line) as Record<string, unknown>];
          } catch {
            return [];
          }
        }),
    async stop(timeoutMs = 15_000) {
      const started = performance.now();
      stopped = true;
      if (proc.exitCode === null) proc.kill("SIGTERM");
      const code = await Promise.race([proc.exited, Bun.sleep(timeoutMs).then(() => null)]);
      return { code, ms: performance.now() - started };
    },
    kill() {
      stopped = true;
      if (proc.exitCode === null) proc.kill("SIGKILL");
    },
  };
}

export interface BinaryRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `dist/coursepay <args>` (status, dlq …) with exactly `env`; killed after timeoutMs. */
export async function runBinary(
  args: readonly string[],
  env: Record<string, string>,
  timeoutMs = 15_000,
): Promise<BinaryRun> {
  const child = Bun.spawn([BUILT_BINARY, ...args], {
    env,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  processes.add(child);
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  try {
    const [code, stdout, stderr] = await Promise.all([
      child.exited,
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
    ]);
    return { code: child.signalCode === null ? code : null, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}
