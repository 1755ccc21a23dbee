/**
 * Putting the event mix in front of a contender: into a Redis Stream (XADD, pipelined) or a
 * BullMQ queue (addBulk), preloaded or at a fixed rate, with the publish stamp of each event
 * recorded (the same number the event carries as `published_at_us`), and the backlog sampled.
 */
import type { Queue } from "bullmq";
import type Redis from "ioredis";
import type { BenchJobData } from "./contenders/bullmq-worker.ts";
import { entryFields, type MixName, nowUs } from "./events.ts";
import { groupInfo } from "./gate.ts";

/** Publish stamps by event index, microseconds (0: not published). */
export class Stamps {
  #values = new Float64Array(1 << 16);

  set(index: number, us: number): void {
    if (index >= this.#values.length) {
      let size = this.#values.length;
      while (size <= index) size *= 2;
      const grown = new Float64Array(size);
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[index] = us;
  }

  get(index: number): number {
    return this.#values[index] ?? 0;
  }
}

export interface Sink {
  /** Publishes events [from, to), each stamped with the time it is handed to the client. */
  publish(from: number, to: number): Promise<void>;
  /** Events published and not yet settled (read and ACKed / completed or failed). */
  backlog(): Promise<number>;
}

export class StreamSink implements Sink {
  constructor(
    private readonly redis: Redis,
    readonly stream: string,
    private readonly group: string,
    private readonly seed: number,
    private readonly stamps: Stamps,
    private readonly mix: MixName = "reversals",
  ) {}

  async publish(from: number, to: number): Promise<void> {
    const pipeline = this.redis.pipeline();
    const stamp = nowUs();
    for (let i = from; i < to; i++) {
      this.stamps.set(i, stamp);
      pipeline.xadd(this.stream, "*", ...entryFields(this.seed, i, stamp, this.mix));
    }
    const replies = (await pipeline.exec()) ?? [];
    const failure = replies.find(([error]) => error !== null)?.[0];
    if (failure) throw failure;
  }

  /** Entries not yet delivered (lag) plus delivered and not ACKed (pending). */
  async backlog(): Promise<number> {
    const info = await groupInfo(this.redis, this.stream, this.group);
    if (info.lag !== null) return info.lag + info.pending;
    return (await this.redis.xlen(this.stream)) - (info.entriesRead ?? 0) + info.pending;
  }
}

export const JOB_OPTIONS = { removeOnComplete: true, removeOnFail: false, attempts: 1 } as const;

export class QueueSink implements Sink {
  constructor(
    private readonly queue: Queue<BenchJobData>,
    private readonly seed: number,
    private readonly stamps: Stamps,
  ) {}

  async publish(from: number, to: number): Promise<void> {
    const stamp = nowUs();
    const jobs = [];
    for (let i = from; i < to; i++) {
      this.stamps.set(i, stamp);
      jobs.push({
        name: "payment",
        data: { fields: entryFields(this.seed, i, stamp), entryId: `job-${i}` },
        opts: JOB_OPTIONS,
      });
    }
    await this.queue.addBulk(jobs);
  }

  async backlog(): Promise<number> {
    // Jobs of a paused queue stay in "waiting" (BullMQ ≥ 5 has no separate paused list).
    const counts = await this.queue.getJobCounts("waiting", "active", "delayed", "prioritized");
    return Object.values(counts).reduce((sum, n) => sum + n, 0);
  }
}

/** Publishes [from, to) as fast as the client allows, in chunks; returns the seconds it took. */
export async function preload(sink: Sink, from: number, to: number, chunk = 1000) {
  const started = performance.now();
  for (let i = from; i < to; i += chunk) await sink.publish(i, Math.min(to, i + chunk));
  return (performance.now() - started) / 1000;
}

export interface RateResult {
  sent: number;
  seconds: number;
  achievedRate: number;
}

/**
 * Publishes `count` events starting at `from` at `rate` events/s: every tick (about 1 ms) it
 * sends what the schedule says is due by now, so a late tick catches up (in a burst) rather
 * than lowering the rate.
 */
export async function produceAtRate(
  sink: Sink,
  from: number,
  count: number,
  rate: number,
): Promise<RateResult> {
  const started = performance.now();
  let sent = 0;
  while (sent < count) {
    const elapsed = (performance.now() - started) / 1000;
    const due = Math.min(count, Math.floor(rate * elapsed));
    if (due > sent) {
      await sink.publish(from + sent, from + due);
      sent = due;
    } else {
      await Bun.sleep(1);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  return { sent, seconds, achievedRate: sent / seconds };
}

export interface BacklogSample {
  /** Seconds since the monitor started. */
  at: number;
  backlog: number;
}

/** Samples the backlog every `intervalMs` (skipping a tick while the previous read is out). */
export function monitorBacklog(sink: Sink, intervalMs = 250) {
  const started = performance.now();
  const samples: BacklogSample[] = [];
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    const at = (performance.now() - started) / 1000;
    sink
      .backlog()
      .then((backlog) => samples.push({ at, backlog }))
      .catch(() => undefined)
      .finally(() => {
        busy = false;
      });
  }, intervalMs);
  return {
    samples,
    stop: () => clearInterval(timer),
  };
}

/** Polls until the backlog is 0; the seconds it took, or undefined after `timeoutMs`. */
export async function waitForEmptyBacklog(
  sink: Sink,
  timeoutMs: number,
  pollMs = 10,
): Promise<number | undefined> {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    if ((await sink.backlog()) === 0) return (performance.now() - started) / 1000;
    await Bun.sleep(pollMs);
  }
  return undefined;
}
