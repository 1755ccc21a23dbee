/**
 * One run of one contender: a fresh stream (or queue) and a fresh database file, the contender
 * started as its own process, the events put in front of it, the measurements, its stop, and
 * the correctness gate. Two kinds: `drain` (preloaded, time until all are settled) and
 * `latency` (a producer at fixed rates, XADD → commit per event).
 */
import { Database } from "bun:sqlite";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Queue } from "bullmq";
import type Redis from "ioredis";
import { redisOptionsFromUrl } from "../../src/stream/redis-connection.ts";
import type { BenchJobData } from "./contenders/bullmq-worker.ts";
import type { Contender, RunContext } from "./contenders/registry.ts";
import { migrateWithBinary } from "./environment.ts";
import { countMix, indexOfTraceId, type MixCounts } from "./events.ts";
import {
  describeFailures,
  type GateResult,
  gateQueue,
  gateStream,
  type QueueCounts,
} from "./gate.ts";
import {
  type LatencySummary,
  type RssSampler,
  readMemory,
  sampleRss,
  slope,
  summarizeLatencies,
} from "./measure.ts";
import {
  type BacklogSample,
  monitorBacklog,
  preload,
  produceAtRate,
  QueueSink,
  type Sink,
  Stamps,
  StreamSink,
} from "./producer.ts";

export interface RunSettings {
  redis: Redis;
  redisUrl: string;
  seed: number;
  /** Parent folder of every run's folder (on the disk being measured). */
  workRoot: string;
  keepFiles: boolean;
  log: (line: string) => void;
}

export interface StepPlan {
  rate: number;
  seconds: number;
}

export interface StepRecord extends StepPlan {
  sent: number;
  achievedRate: number;
  /** Least-squares growth of the backlog over the second half of the step, events/s. */
  backlogGrowthPerSecond: number;
  backlogAtEnd: number;
  held: boolean;
  /** Producer could not offer ≥ 95% of the rate: the step says nothing about the worker. */
  producerLimited: boolean;
  secondsToDrainAfter: number | undefined;
  /** publish stamp → the worker's commit stamp (processed_at), or → XACK reply for (c). */
  latency: LatencySummary | undefined;
  /** (a), (b): publish → the start of the next batch, which comes after this one's COMMIT. */
  latencyUpperBound: LatencySummary | undefined;
  backlogSamples: BacklogSample[];
}

export interface RunRecord {
  contender: string;
  mode: "drain" | "latency";
  repeat: number;
  events: number;
  mix: MixCounts;
  gate: GateResult;
  peakRssMb: number | undefined;
  exitCode: number | null;
  /** What the contender said when ready (the synchronous mode it read back, …). */
  ready: Record<string, unknown> | undefined;
  stats: Record<string, unknown> | undefined;
  drain?: {
    seconds: number;
    eventsPerSecond: number;
    preloadSeconds: number;
    /** (d): addBulk of every job before the worker starts, reported apart. */
    enqueueSeconds?: number;
    enqueueEventsPerSecond?: number;
  };
  steps?: StepRecord[];
  error?: string;
}

/** A rate step is held when the backlog does not grow (≤ 2% of the rate, per second, over the
 * second half of the step) and at most one second of events is waiting when it ends. */
export const HELD_GROWTH_FRACTION = 0.02;
export const HELD_BACKLOG_SECONDS = 1;
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
  if (databasePath !== undefined) migrateWithBinary(databasePath);
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

function tail(path: string, lines = 15): string {
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

function readStats(file: string): Record<string, unknown> | undefined {
  return existsSync(file)
    ? (JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>)
    : undefined;
}

function newQueue(settings: RunSettings, run: RunContext): Queue<BenchJobData> {
  return new Queue<BenchJobData>(run.queueName, {
    connection: {
      ...redisOptionsFromUrl(settings.redisUrl),
      connectionName: "bench-producer",
      maxRetriesPerRequest: null,
      retryStrategy: (attempt: number) => Math.min(attempt * 100, 2_000),
      enableReadyCheck: true,
    },
    prefix: run.queuePrefix,
  });
}

async function queueCounts(queue: Queue<BenchJobData>): Promise<QueueCounts> {
  const c = await queue.getJobCounts("waiting", "active", "delayed", "prioritized", "failed");
  return {
    waiting: c.waiting ?? 0,
    active: c.active ?? 0,
    delayed: c.delayed ?? 0,
    prioritized: c.prioritized ?? 0,
    failed: c.failed ?? 0,
  };
}

/** Polls the backlog until it is 0; false after `timeoutMs`. */
export async function untilDrained(sink: Sink, timeoutMs: number, pollMs = 10): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if ((await sink.backlog()) === 0) return true;
    await Bun.sleep(pollMs);
  }
  return false;
}

async function finishRun(
  settings: RunSettings,
  contender: Contender,
  run: RunContext,
  started: Started | undefined,
  gateOf: (stats: Record<string, unknown> | undefined) => Promise<GateResult>,
  record: Omit<RunRecord, "gate" | "peakRssMb" | "exitCode" | "ready" | "stats">,
): Promise<RunRecord> {
  let peakRssMb: number | undefined;
  let exitCode: number | null = null;
  if (started !== undefined) {
    const stopped = await stopContender(started);
    peakRssMb = Math.round((stopped.peakKb / 1024) * 10) / 10;
    exitCode = stopped.exitCode;
  }
  const stats = readStats(run.statsFile);
  let gate: GateResult;
  try {
    gate = await gateOf(stats);
  } catch (error) {
    gate = {
      pass: false,
      checks: [
        { name: `gate error: ${(error as Error).message}`, expected: 0, actual: 1, ok: false },
      ],
    };
  }
  if (record.error !== undefined) gate = { ...gate, pass: false };
  if (!gate.pass) {
    settings.log(
      `    gate FAILED: ${describeFailures(gate)}${record.error ? ` (${record.error})` : ""}`,
    );
    if (started !== undefined) settings.log(`    stderr tail:\n${tail(started.errFile, 8)}`);
  }
  return {
    ...record,
    contender: contender.key,
    gate,
    peakRssMb,
    exitCode,
    ready: started?.ready,
    stats,
  };
}

/** Drain: `events` preloaded, then the time until every one is settled. */
export async function drainRun(
  settings: RunSettings,
  contender: Contender,
  events: number,
  repeat: number,
): Promise<RunRecord> {
  const { redis, seed } = settings;
  await redis.flushall();
  const { dir, context: run } = newRun(settings, contender, `drain-r${repeat}`);
  const mix = countMix(seed, 0, events);
  const stamps = new Stamps();
  const base = { contender: contender.key, mode: "drain" as const, repeat, events, mix };
  let started: Started | undefined;
  let queue: Queue<BenchJobData> | undefined;
  let error: string | undefined;
  let drain: RunRecord["drain"];
  try {
    if (contender.transport === "stream") {
      const sink = new StreamSink(redis, run.stream, run.group, seed, stamps);
      const preloadSeconds = await preload(sink, 0, events - 1);
      await redis.xgroup("CREATE", run.stream, run.group, "$");
      started = await startContender(contender, run, dir, redis);
      // The worker is up and has nothing to read. Rewind the group to the start and add the
      // last event, which wakes a blocked XREADGROUP: from here on it is all drain.
      const t0 = performance.now();
      await redis.xgroup("SETID", run.stream, run.group, "0", "ENTRIESREAD", 0);
      await sink.publish(events - 1, events);
      if (!(await untilDrained(sink, 600_000))) throw new Error("not drained within 600 s");
      const seconds = (performance.now() - t0) / 1000;
      drain = { seconds, eventsPerSecond: events / seconds, preloadSeconds };
    } else {
      queue = newQueue(settings, run);
      await queue.pause();
      const sink = new QueueSink(queue, seed, stamps);
      const enqueueSeconds = await preload(sink, 0, events);
      started = await startContender(contender, run, dir, redis);
      const t0 = performance.now();
      await queue.resume();
      if (!(await untilDrained(sink, 600_000))) throw new Error("not drained within 600 s");
      const seconds = (performance.now() - t0) / 1000;
      drain = {
        seconds,
        eventsPerSecond: events / seconds,
        preloadSeconds: enqueueSeconds,
        enqueueSeconds,
        enqueueEventsPerSecond: events / enqueueSeconds,
      };
    }
  } catch (caught) {
    error = (caught as Error).message;
  }
  const record = await finishRun(
    settings,
    contender,
    run,
    started,
    (stats) => gateFor(settings, contender, run, queue, mix, stats),
    { ...base, drain, error },
  );
  await queue?.obliterate({ force: true }).catch(() => undefined);
  await queue?.close();
  if (!settings.keepFiles && record.gate.pass) rmSync(dir, { recursive: true, force: true });
  return record;
}

export async function gateFor(
  settings: RunSettings,
  contender: Contender,
  run: RunContext,
  queue: Queue<BenchJobData> | undefined,
  mix: MixCounts,
  stats: Record<string, unknown> | undefined,
): Promise<GateResult> {
  if (contender.transport === "queue") {
    if (queue === undefined || run.databasePath === undefined) throw new Error("no queue");
    return gateQueue({ counts: await queueCounts(queue), databasePath: run.databasePath, mix });
  }
  const decodedValid =
    contender.usesDatabase || stats === undefined
      ? undefined
      : Number((stats.counts as { valid?: number } | undefined)?.valid ?? -1);
  return gateStream({
    redis: settings.redis,
    stream: run.stream,
    group: run.group,
    databasePath: run.databasePath,
    mix,
    decodedValid,
  });
}

/**
 * Latency: one fresh stream/queue and database, the contender started once, then each rate step
 * in turn: the producer offers `rate` events/s for `seconds`, the backlog is sampled every
 * 250 ms, and the step waits until the backlog is empty before the next. A step that is not
 * held ends the run (higher rates are not attempted).
 */
export async function latencyRun(
  settings: RunSettings,
  contender: Contender,
  plan: readonly StepPlan[],
  repeat: number,
): Promise<RunRecord> {
  const { redis, seed } = settings;
  await redis.flushall();
  const { dir, context: run } = newRun(settings, contender, `latency-r${repeat}`, "latency");
  const stamps = new Stamps();
  const steps: StepRecord[] = [];
  const ranges: { from: number; to: number }[] = [];
  let started: Started | undefined;
  let queue: Queue<BenchJobData> | undefined;
  let error: string | undefined;
  let offset = 0;
  try {
    let sink: Sink;
    if (contender.transport === "stream") {
      await redis.xgroup("CREATE", run.stream, run.group, "$", "MKSTREAM");
      sink = new StreamSink(redis, run.stream, run.group, seed, stamps);
    } else {
      queue = newQueue(settings, run);
      await queue.waitUntilReady();
      sink = new QueueSink(queue, seed, stamps);
    }
    started = await startContender(contender, run, dir, redis);
    for (const step of plan) {
      const count = step.rate * step.seconds;
      const monitor = monitorBacklog(sink, 250);
      const produced = await produceAtRate(sink, offset, count, step.rate);
      monitor.stop();
      const backlogAtEnd = await sink.backlog();
      const secondHalf = monitor.samples
        .filter((s) => s.at >= produced.seconds / 2)
        .map((s) => ({ x: s.at, y: s.backlog }));
      const growth = slope(secondHalf);
      const producerLimited = produced.achievedRate < 0.95 * step.rate;
      const held =
        !producerLimited &&
        (Number.isNaN(growth) || growth <= HELD_GROWTH_FRACTION * step.rate) &&
        backlogAtEnd <= HELD_BACKLOG_SECONDS * step.rate;
      const drainStarted = performance.now();
      const drained = await untilDrained(sink, 300_000, 50);
      steps.push({
        ...step,
        sent: produced.sent,
        achievedRate: produced.achievedRate,
        backlogGrowthPerSecond: growth,
        backlogAtEnd,
        held,
        producerLimited,
        secondsToDrainAfter: drained ? (performance.now() - drainStarted) / 1000 : undefined,
        latency: undefined,
        latencyUpperBound: undefined,
        backlogSamples: monitor.samples,
      });
      ranges.push({ from: offset, to: offset + count });
      offset += count;
      settings.log(
        `    ${step.rate}/s: offered ${Math.round(produced.achievedRate)}/s, backlog at end ${backlogAtEnd}, growth ${Math.round(growth)}/s → ${held ? "held" : "NOT held"}`,
      );
      if (!drained)
        throw new Error(`backlog not drained within 300 s after the ${step.rate}/s step`);
      if (!held) break;
    }
  } catch (caught) {
    error = (caught as Error).message;
  }
  const mix = countMix(seed, 0, offset);
  const record = await finishRun(
    settings,
    contender,
    run,
    started,
    (stats) => gateFor(settings, contender, run, queue, mix, stats),
    { contender: contender.key, mode: "latency", repeat, events: offset, mix, steps, error },
  );
  await queue?.obliterate({ force: true }).catch(() => undefined);
  await queue?.close();
  if (record.gate.pass) {
    addLatencies(steps, ranges, stamps, run, contender);
    if (!settings.keepFiles) rmSync(dir, { recursive: true, force: true });
  }
  return record;
}

function addLatencies(
  steps: StepRecord[],
  ranges: { from: number; to: number }[],
  stamps: Stamps,
  run: RunContext,
  contender: Contender,
): void {
  const stepOf = (index: number) => ranges.findIndex((r) => index >= r.from && index < r.to);
  const perStep: number[][] = steps.map(() => []);
  const upperPerStep: number[][] = steps.map(() => []);
  if (run.databasePath !== undefined && existsSync(run.databasePath)) {
    const db = new Database(run.databasePath, { readonly: true });
    const rows = db.query("SELECT trace_id, processed_at FROM processed_events").values() as [
      string,
      number,
    ][];
    db.close();
    // Sequential workers start a batch only after the previous one committed and was ACKed:
    // the next distinct processed_at bounds this batch's commit time from above.
    const sequential = contender.key === "a" || contender.key === "b";
    const distinct = sequential
      ? [...new Set(rows.map((r) => Number(r[1])))].sort((x, y) => x - y)
      : [];
    for (const [traceId, processedAt] of rows) {
      const index = indexOfTraceId(traceId);
      const step = stepOf(index);
      if (step < 0) continue;
      const publishedMs = stamps.get(index) / 1000;
      perStep[step]?.push(Number(processedAt) - publishedMs);
      if (sequential) {
        const next = distinct[upperBound(distinct, Number(processedAt))];
        if (next !== undefined && next - Number(processedAt) <= 250) {
          upperPerStep[step]?.push(next - publishedMs);
        }
      }
    }
  } else if (run.latencyFile !== undefined && existsSync(run.latencyFile)) {
    const pairs = new Float64Array(readFileSync(run.latencyFile).buffer.slice(0));
    for (let k = 0; k + 1 < pairs.length; k += 2) {
      const step = stepOf(pairs[k] as number);
      if (step >= 0) perStep[step]?.push(pairs[k + 1] as number);
    }
  }
  steps.forEach((step, i) => {
    const values = perStep[i] ?? [];
    if (values.length > 0) step.latency = summarizeLatencies(Float64Array.from(values));
    const upper = upperPerStep[i] ?? [];
    if (upper.length > 0) step.latencyUpperBound = summarizeLatencies(Float64Array.from(upper));
  });
}

/** Index of the first element greater than `value` in an ascending array. */
function upperBound(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((sorted[mid] as number) <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
