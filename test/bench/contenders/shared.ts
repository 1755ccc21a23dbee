/**
 * What the baseline programs (b, c, d) share: their settings from the environment the bench
 * gives them, the project's own database opening (WAL, busy timeout, `synchronous` read back
 * from the writing connection), the one-event idempotent transaction, and the stdout protocol
 * (`BENCH_READY {json}` once connected; stats written to STATS_FILE at exit).
 */
import { writeFileSync } from "node:fs";
import type { Client } from "@libsql/client";
import type { PaymentSucceededEvent } from "../../../src/contract/event-schema.ts";
import {
  type Database,
  openDatabase,
  readWriterSynchronous,
  type SynchronousMode,
} from "../../../src/db/database.ts";

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

/**
 * One event, one write transaction: claim the trace_id (INSERT … ON CONFLICT DO NOTHING
 * RETURNING), grant the course when the claim is new (INSERT … ON CONFLICT DO NOTHING), else
 * compare the stored payload hash; COMMIT. `processed_at` is read just before BEGIN, as coursepay
 * does for its batches.
 */
export async function applyPayment(
  client: Client,
  event: PaymentSucceededEvent,
  entryId: string,
  payloadHash: string,
): Promise<ApplyOutcome> {
  const now = Date.now();
  const tx = await client.transaction("write");
  try {
    const claim = await tx.execute({
      sql: `INSERT INTO processed_events (subscriber_name, trace_id, event_type, stream_entry_id,
              payload_hash, outcome, processed_at)
            VALUES (?, ?, ?, ?, ?, 'applied', ?) ON CONFLICT DO NOTHING RETURNING trace_id`,
      args: [SUBSCRIBER_NAME, event.trace_id, event.event_type, entryId, payloadHash, now],
    });
    let outcome: ApplyOutcome = "applied";
    if (claim.rows.length > 0) {
      await tx.execute({
        sql: `INSERT INTO course_enrollments (tenant_id, user_id, actor_id, course_id, language,
                status, trace_id, granted_at)
              VALUES (?, ?, ?, ?, ?, 'active', ?, ?) ON CONFLICT DO NOTHING`,
        args: [
          event.tenant_id,
          event.user_id,
          `${event.tenant_id}:${event.user_id}`,
          event.metadata.course_id,
          event.metadata.language ?? null,
          event.trace_id,
          now,
        ],
      });
    } else {
      const stored = await tx.execute({
        sql: "SELECT payload_hash FROM processed_events WHERE subscriber_name = ? AND trace_id = ?",
        args: [SUBSCRIBER_NAME, event.trace_id],
      });
      outcome = stored.rows[0]?.[0] === payloadHash ? "duplicate" : "conflict";
    }
    await tx.commit();
    return outcome;
  } finally {
    tx.close();
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
