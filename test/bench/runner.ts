/**
 * One run of one contender: a fresh stream (or queue) and a fresh database file, the contender
 * started as its own process, the events put in front of it, the measurements, its stop, and
 * the correctness gate. Here: what every run records, and the `drain` run (preloaded, time
 * until all are settled); the `latency` run is in latency-run.ts.
 */
import { rmSync } from "node:fs";
import { Queue } from "bullmq";
import { redisOptionsFromUrl } from "../../src/stream/redis-connection.ts";
import type { BenchJobData } from "./contenders/bullmq-worker.ts";
import type { Contender, RunContext } from "./contenders/registry.ts";
import { countMix, type MixCounts } from "./events.ts";
import {
  describeFailures,
  type GateResult,
  gateQueue,
  gateStream,
  type QueueCounts,
} from "./gate.ts";
import type { LatencySummary } from "./measure.ts";
import {
  type BacklogSample,
  preload,
  QueueSink,
  type Sink,
  Stamps,
  StreamSink,
} from "./producer.ts";
import {
  newRun,
  type RunSettings,
  readStats,
  type Started,
  startContender,
  stopContender,
  tail,
} from "./run-process.ts";

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

export function newQueue(settings: RunSettings, run: RunContext): Queue<BenchJobData> {
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

export async function finishRun(
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
  const mix = countMix(seed, 0, events, contender.mix);
  const stamps = new Stamps();
  const base = { contender: contender.key, mode: "drain" as const, repeat, events, mix };
  let started: Started | undefined;
  let queue: Queue<BenchJobData> | undefined;
  let error: string | undefined;
  let drain: RunRecord["drain"];
  try {
    if (contender.transport === "stream") {
      const sink = new StreamSink(redis, run.stream, run.group, seed, stamps, contender.mix);
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
