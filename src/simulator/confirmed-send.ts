/**
 * One chunk of the load, sent the way a careful producer sends: XADDs in one pipeline, then
 * (with `waitReplicas`) WAIT for that many replicas in the same round trip, on the same
 * connection, so in a cluster it runs on the node that owns the stream. A round trip that
 * failed on a lost link or a failover (written or not, nobody knows) is sent again with the same
 * entries, hence the same trace_ids: the worker skips a copy that did arrive as a duplicate.
 * Only an error waiting cannot cure stops it. A chunk WAIT did not see on enough replicas in
 * time is on the master alone: it is counted, not resent (the same master would get a copy).
 */
import { sleep } from "../stream/backoff.ts";
import type { RedisClient } from "../stream/redis-connection.ts";
import { classifyRedisError } from "../stream/redis-errors.ts";
import type { LoadEntry } from "./load-generator.ts";

export interface ReplicaWait {
  /** WAIT for this many replicas to hold every write of the round trip. */
  replicas: number;
  /** WAIT's own timeout; keep it below REDIS_TIMEOUT_MS. */
  timeoutMs: number;
}

export interface SendPolicy {
  wait?: ReplicaWait | undefined;
  /** How long a chunk is sent again after failed round trips (a failover takes seconds). */
  retryForMs: number;
  signal?: AbortSignal | undefined;
}

export interface ChunkOutcome {
  /** Round trips it took (1 when all went well). */
  attempts: number;
  /** With `wait`: whether the last round trip was confirmed by enough replicas. */
  confirmed: boolean | undefined;
}

/** Delay between two tries of a chunk: 100 ms, 200 ms, … up to a second. */
const MAX_RETRY_DELAY_MS = 1_000;

export async function sendChunk(
  redis: RedisClient,
  stream: string,
  chunk: readonly LoadEntry[],
  policy: SendPolicy,
): Promise<ChunkOutcome> {
  const deadline = Date.now() + policy.retryForMs;
  for (let attempt = 1; ; attempt++) {
    try {
      const replicas = await sendOnce(redis, stream, chunk, policy.wait);
      const confirmed = policy.wait === undefined ? undefined : replicas >= policy.wait.replicas;
      return { attempts: attempt, confirmed };
    } catch (error) {
      const gaveUp = Date.now() >= deadline || policy.signal?.aborted === true;
      if (classifyRedisError(error) === "persistent" || gaveUp) throw error;
      await sleep(Math.min(attempt * 100, MAX_RETRY_DELAY_MS), policy.signal);
    }
  }
}

/** One round trip: the XADDs, then WAIT when asked; the replicas WAIT counted (0 without). */
async function sendOnce(
  redis: RedisClient,
  stream: string,
  chunk: readonly LoadEntry[],
  wait: ReplicaWait | undefined,
): Promise<number> {
  const pipeline = redis.pipeline();
  for (const entry of chunk) pipeline.xadd(stream, "*", ...entry.fields);
  if (wait !== undefined) pipeline.wait(wait.replicas, wait.timeoutMs);
  const results = (await pipeline.exec()) ?? [];
  const failure = results.find(([error]) => error !== null)?.[0];
  if (failure) throw failure;
  return wait === undefined ? 0 : Number(results.at(-1)?.[1] ?? 0);
}
