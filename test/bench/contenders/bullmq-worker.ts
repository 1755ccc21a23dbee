/**
 * Contender (d): a BullMQ worker (concurrency 100 by default) doing what coursepay does per
 * event: validate the job's stream entry with the project's `decodeEntry`, then the same
 * idempotent claim + enrollment statements as (b). An invalid event fails the job with
 * UnrecoverableError (no retry): BullMQ's dead letter is its failed set.
 *
 * BULLMQ_COMMIT picks how the jobs in flight reach the database:
 * - `grouped` (default, contender d): group commit — the jobs that arrive together share one
 *   write transaction, a SAVEPOINT each, and each job completes only after that COMMIT. This is
 *   what concurrency 100 buys with SQLite, and what lets it reach ~8,000 events/s here.
 * - `per-event` (contender d1): one write transaction per job, through a mutex. The local
 *   libSQL driver runs statements synchronously on the event loop, so two of this process's
 *   transactions must never be open at once (a second BEGIN IMMEDIATE would block the process
 *   on the first one's lock until the busy timeout). One fsync per event caps it near the
 *   per-transaction rate of the disk.
 *
 * Redis connection: the same ioredis options as coursepay's `createRedis` (URL parsing,
 * maxRetriesPerRequest null, retry strategy, ready check), handed to BullMQ as options.
 */
import { UnrecoverableError, Worker } from "bullmq";
import { decodeEntry } from "../../../src/contract/decode.ts";
import { isCoursePaymentEvent } from "../../../src/course/payment-facts.ts";
import { redisOptionsFromUrl } from "../../../src/stream/redis-connection.ts";
import {
  type ApplyOutcome,
  announceReady,
  applyPayment,
  contenderEnv,
  GroupCommitter,
  MAX_EVENT_BYTES,
  openBenchDatabase,
  type PaymentToApply,
  stopSignal,
  writeStats,
} from "./shared.ts";

export interface BenchJobData {
  /** The stream entry's field/value pairs, exactly as the stream contenders read them. */
  fields: string[];
  /** A stand-in for the stream entry id (stream_entry_id column). */
  entryId: string;
}

const env = contenderEnv();
if (env.databaseUrl === undefined) throw new Error("DATABASE_URL is not set");
const { database, synchronous } = await openBenchDatabase(env.databaseUrl);
const counts = { applied: 0, duplicate: 0, conflict: 0, invalid: 0, ignored: 0 };

const mode = process.env.BULLMQ_COMMIT === "per-event" ? "per-event" : "grouped";
const committer = new GroupCommitter(database.client);
let queueTail: Promise<unknown> = Promise.resolve();
/** per-event: one transaction at a time, in arrival order. */
function serialized(item: PaymentToApply): Promise<ApplyOutcome> {
  const work = () => applyPayment(database.client, item);
  const result = queueTail.then(work, work);
  queueTail = result.catch(() => undefined);
  return result;
}

const worker = new Worker<BenchJobData>(
  env.queueName,
  async (job) => {
    const decoded = decodeEntry(job.data.fields, { maxEventBytes: MAX_EVENT_BYTES });
    if (!decoded.ok) {
      counts.invalid++;
      throw new UnrecoverableError(`${decoded.reason}: ${decoded.detail}`);
    }
    if (!isCoursePaymentEvent(decoded.event)) {
      counts.ignored++;
      return "ignored";
    }
    const item = {
      event: decoded.event,
      entryId: job.data.entryId,
      payloadHash: decoded.payloadHash,
    };
    const outcome = await (mode === "grouped" ? committer.apply(item) : serialized(item));
    counts[outcome]++;
    if (outcome === "conflict") throw new UnrecoverableError("conflict");
    return outcome;
  },
  {
    connection: {
      ...redisOptionsFromUrl(env.redisUrl),
      connectionName: `bench-d:${env.consumer}`,
      maxRetriesPerRequest: null,
      retryStrategy: (attempt: number) => Math.min(attempt * 100, 2_000),
      enableReadyCheck: true,
    },
    prefix: env.queuePrefix,
    concurrency: env.concurrency,
    removeOnComplete: { count: 0 },
    removeOnFail: { count: 1_000_000 },
  },
);
worker.on("error", (error) => console.error("bullmq worker error:", error.message));
await worker.waitUntilReady();
announceReady({ synchronous, concurrency: env.concurrency, commit: mode });

const signal = stopSignal();
await signal.promise;
await worker.close();
writeStats(env.statsFile, {
  counts,
  synchronous,
  commit: mode,
  transactions: mode === "grouped" ? committer.commits : counts.applied + counts.duplicate,
});
database.close();
process.exit(0);
