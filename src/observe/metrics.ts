/**
 * Prometheus metrics of one worker, in a registry of its own (never prom-client's global one, so
 * tests and embedders can make several). Event counters and histograms are fed by the consumer
 * through `batchSettled`; the stream gauges are read from Redis when scraped.
 */
import type Redis from "ioredis";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Database } from "../db/database.ts";
import type { EntryResult } from "../dispatch/dispatcher.ts";
import type { ConsumerObserver } from "../stream/consumer.ts";
import {
  checkDatabase,
  type GroupStatus,
  readStreamStatus,
  type StreamStatus,
  withTimeout,
} from "./stream-status.ts";
import type { WorkerProgress } from "./worker-progress.ts";

/** The `subscriber` label of outcomes decided before any subscriber (invalid, ignored). */
export const NO_SUBSCRIBER = "none";
/** The `event_type` label of entries that could not be decoded. */
export const UNKNOWN_EVENT_TYPE = "unknown";
/** Past this many distinct event types, new ones are counted as "other": producers are not trusted. */
const MAX_EVENT_TYPES = 50;

export interface MetricsSources {
  stream: string;
  group: string;
  /** The worker's commands connection; undefined before start-up or with the consumer disabled. */
  redis(): Redis | undefined;
  database(): Database | undefined;
  /** What the consumer achieves (last read, last commit); undefined before start-up. */
  progress?(): WorkerProgress | undefined;
  /** How long a scrape may wait for Redis and the database; default 1000 ms. */
  scrapeTimeoutMs?: number;
}

/** What one scrape read; shared by every gauge of that scrape. */
interface Snapshot {
  redisUp: boolean;
  databaseUp: boolean;
  stream: StreamStatus | undefined;
  group: GroupStatus | undefined;
}

export class WorkerMetrics implements ConsumerObserver {
  readonly registry = new Registry();

  readonly #sources: MetricsSources;
  readonly #eventTypes = new Set<string>();
  #scrape: Promise<Snapshot> | undefined;

  readonly #received = new Counter({
    name: "coursepay_events_received_total",
    help: "Stream entries processed, by event type (an entry retried in place counts each time)",
    labelNames: ["event_type"] as const,
    registers: [this.registry],
  });
  readonly #outcomes = new Counter({
    name: "coursepay_event_outcomes_total",
    help: `Outcomes by event type (as in coursepay_events_received_total) and subscriber ("${NO_SUBSCRIBER}" when decided before any subscriber)`,
    labelNames: ["event_type", "subscriber", "outcome"] as const,
    registers: [this.registry],
  });
  readonly #processing = new Histogram({
    name: "coursepay_event_processing_seconds",
    help: "From an entry's arrival in the stream (the time in its id) to its settled outcome",
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800],
    registers: [this.registry],
  });
  readonly #batchDuration = new Histogram({
    name: "coursepay_batch_duration_seconds",
    help: "Time to dispatch, commit, dead-letter and ACK one batch",
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly #commitFailures = new Counter({
    name: "coursepay_commit_failures_total",
    help: "Batch transactions that failed to commit (each retry counts); they stay pending",
    registers: [this.registry],
  });
  readonly #batchSize = new Histogram({
    name: "coursepay_batch_size",
    help: "Entries in one batch",
    buckets: [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000],
    registers: [this.registry],
  });

  constructor(sources: MetricsSources) {
    this.#sources = sources;
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
    const now = Date.now();
    for (const { entry, outcomes } of results) {
      const eventType = this.#eventTypeLabel(entry.decoded);
      this.#received.inc({ event_type: eventType });
      for (const { subscriber, outcome } of outcomes) {
        this.#outcomes.inc({
          event_type: eventType,
          subscriber: subscriber ?? NO_SUBSCRIBER,
          outcome,
        });
      }
      const arrivedAt = Number.parseInt(entry.id, 10);
      if (Number.isFinite(arrivedAt)) this.#processing.observe(Math.max(0, now - arrivedAt) / 1000);
    }
    this.#batchDuration.observe(durationSeconds);
    this.#batchSize.observe(results.length);
  }

  /** The Prometheus text exposition; never waits longer than the scrape timeout for Redis. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  #eventTypeLabel(decoded: EntryResult["entry"]["decoded"]): string {
    if (!decoded.ok) return UNKNOWN_EVENT_TYPE;
    const type = decoded.event.event_type;
    if (this.#eventTypes.has(type)) return type;
    if (this.#eventTypes.size >= MAX_EVENT_TYPES) return "other";
    this.#eventTypes.add(type);
    return type;
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
  async #readStream(redis: Redis, timeoutMs: number): Promise<StreamStatus | null> {
    // The worker's connection retries for ever: a command sent while it is down would queue.
    if (redis.status !== "ready") return null;
    const { stream, group } = this.#sources;
    return withTimeout(
      readStreamStatus(redis, stream, { onlyGroup: group, consumers: false }),
      timeoutMs,
      "reading the stream",
    ).catch(() => null);
  }
}
