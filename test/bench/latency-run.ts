/**
 * The latency run: one worker process offered each rate step in turn, with the backlog sampled,
 * the gate at the end, and per-event latencies from publish stamp to commit stamp.
 */
import { Database } from "bun:sqlite";
import { existsSync, readFileSync, rmSync } from "node:fs";
import type { Queue } from "bullmq";
import type { BenchJobData } from "./contenders/bullmq-worker.ts";
import type { Contender, RunContext } from "./contenders/registry.ts";
import { countMix, indexOfTraceId } from "./events.ts";
import { slope, summarizeLatencies } from "./measure.ts";
import {
  monitorBacklog,
  produceAtRate,
  QueueSink,
  type Sink,
  Stamps,
  StreamSink,
} from "./producer.ts";
import { newRun, type RunSettings, type Started, startContender } from "./run-process.ts";
import {
  finishRun,
  gateFor,
  HELD_BACKLOG_SECONDS,
  HELD_GROWTH_FRACTION,
  newQueue,
  type RunRecord,
  type StepPlan,
  type StepRecord,
  untilDrained,
} from "./runner.ts";

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
      sink = new StreamSink(redis, run.stream, run.group, seed, stamps, contender.mix);
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
  const mix = countMix(seed, 0, offset, contender.mix);
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
