/**
 * A contender as a process of its own: its run folder (a fresh, migrated database file), its
 * start (until it says it is ready), its RSS sampled from /proc while it runs, and its stop.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type Redis from "ioredis";
import type { Contender, RunContext } from "./contenders/registry.ts";
import { migrateWithBinary } from "./environment.ts";
import { type RssSampler, readMemory, sampleRss } from "./measure.ts";

export interface RunSettings {
  redis: Redis;
  redisUrl: string;
  seed: number;
  /** Parent folder of every run's folder (on the disk being measured). */
  workRoot: string;
  keepFiles: boolean;
  log: (line: string) => void;
}

const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

export interface Started {
  proc: Bun.Subprocess;
  rss: RssSampler;
  ready: Record<string, unknown> | undefined;
  outFile: string;
  errFile: string;
}

let runCounter = 0;

export function newRun(
  settings: RunSettings,
  contender: Contender,
  label: string,
  mode: "drain" | "latency" = "drain",
) {
  runCounter++;
  const id = `${contender.key}-${label}-${runCounter}`;
  const dir = join(settings.workRoot, id);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const databasePath = contender.usesDatabase ? join(dir, "coursepay.db") : undefined;
  if (databasePath !== undefined) migrateWithBinary(databasePath, contender.migrateWith?.());
  const context: RunContext = {
    redisUrl: settings.redisUrl,
    stream: `bench.${id}`,
    group: "course_factory",
    consumer: `bench-${contender.key}`,
    queueName: `bench-${id}`,
    queuePrefix: "benchmq",
    databasePath,
    statsFile: join(dir, "stats.json"),
    latencyFile: mode === "latency" ? join(dir, "latency.f64") : undefined,
  };
  return { dir, context };
}

export function tail(path: string, lines = 15): string {
  if (!existsSync(path)) return "";
  return readFileSync(path, "utf8").split("\n").slice(-lines).join("\n");
}

export async function startContender(
  contender: Contender,
  run: RunContext,
  dir: string,
  redis: Redis,
): Promise<Started> {
  const { cmd, env } = contender.command(run);
  const outFile = join(dir, "stdout.log");
  const errFile = join(dir, "stderr.log");
  const proc = Bun.spawn(cmd, {
    env,
    cwd: dir,
    stdin: "ignore",
    stdout: Bun.file(outFile),
    stderr: Bun.file(errFile),
  });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let ready: Record<string, unknown> | undefined;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(
        `${contender.key} exited (${proc.exitCode ?? proc.signalCode}) before it was ready:\n${tail(errFile)}\n${tail(outFile)}`,
      );
    }
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(
        `${contender.key} not ready within ${READY_TIMEOUT_MS} ms:\n${tail(errFile)}`,
      );
    }
    if (contender.readiness === "ready-line") {
      const line = existsSync(outFile)
        ? readFileSync(outFile, "utf8")
            .split("\n")
            .find((l) => l.startsWith("BENCH_READY "))
        : undefined;
      if (line !== undefined) {
        ready = JSON.parse(line.slice("BENCH_READY ".length)) as Record<string, unknown>;
        break;
      }
    } else if (await consumerRegistered(redis, run)) {
      break;
    }
    await Bun.sleep(20);
  }
  return { proc, rss: sampleRss(proc.pid, 100), ready, outFile, errFile };
}

async function consumerRegistered(redis: Redis, run: RunContext): Promise<boolean> {
  try {
    const consumers = (await redis.xinfo("CONSUMERS", run.stream, run.group)) as unknown[][];
    return consumers.some((flat) => flat[1] === run.consumer);
  } catch {
    return false;
  }
}

/** Reads the peak RSS while the process is alive, then SIGTERM and waits for the exit. */
export async function stopContender(
  started: Started,
): Promise<{ peakKb: number; exitCode: number | null }> {
  const last = readMemory(started.proc.pid);
  started.rss.stop();
  const peakKb = Math.max(started.rss.peakKb(), last?.hwmKb ?? 0);
  started.proc.kill("SIGTERM");
  const timer = setTimeout(() => started.proc.kill("SIGKILL"), STOP_TIMEOUT_MS);
  await started.proc.exited;
  clearTimeout(timer);
  return { peakKb, exitCode: started.proc.exitCode };
}

export function readStats(file: string): Record<string, unknown> | undefined {
  return existsSync(file)
    ? (JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>)
    : undefined;
}
