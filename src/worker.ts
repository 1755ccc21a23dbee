import type { Config } from "./config/config.ts";
import { redactUrl } from "./config/redact.ts";
import { describeRedisTarget } from "./config/redis-topology.ts";
import { CoursePaymentSubscriber } from "./course/course-payment-subscriber.ts";
import { MonetizationService } from "./course/monetization-service.ts";
import {
  type Database,
  isRemoteDatabaseUrl,
  openDatabase,
  readWriterSynchronous,
} from "./db/database.ts";
import { migrate } from "./db/migrate.ts";
import { Dispatcher } from "./dispatch/dispatcher.ts";
import { SubscriberRegistry } from "./dispatch/registry.ts";
import type { Logger } from "./observe/logger.ts";
import { COMMIT_STALL_MS, WorkerProgress } from "./observe/worker-progress.ts";
import { type ConsumerObserver, EventConsumer } from "./stream/consumer.ts";
import { warnIfConsumerNameShared } from "./stream/consumer-name-check.ts";
import { fanOut } from "./stream/consumer-observers.ts";
import { DeadLetterWriter } from "./stream/dead-letters.ts";
import type { RedisClient } from "./stream/redis-connection.ts";
import {
  createRedis,
  ensureConsumerGroup,
  reportConnectionState,
} from "./stream/redis-connection.ts";
import { untilRedisAnswers } from "./stream/redis-startup.ts";
import { StreamReader } from "./stream/stream-reader.ts";
import { startStreamRetention } from "./stream/stream-retention.ts";

/** Every subscriber of the application. New event types are added here and nowhere else. */
export function buildRegistry(logger: Logger): SubscriberRegistry {
  return new SubscriberRegistry().register(
    new CoursePaymentSubscriber(new MonetizationService(), logger),
  );
}

/** Opens the store and applies the embedded migrations when MIGRATE_ON_START is on. */
export async function openStore(config: Config, logger: Logger): Promise<Database> {
  const database = await openDatabase({
    url: config.databaseUrl,
    authToken: config.databaseAuthToken,
    filePath: config.databaseFilePath,
    busyTimeoutMs: config.databaseBusyTimeoutMs,
    requestTimeoutMs: config.databaseTimeoutMs,
  });
  logger.info(
    config.databaseFilePath !== undefined
      ? { database: config.databaseFilePath }
      : { database: redactUrl(config.databaseUrl) },
    "Database opened",
  );
  if (config.migrateOnStart) {
    const report = await migrate(database.client);
    if (report.applied.length > 0) logger.info({ applied: report.applied }, "Migrations applied");
  }
  return database;
}

/**
 * What a commit survives on a remote database: the server decides (coursepay sends it no
 * pragma), so this reports the server's own `synchronous`, when it answers that question.
 */
async function remoteDurability(database: Database) {
  const synchronous = await readWriterSynchronous(database.client).catch(() => "unknown");
  return {
    database: "remote",
    synchronous,
    decided_by: "the server",
    hint: "no journal_mode, synchronous or busy_timeout pragma is sent to a remote database: the server's own settings (sqld: WAL on its disk; Turso: its replicated storage) decide what a commit survives",
  };
}

/** What the worker is doing, for readiness while it starts. */
export type WorkerPhase =
  | "opening the database"
  | "waiting for Redis"
  | "consuming"
  | "consumer disabled"
  | "stopped";

export interface Worker {
  /** Undefined until the database is open. */
  readonly database: Database | undefined;
  readonly consumer: EventConsumer | undefined;
  /** The Redis commands connection (health checks, metrics); undefined without a consumer. */
  readonly redis: RedisClient | undefined;
  /** The consumer's blocking-read connection; undefined without a consumer. */
  readonly readConnection: RedisClient | undefined;
  readonly progress: WorkerProgress;
  readonly phase: WorkerPhase;
  /** True while the consumer loop runs and is not stopping (readiness). */
  isConsuming(): boolean;
  /** Opens the store, waits for Redis, starts consuming; returns early when stopped meanwhile. */
  start(): Promise<void>;
  /** Stops the consumer (finishing the batch in hand), then closes Redis and the database. */
  stop(): Promise<void>;
}

/**
 * Wires the store, Redis and the consumer from the configuration. The connections exist from the
 * start, so health and metrics can tell "waiting for Redis" from "running" before anything works.
 */
export function createWorker(
  config: Config,
  logger: Logger,
  observer: ConsumerObserver = {},
): Worker {
  const progress = new WorkerProgress({
    readStallMs: config.blockMs + config.redisTimeoutMs,
    commitStallMs: COMMIT_STALL_MS,
  });
  const connection = (role: string, blockMs?: number) =>
    createRedis(config, {
      connectionName: `coursepay:${config.consumerName}${role}`,
      timeoutMs: config.redisTimeoutMs,
      blockMs,
      failFast: true,
    });
  const commands = config.enableEventConsumer ? connection("") : undefined;
  const blocking = config.enableEventConsumer ? connection(":read", config.blockMs) : undefined;
  const aborter = new AbortController();
  let phase: WorkerPhase = "opening the database";
  let database: Database | undefined;
  let consumer: EventConsumer | undefined;
  let loopRunning = false;
  let retention: ReturnType<typeof startStreamRetention> | undefined;
  let stopped: Promise<void> | undefined;

  const start = async () => {
    database = await openStore(config, logger);
    if (config.databaseFilePath !== undefined) {
      logger.info({ synchronous: await readWriterSynchronous(database.client) }, "Durability");
    } else if (isRemoteDatabaseUrl(config.databaseUrl)) {
      logger.info(await remoteDurability(database), "Durability");
    }
    if (commands === undefined || blocking === undefined) {
      phase = "consumer disabled";
      logger.info("Event consumer disabled (ENABLE_EVENT_CONSUMER=false)");
      return;
    }
    reportConnectionState(commands, logger, "commands");
    reportConnectionState(blocking, logger, "reads");
    phase = "waiting for Redis";
    blocking.connect().catch(() => {}); // reported by reportConnectionState
    const ensureGroup = async (startId: string) => {
      const created = await ensureConsumerGroup(
        commands,
        config.eventStream,
        config.consumerGroup,
        startId,
      );
      if (created) {
        logger.info(
          { stream: config.eventStream, group: config.consumerGroup, start: startId },
          "Consumer group created",
        );
      }
    };
    const setUp = async () => {
      await ensureGroup(config.groupStartId);
      await warnIfConsumerNameShared(
        commands,
        {
          stream: config.eventStream,
          group: config.consumerGroup,
          consumer: config.consumerName,
          claimIdleMs: config.claimIdleMs,
        },
        logger,
      );
    };
    if (!(await untilRedisAnswers(commands, aborter.signal, logger, setUp))) return;
    const reader = new StreamReader(blocking, commands, {
      stream: config.eventStream,
      group: config.consumerGroup,
      consumer: config.consumerName,
      maxEventBytes: config.maxEventBytes,
    });
    consumer = new EventConsumer({
      reader,
      deadLetters: new DeadLetterWriter(commands, config.deadLetterStream),
      dispatcher: new Dispatcher(buildRegistry(logger), database, logger),
      logger,
      observer: fanOut(progress, observer),
      options: { ...config, rejectSimulated: config.appEnv === "production" },
      // A group recreated after NOGROUP starts at 0 whatever GROUP_START_ID says: "$" would
      // skip payments published since the stream was deleted.
      recreateGroup: () => ensureGroup("0"),
    });
    progress.consuming();
    consumer.start();
    loopRunning = true;
    const loopEnded = () => {
      loopRunning = false;
    };
    consumer.finished.then(loopEnded, loopEnded);
    phase = "consuming";
    logger.info(
      {
        stream: config.eventStream,
        group: config.consumerGroup,
        consumer: config.consumerName,
        redis: describeRedisTarget(config),
      },
      "✅ Event consumer started",
    );
    // Opt-in (TRIM_STREAM): the main stream only; dead letters are never trimmed.
    retention = config.trimStream
      ? startStreamRetention({
          redis: commands,
          stream: config.eventStream,
          retentionMs: config.streamRetentionMs,
          logger,
        })
      : undefined;
  };

  const stop = () => {
    stopped ??= (async () => {
      aborter.abort();
      retention?.stop();
      try {
        await consumer?.stop();
      } finally {
        phase = "stopped";
        await Promise.allSettled([commands, blocking].map(quit));
        database?.close();
      }
    })();
    return stopped;
  };

  return {
    get database() {
      return database;
    },
    get consumer() {
      return consumer;
    },
    redis: commands,
    readConnection: blocking,
    progress,
    get phase() {
      return phase;
    },
    isConsuming: () => loopRunning && consumer?.stopping === false,
    start: async () => {
      try {
        await start();
      } catch (error) {
        await stop();
        throw error;
      }
    },
    stop,
  };
}

/** A worker whose start() has returned: its database is open. */
export type StartedWorker = Worker & { readonly database: Database };

/** Creates the worker and starts it (tests, embedders); see createWorker. */
export async function startWorker(
  config: Config,
  logger: Logger,
  observer?: ConsumerObserver,
): Promise<StartedWorker> {
  const worker = createWorker(config, logger, observer);
  await worker.start();
  return worker as StartedWorker;
}

async function quit(redis: RedisClient | undefined): Promise<void> {
  if (redis === undefined) return;
  try {
    if (redis.status === "ready") await redis.quit();
    else redis.disconnect();
  } catch {
    redis.disconnect();
  }
}
