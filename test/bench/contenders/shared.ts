/**
 * What the baseline programs (b, c, d) share: their settings from the environment the bench
 * gives them, the project's own database opening (WAL, busy timeout, `synchronous` read back
 * from the writing connection), the one-event idempotent transaction, and the stdout protocol
 * (`BENCH_READY {json}` once connected; stats written to STATS_FILE at exit).
 */
import { writeFileSync } from "node:fs";
import type { Client, Transaction } from "@libsql/client";
import type Redis from "ioredis";
import type { CoursePaymentEvent } from "../../../src/course/payment-facts.ts";
import {
  type Database,
  openDatabase,
  readWriterSynchronous,
  type SynchronousMode,
} from "../../../src/db/database.ts";
import { applyToPayment } from "./per-event-effect.ts";

/** The name coursepay's subscriber claims under, so processed_events looks the same. */
export const SUBSCRIBER_NAME = "course_payment_subscriber";
/** coursepay's default MAX_EVENT_BYTES. */
export const MAX_EVENT_BYTES = 65_536;

export interface ContenderEnv {
  redisUrl: string;
  databaseUrl: string | undefined;
  stream: string;
  group: string;
  consumer: string;
  statsFile: string | undefined;
  /** (c) only: where to write per-event XADD→ACK latencies (ms, float64 little-endian). */
  latencyFile: string | undefined;
  /** (d) only. */
  queueName: string;
  queuePrefix: string;
  concurrency: number;
}

export function contenderEnv(): ContenderEnv {
  const env = process.env;
  const required = (name: string): string => {
    const value = env[name];
    if (value === undefined || value === "") throw new Error(`${name} is not set`);
    return value;
  };
  return {
    redisUrl: required("REDIS_URL"),
    databaseUrl: env.DATABASE_URL,
    stream: env.EVENT_STREAM ?? "",
    group: env.CONSUMER_GROUP ?? "",
    consumer: env.CONSUMER_NAME ?? "bench",
    statsFile: env.STATS_FILE,
    latencyFile: env.LATENCY_FILE,
    queueName: env.BULLMQ_QUEUE ?? "",
    queuePrefix: env.BULLMQ_PREFIX ?? "benchmq",
    concurrency: Number(env.BULLMQ_CONCURRENCY ?? "100"),
  };
}

/** The store as coursepay opens it: `openDatabase` (WAL, 5 s busy timeout), then the mode read back. */
export async function openBenchDatabase(
  url: string,
): Promise<{ database: Database; synchronous: SynchronousMode }> {
  const filePath = url.startsWith("file:") ? url.slice("file:".length) : undefined;
  const database = await openDatabase({ url, filePath, busyTimeoutMs: 5_000 });
  return { database, synchronous: await readWriterSynchronous(database.client) };
}

export type ApplyOutcome = "applied" | "duplicate" | "conflict";

export interface PaymentToApply {
  /** A payment, a refund or a chargeback. */
  event: CoursePaymentEvent;
  entryId: string;
  payloadHash: string;
}

type Executor = Pick<Transaction, "execute">;

/**
 * The idempotent effect of one event inside an open write transaction: claim the trace_id
 * (INSERT … ON CONFLICT DO NOTHING RETURNING), apply it to its payment row and recompute the
 * course's enrollment when the claim is new, else compare the stored payload hash.
 */
async function claimAndGrant(tx: Executor, item: PaymentToApply, now: number) {
  const { event, entryId, payloadHash } = item;
  const claim = await tx.execute({
    sql: `INSERT INTO processed_events (subscriber_name, trace_id, event_type, stream_entry_id,
            payload_hash, outcome, processed_at)
          VALUES (?, ?, ?, ?, ?, 'applied', ?) ON CONFLICT DO NOTHING RETURNING trace_id`,
    args: [SUBSCRIBER_NAME, event.trace_id, event.event_type, entryId, payloadHash, now],
  });
  if (claim.rows.length > 0) {
    await applyToPayment(tx, event, now);
    return "applied" as const;
  }
  const stored = await tx.execute({
    sql: "SELECT payload_hash FROM processed_events WHERE subscriber_name = ? AND trace_id = ?",
    args: [SUBSCRIBER_NAME, event.trace_id],
  });
  return stored.rows[0]?.[0] === payloadHash ? ("duplicate" as const) : ("conflict" as const);
}

/**
 * One event, one write transaction: BEGIN IMMEDIATE, claim, grant, COMMIT. `processed_at` is
 * read just before BEGIN, as coursepay does for its batches.
 */
export async function applyPayment(client: Client, item: PaymentToApply): Promise<ApplyOutcome> {
  const now = Date.now();
  const tx = await client.transaction("write");
  try {
    const outcome = await claimAndGrant(tx, item, now);
    await tx.commit();
    return outcome;
  } finally {
    tx.close();
  }
}

interface Waiting {
  item: PaymentToApply;
  resolve: (outcome: ApplyOutcome) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit for a worker with many jobs in flight: the events that arrive while the event
 * loop is busy share the next write transaction, each in its own SAVEPOINT (the same statements
 * as `applyPayment`, and a failing event rolls back alone), and every job's promise settles
 * only after the COMMIT. Transactions never overlap: the local driver is synchronous, and a
 * second BEGIN IMMEDIATE would block the process on the first one's lock.
 */
export class GroupCommitter {
  readonly #client: Client;
  readonly #maxEvents: number;
  #waiting: Waiting[] = [];
  #flushing = false;
  /** Transactions committed and events in them, for the stats. */
  commits = 0;
  events = 0;

  constructor(client: Client, maxEvents = 1_000) {
    this.#client = client;
    this.#maxEvents = maxEvents;
  }

  apply(item: PaymentToApply): Promise<ApplyOutcome> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ item, resolve, reject });
      if (!this.#flushing) {
        this.#flushing = true;
        setImmediate(() => void this.#flush());
      }
    });
  }

  async #flush(): Promise<void> {
    while (this.#waiting.length > 0) {
      const group = this.#waiting.splice(0, this.#maxEvents);
      const settled: (() => void)[] = [];
      try {
        const now = Date.now();
        const tx = await this.#client.transaction("write");
        try {
          for (const waiting of group) {
            await tx.execute("SAVEPOINT event");
            try {
              const outcome = await claimAndGrant(tx, waiting.item, now);
              await tx.execute("RELEASE event");
              settled.push(() => waiting.resolve(outcome));
            } catch (error) {
              await tx.execute("ROLLBACK TO event");
              await tx.execute("RELEASE event");
              settled.push(() => waiting.reject(error));
            }
          }
          await tx.commit();
        } finally {
          tx.close();
        }
        this.commits++;
        this.events += group.length;
        for (const settle of settled) settle();
      } catch (error) {
        for (const waiting of group) waiting.reject(error);
      }
    }
    this.#flushing = false;
  }
}

/** Resolves on the first SIGTERM or SIGINT. */
export function stopSignal(): { readonly stopped: boolean; readonly promise: Promise<void> } {
  let stopped = false;
  const promise = new Promise<void>((resolve) => {
    const stop = () => {
      stopped = true;
      resolve();
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
  return {
    get stopped() {
      return stopped;
    },
    promise,
  };
}

export function announceReady(info: Record<string, unknown>): void {
  process.stdout.write(`BENCH_READY ${JSON.stringify(info)}\n`);
}

export function writeStats(file: string | undefined, stats: Record<string, unknown>): void {
  if (file !== undefined) writeFileSync(file, JSON.stringify(stats));
}

type XReadGroupReply = [string, [id: string, fields: string[]][]][] | null;

/**
 * XREADGROUP `>` for a contender: up to `count` new entries, blocking up to 1 s. Undefined once
 * the stop signal has closed the connection (the blocked read then fails on purpose).
 */
export async function readNewEntries(
  blocking: Redis,
  env: ContenderEnv,
  count: number,
  signal: { readonly stopped: boolean },
): Promise<[id: string, fields: string[]][] | undefined> {
  try {
    const reply = (await blocking.xreadgroup(
      "GROUP",
      env.group,
      env.consumer,
      "COUNT",
      count,
      "BLOCK",
      1000,
      "STREAMS",
      env.stream,
      ">",
    )) as XReadGroupReply;
    return reply?.[0]?.[1] ?? [];
  } catch (error) {
    if (signal.stopped) return undefined;
    throw error;
  }
}
