/**
 * Publishes a load mix to a stream: as fast as Redis takes it (pipelined chunks of XADDs, one
 * round trip each), or paced at a rate (each entry sent once its time has come, the ones due
 * together in one pipeline), and counts what went out by kind. Each chunk goes through
 * sendChunk: with `waitReplicas`, confirmed by that many replicas (WAIT), and sent again after
 * a round trip lost to a failover.
 */
import type { RedisClient } from "../stream/redis-connection.ts";
import { type ChunkOutcome, type ReplicaWait, sendChunk } from "./confirmed-send.ts";
import type { EnrollmentForecast } from "./enrollment-forecast.ts";
import type { InvalidKind, LoadEntry } from "./load-generator.ts";

export interface PublishLoadOptions {
  redis: RedisClient;
  stream: string;
  entries: Iterable<LoadEntry>;
  /** Entries per second; as fast as possible when undefined. */
  ratePerSecond?: number | undefined;
  /** Most XADDs in one pipeline. @defaultValue 500 */
  chunkSize?: number;
  /** Called after each chunk with the number published so far. */
  onProgress?: (published: number) => void;
  /** Stops after the chunk in flight (Ctrl-C). */
  signal?: AbortSignal;
  /** @defaultValue performance.now */
  now?: () => number;
  /** Told of every payment and reversal published, to work out the enrollments they leave. */
  forecast?: EnrollmentForecast;
  /** WAIT after each chunk for this many replicas (`--wait-replicas`). */
  waitReplicas?: ReplicaWait | undefined;
  /**
   * How long a chunk whose round trip failed (a lost link, a failover) is sent again before
   * the run fails. @defaultValue 0 (fails at once)
   */
  retryForMs?: number;
  /** Told of each chunk once sent: how many round trips it took, whether replicas confirmed it. */
  onSent?: (chunk: readonly LoadEntry[], outcome: ChunkOutcome) => void;
}

export interface LoadSummary {
  published: number;
  valid: number;
  duplicates: number;
  /** Refunds and chargebacks, and how many of them went out before their payment. */
  reversals: number;
  reversalsBeforePayment: number;
  invalid: number;
  invalidByKind: Partial<Record<InvalidKind, number>>;
  elapsedMs: number;
  /** True when the signal stopped it before the end. */
  interrupted: boolean;
  /** With waitReplicas: entries whose chunk that many replicas confirmed, and the others. */
  confirmed: number;
  unconfirmed: number;
  /** Entries sent more than once (their round trip failed): maybe in the stream twice. */
  resent: number;
}

const DEFAULT_CHUNK_SIZE = 500;
/** Longest sleep while paced, so Ctrl-C is noticed promptly even at low rates. */
const MAX_PACING_SLEEP_MS = 200;

export async function publishLoad(options: PublishLoadOptions): Promise<LoadSummary> {
  const now = options.now ?? (() => performance.now());
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const rate = options.ratePerSecond;
  const iterator = options.entries[Symbol.iterator]();
  const summary: LoadSummary = {
    published: 0,
    valid: 0,
    duplicates: 0,
    reversals: 0,
    reversalsBeforePayment: 0,
    invalid: 0,
    invalidByKind: {},
    elapsedMs: 0,
    interrupted: false,
    confirmed: 0,
    unconfirmed: 0,
    resent: 0,
  };
  const startedAt = now();
  // One entry looked ahead, so the end is known without waiting for a next slot.
  let next = iterator.next();
  while (!next.done) {
    if (options.signal?.aborted) {
      summary.interrupted = true;
      break;
    }
    let room = chunkSize;
    if (rate !== undefined) {
      // Entry i is due `i / rate` seconds after the start.
      const elapsedMs = now() - startedAt;
      const due = Math.floor((elapsedMs * rate) / 1000) + 1 - summary.published;
      if (due <= 0) {
        const nextDueMs = (summary.published * 1000) / rate - elapsedMs;
        await Bun.sleep(Math.min(MAX_PACING_SLEEP_MS, Math.max(1, nextDueMs)));
        continue;
      }
      room = Math.min(room, due);
    }
    const chunk: LoadEntry[] = [];
    while (chunk.length < room && !next.done) {
      chunk.push(next.value);
      next = iterator.next();
    }
    const outcome = await sendChunk(options.redis, options.stream, chunk, {
      wait: options.waitReplicas,
      retryForMs: options.retryForMs ?? 0,
      signal: options.signal,
    });
    options.onSent?.(chunk, outcome);
    if (outcome.attempts > 1) summary.resent += chunk.length;
    if (outcome.confirmed === true) summary.confirmed += chunk.length;
    if (outcome.confirmed === false) summary.unconfirmed += chunk.length;
    count(summary, chunk, options.forecast);
    options.onProgress?.(summary.published);
  }
  summary.elapsedMs = now() - startedAt;
  return summary;
}

function count(
  summary: LoadSummary,
  chunk: readonly LoadEntry[],
  forecast: EnrollmentForecast | undefined,
): void {
  for (const entry of chunk) {
    summary.published++;
    switch (entry.kind) {
      case "valid":
        summary.valid++;
        forecast?.paid(entry.keyIndex);
        break;
      case "duplicate":
        summary.duplicates++;
        break;
      case "reversal":
        summary.reversals++;
        if (entry.beforePayment) summary.reversalsBeforePayment++;
        forecast?.reversed(entry.keyIndex);
        break;
      case "invalid":
        summary.invalid++;
        summary.invalidByKind[entry.invalid] = (summary.invalidByKind[entry.invalid] ?? 0) + 1;
    }
  }
}
