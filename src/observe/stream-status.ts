/**
 * The figures an operator asks for first — how far behind the consumer group is, what is stuck
 * pending, how many dead letters, what the database holds — read from Redis and libSQL. Shared
 * by `coursepay status` and the scrape-time gauges of /metrics. Read-only: nothing here writes.
 */
import type { Client } from "@libsql/client";
import { deadLetterStreamName } from "../config/redis-topology.ts";
import type { RedisClient } from "../stream/redis-connection.ts";

export interface ConsumerStatus {
  name: string;
  /** Entries delivered to this consumer and not yet ACKed. */
  pending: number;
  /** Milliseconds since this consumer last read (or claimed) anything. */
  idleMs: number;
}

export interface GroupStatus {
  name: string;
  /** Entries not yet delivered to the group; null when Redis cannot tell (after XDEL/trimming). */
  lag: number | null;
  /** Entries delivered to the group since it was created (Redis ≥ 7.0); null when unknown. */
  entriesRead: number | null;
  lastDeliveredId: string;
  /** Entries delivered and not yet ACKed, across the group's consumers. */
  pending: number;
  /**
   * Idle time of the oldest pending entry (`XPENDING key group - + 1`): how long since it was
   * last delivered or refreshed. A live worker refreshes its batch in hand, so a large value
   * means an entry nobody is working on. Null when nothing is pending.
   */
  oldestPendingIdleMs: number | null;
  /**
   * Age of the oldest pending entry since it was published (the time in its id): unlike the
   * idle time, a heartbeat does not reset it, so it shows a batch stuck in retries (database
   * down) as well as entries nobody works on. Null when nothing is pending.
   */
  oldestPendingAgeMs: number | null;
  /** Consumers the group knows (XINFO GROUPS), live or not, asked for or not. */
  consumerCount: number;
  /** Empty when not asked for (`consumers: false`). */
  consumers: ConsumerStatus[];
}

export interface StreamStatus {
  stream: string;
  /** False when the key does not exist (no events were ever published, or it was deleted). */
  exists: boolean;
  length: number;
  groups: GroupStatus[];
  deadLetterStream: string;
  deadLetters: number;
}

export interface StreamStatusOptions {
  /** Default `<stream>.dlq`; Config.deadLetterStream (`{<stream>}.dlq` in a cluster). */
  deadLetterStream?: string | undefined;
  /** Read only this group's details (the other groups are left out). */
  onlyGroup?: string;
  /** Read each group's consumers (one more round trip's worth of XINFO CONSUMERS); default true. */
  consumers?: boolean;
}

/** Two round trips: lengths and groups, then each group's oldest pending entry and consumers. */
export async function readStreamStatus(
  redis: RedisClient,
  stream: string,
  options: StreamStatusOptions = {},
): Promise<StreamStatus> {
  // In a cluster it shares the stream's slot, so this pipeline goes to one node.
  const deadLetterStream = options.deadLetterStream ?? deadLetterStreamName(stream);
  const [length, deadLetters, groupsReply] = await runPipeline(
    redis.pipeline().xlen(stream).xlen(deadLetterStream).xinfo("GROUPS", stream),
    // XINFO GROUPS on a missing key is an error; that is "no groups", not a failure.
    (index, error) => (index === 2 && /no such key/i.test(error.message) ? null : error),
  );
  const groups = ((groupsReply as unknown[][] | null) ?? [])
    .map(toRecord)
    .filter((group) => options.onlyGroup === undefined || group.name === options.onlyGroup);

  const details = redis.pipeline();
  for (const group of groups) {
    details.xpending(stream, String(group.name), "-", "+", 1);
    if (options.consumers !== false) details.xinfo("CONSUMERS", stream, String(group.name));
  }
  const replies = groups.length > 0 ? await runPipeline(details) : [];
  const perGroup = options.consumers !== false ? 2 : 1;

  return {
    stream,
    exists: groupsReply !== null,
    length: Number(length),
    deadLetterStream,
    deadLetters: Number(deadLetters),
    groups: groups.map((group, i) => {
      const oldest = (replies[i * perGroup] as [string, string, number, number][])[0];
      const consumers = perGroup === 2 ? (replies[i * perGroup + 1] as unknown[][]) : [];
      return {
        name: String(group.name),
        lag: nullableNumber(group.lag),
        entriesRead: nullableNumber(group["entries-read"]),
        lastDeliveredId: String(group["last-delivered-id"]),
        pending: Number(group.pending),
        oldestPendingIdleMs: oldest === undefined ? null : Number(oldest[2]),
        oldestPendingAgeMs: oldest === undefined ? null : ageOfEntry(oldest[0]),
        consumerCount: Number(group.consumers ?? 0),
        consumers: consumers.map(toRecord).map((consumer) => ({
          name: String(consumer.name),
          pending: Number(consumer.pending),
          idleMs: Number(consumer.idle),
        })),
      };
    }),
  };
}

export interface LastProcessedEvent {
  traceId: string;
  eventType: string;
  subscriber: string;
  outcome: string;
  /** Milliseconds since the epoch. */
  processedAt: number;
}

export interface DatabaseStatus {
  enrollments: number;
  /** Enrollments whose status is `active` / `revoked` (refunded or charged back). */
  activeEnrollments: number;
  revokedEnrollments: number;
  /**
   * Enrollments whose tenant_id holds a `:` (written before such events were refused): their
   * actor_id (`tenant_id:user_id`) may be shared with another learner.
   */
  ambiguousActorIds: number;
  processedEvents: number;
  lastProcessed: LastProcessedEvent | null;
}

/** Row counts (full scans: fine for a command, too slow for every scrape) and the last event. */
export async function readDatabaseStatus(client: Client): Promise<DatabaseStatus> {
  const [enrollments, ambiguous, processed, last] = await client.batch(
    [
      `SELECT count(*), coalesce(sum(status = 'active'), 0), coalesce(sum(status = 'revoked'), 0)
         FROM course_enrollments`,
      "SELECT count(*) FROM course_enrollments WHERE instr(tenant_id, ':') > 0",
      "SELECT count(*) FROM processed_events",
      // No index on processed_at (it would slow every insert): rows are appended, so the highest
      // rowid is the last one written.
      `SELECT trace_id, event_type, subscriber_name, outcome, processed_at
         FROM processed_events ORDER BY rowid DESC LIMIT 1`,
    ],
    "read",
  );
  const row = last?.rows[0];
  return {
    enrollments: Number(enrollments?.rows[0]?.[0] ?? 0),
    activeEnrollments: Number(enrollments?.rows[0]?.[1] ?? 0),
    revokedEnrollments: Number(enrollments?.rows[0]?.[2] ?? 0),
    ambiguousActorIds: Number(ambiguous?.rows[0]?.[0] ?? 0),
    processedEvents: Number(processed?.rows[0]?.[0] ?? 0),
    lastProcessed:
      row === undefined
        ? null
        : {
            traceId: String(row.trace_id),
            eventType: String(row.event_type),
            subscriber: String(row.subscriber_name),
            outcome: String(row.outcome),
            processedAt: Number(row.processed_at),
          },
  };
}

/** Undefined when Redis answers PING in time, else why not. Never queues behind a dead link. */
export async function checkRedis(
  redis: RedisClient,
  timeoutMs: number,
): Promise<string | undefined> {
  // The worker's connection retries for ever; a command sent while it is down would wait.
  if (redis.status !== "ready") return `Redis connection is ${connectionState(redis.status)}`;
  try {
    await withTimeout(redis.ping(), timeoutMs, "Redis PING");
    return undefined;
  } catch (error) {
    return `Redis: ${errorMessage(error)}`;
  }
}

/** ioredis' status words as an operator reads them. */
export function connectionState(status: string): string {
  switch (status) {
    case "wait":
      return "not opened yet";
    case "connecting":
    case "connect":
      return "connecting";
    case "reconnecting":
      return "reconnecting";
    case "close":
    case "end":
      return "closed";
    default:
      return status;
  }
}

/** Undefined when the database answers `SELECT 1` in time, else why not. */
export async function checkDatabase(
  client: Client,
  timeoutMs: number,
): Promise<string | undefined> {
  try {
    await withTimeout(client.execute("SELECT 1"), timeoutMs, "database SELECT 1");
    return undefined;
  } catch (error) {
    return `database: ${errorMessage(error)}`;
  }
}

/** Rejects with "<what> took longer than N ms" when `promise` has not settled by then. */
export function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} took longer than ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  // A late answer or failure of `promise` after the timeout is dropped, not left unhandled.
  promise.catch(() => {});
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

type Pipeline = ReturnType<RedisClient["pipeline"]>;

/** The replies of a pipeline; the first error throws unless `tolerate` maps it to a reply. */
async function runPipeline(
  pipeline: Pipeline,
  tolerate: (index: number, error: Error) => unknown = (_, error) => error,
): Promise<unknown[]> {
  const results = (await pipeline.exec()) ?? [];
  return results.map(([error, reply], index) => {
    if (error === null) return reply;
    const replacement = tolerate(index, error);
    if (replacement instanceof Error) throw replacement;
    return replacement;
  });
}

/** XINFO replies are flat [name, value, name, value, …] arrays. */
function toRecord(fields: unknown[]): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) record[String(fields[i])] = fields[i + 1];
  return record;
}

function nullableNumber(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value);
}

/** Milliseconds since an entry id's time part (`<ms>-<seq>`), never negative. */
function ageOfEntry(id: string): number {
  return Math.max(0, Date.now() - Number(id.split("-")[0]));
}
