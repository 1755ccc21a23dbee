/**
 * Prometheus metrics of one worker, in a registry of its own (never prom-client's global one, so
 * tests and embedders can make several). Event counters and histograms are fed by the consumer
 * through `batchSettled`; the stream gauges are read from Redis when scraped.
 */

import { Counter, Gauge, Registry } from "prom-client";
import type { Database } from "../db/database.ts";
import type { EntryResult } from "../dispatch/dispatcher.ts";
import type { ConsumerObserver } from "../stream/consumer.ts";
import type { DeadLetter } from "../stream/dead-letters.ts";
import type { RedisClient } from "../stream/redis-connection.ts";
import { EventMetrics } from "./event-metrics.ts";
import { registerRuntimeMetrics } from "./runtime-metrics.ts";
import {
  checkDatabase,
  type GroupStatus,
  readStreamStatus,
  type StreamStatus,
  withTimeout,
} from "./stream-status.ts";
import { ThroughputHistory } from "./throughput-history.ts";
import type { WorkerProgress } from "./worker-progress.ts";

export { NO_SUBSCRIBER, UNKNOWN_EVENT_TYPE } from "./event-metrics.ts";

export interface MetricsSources {
  stream: string;
  /** Default `<stream>.dlq`; Config.deadLetterStream (`{<stream>}.dlq` in a cluster). */
  deadLetterStream?: string;
  group: string;
  /** The worker's commands connection; undefined before start-up or with the consumer disabled. */
  redis(): RedisClient | undefined;
  database(): Database | undefined;
  /** What the consumer achieves (last read, last commit); undefined before start-up. */
  progress?(): WorkerProgress | undefined;
  /** How long a scrape may wait for Redis and the database; default 1000 ms. */
  scrapeTimeoutMs?: number;
}

/** What one scrape read; shared by every gauge of that scrape (and the status page). */
export interface Snapshot {
  redisUp: boolean;
  databaseUp: boolean;
  stream: StreamStatus | undefined;
  group: GroupStatus | undefined;
}

export class WorkerMetrics implements ConsumerObserver {
  readonly registry = new Registry();

  /** Outcomes per 10 s over the last 15 minutes, for the status page. */
  readonly throughput = new ThroughputHistory();

  readonly #sources: MetricsSources;
  readonly #events = new EventMetrics(this.registry);
  #scrape: Promise<Snapshot> | undefined;

  readonly #commitFailures = new Counter({
    name: "coursepay_commit_failures_total",
    help: "Batch transactions that failed to commit (each retry counts); they stay pending",
    registers: [this.registry],
  });

  constructor(sources: MetricsSources) {
    this.#sources = sources;
    registerRuntimeMetrics(this.registry);
    const scraped = (name: string, help: string, read: (snapshot: Snapshot) => number | null) => {
      const gauge: Gauge = new Gauge({
        name,
        help,
        registers: [this.registry],
        collect: async () => {
          const value = read(await this.#snapshot());
          // No sample rather than a stale one when the figure could not be read.
          if (value === null) gauge.remove();
          else gauge.set(value);
        },
      });
    };
    const group = (read: (group: GroupStatus) => number | null) => (snapshot: Snapshot) =>
      snapshot.group === undefined ? null : read(snapshot.group);
    scraped(
      "coursepay_stream_length",
      "Entries in the event stream",
      (s) => s.stream?.length ?? null,
    );
    scraped(
      "coursepay_group_lag",
      "Entries in the stream not yet delivered to the consumer group",
      group((g) => g.lag),
    );
    scraped(
      "coursepay_group_pending",
      "Entries delivered to the consumer group and not yet acknowledged",
      group((g) => g.pending),
    );
    scraped(
      "coursepay_group_oldest_pending_idle_seconds",
      "Idle time of the group's oldest pending entry (0 when none is pending)",
      group((g) => (g.oldestPendingIdleMs ?? 0) / 1000),
    );
    scraped(
      "coursepay_group_oldest_pending_age_seconds",
      "Time since the group's oldest pending entry was published (0 when none is pending)",
      group((g) => (g.oldestPendingAgeMs ?? 0) / 1000),
    );
    scraped(
      "coursepay_dead_letters",
      "Entries in the dead-letter stream",
      (s) => s.stream?.deadLetters ?? null,
    );
    scraped(
      "coursepay_group_consumers",
      "Consumers the group knows (XINFO GROUPS), including ones of workers gone",
      group((g) => g.consumerCount),
    );
    scraped(
      "coursepay_redis_up",
      "1 when Redis answered the scrape in time; 0 while down, connecting or not configured",
      (s) => Number(s.redisUp),
    );
    scraped(
      "coursepay_database_up",
      "1 when the database answered the scrape in time; 0 while down, closed or not yet open",
      (s) => Number(s.databaseUp),
    );
    const progressGauge = (
      name: string,
      help: string,
      read: (p: WorkerProgress) => number | null,
    ) => {
      const gauge: Gauge = new Gauge({
        name,
        help,
        registers: [this.registry],
        collect: () => {
          const progress = this.#sources.progress?.();
          const value = progress === undefined ? null : read(progress);
          if (value === null) gauge.remove();
          else gauge.set(value);
        },
      });
    };
    progressGauge(
      "coursepay_seconds_since_last_read",
      "Seconds since a read from the stream last came back (XREADGROUP or XAUTOCLAIM)",
      (p) => p.secondsSinceLastRead(),
    );
    progressGauge(
      "coursepay_seconds_since_last_commit",
      "Seconds since a batch last committed in the database",
      (p) => p.secondsSinceLastCommit(),
    );
  }

  /** Called by the consumer when a batch's transaction failed. */
  commitFailed(): void {
    this.#commitFailures.inc();
  }

  /** Called by the consumer after each batch; cheap and synchronous. */
  batchSettled(results: readonly EntryResult[], durationSeconds: number): void {
    this.#events.batchSettled(results, durationSeconds);
    this.throughput.batchSettled(results);
  }

  /** Called by the consumer with the dead letters Redis confirmed written. */
  deadLettersWritten(letters: readonly DeadLetter[]): void {
    this.#events.deadLettersWritten(letters);
  }

  /** Dead letters this worker wrote since start, by reason. */
  deadLettersByReason(): Record<string, number> {
    return this.#events.deadLettersByReason();
  }

  /** The Prometheus text exposition; never waits longer than the scrape timeout for Redis. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** The figures the stream gauges show, read now (the status page). */
  readFigures(): Promise<Snapshot> {
    return this.#snapshot();
  }

  /** One read of Redis and the database per scrape, however many gauges ask for it. */
  #snapshot(): Promise<Snapshot> {
    this.#scrape ??= this.#read().finally(() => {
      this.#scrape = undefined;
    });
    return this.#scrape;
  }

  async #read(): Promise<Snapshot> {
    const timeoutMs = this.#sources.scrapeTimeoutMs ?? 1_000;
    const redis = this.#sources.redis();
    const database = this.#sources.database();
    const [status, databaseProblem] = await Promise.all([
      redis === undefined ? undefined : this.#readStream(redis, timeoutMs),
      database === undefined || database.closed
        ? undefined
        : checkDatabase(database.client, timeoutMs),
    ]);
    return {
      redisUp: status !== undefined && status !== null,
      databaseUp: database !== undefined && !database.closed && databaseProblem === undefined,
      stream: status ?? undefined,
      group: status?.groups[0],
    };
  }

  /** The stream's figures and the group's, or null when Redis did not answer in time. */
  async #readStream(redis: RedisClient, timeoutMs: number): Promise<StreamStatus | null> {
    // The worker's connection retries for ever: a command sent while it is down would queue.
    if (redis.status !== "ready") return null;
    const { stream, group, deadLetterStream } = this.#sources;
    return withTimeout(
      readStreamStatus(redis, stream, { onlyGroup: group, consumers: false, deadLetterStream }),
      timeoutMs,
      "reading the stream",
    ).catch(() => null);
  }
}
