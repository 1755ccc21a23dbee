import type Redis from "ioredis";
import type { Config } from "./config/config.ts";
import { redactUrl } from "./config/redact.ts";
import { CoursePaymentSubscriber } from "./course/course-payment-subscriber.ts";
import { MonetizationService } from "./course/monetization-service.ts";
import { type Database, openDatabase, readWriterSynchronous } from "./db/database.ts";
import { migrate } from "./db/migrate.ts";
import { Dispatcher } from "./dispatch/dispatcher.ts";
import { SubscriberRegistry } from "./dispatch/registry.ts";
import type { Logger } from "./observe/logger.ts";
import { type ConsumerObserver, EventConsumer } from "./stream/consumer.ts";
import { DeadLetterWriter, deadLetterStreamName } from "./stream/dead-letters.ts";
import {
  checkRedisVersion,
  createRedis,
  ensureConsumerGroup,
  reportConnectionState,
} from "./stream/redis-connection.ts";
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

export interface Worker {
  readonly database: Database;
  readonly consumer: EventConsumer | undefined;
  /** The Redis commands connection, for health checks and metrics; undefined without a consumer. */
  readonly redis: Redis | undefined;
  /** True while the consumer loop runs and is not stopping (readiness). */
  isConsuming(): boolean;
  /** Stops the consumer (finishing the batch in hand), then closes Redis and the database. */
  stop(): Promise<void>;
}

/** Wires the store, Redis and the consumer from the configuration, and starts consuming. */
export async function startWorker(
  config: Config,
  logger: Logger,
  observer?: ConsumerObserver,
): Promise<Worker> {
  const database = await openStore(config, logger);
  if (config.databaseFilePath !== undefined) {
    logger.info({ synchronous: await readWriterSynchronous(database.client) }, "Durability");
  }
  if (!config.enableEventConsumer) {
    logger.info("Event consumer disabled (ENABLE_EVENT_CONSUMER=false)");
    return {
      database,
      consumer: undefined,
      redis: undefined,
      isConsuming: () => false,
      stop: async () => database.close(),
    };
  }

  const commands = createRedis(config.redisUrl, {
    connectionName: `coursepay:${config.consumerName}`,
  });
  const blocking = createRedis(config.redisUrl, {
    connectionName: `coursepay:${config.consumerName}:read`,
  });
  reportConnectionState(commands, logger, "commands");
  reportConnectionState(blocking, logger, "reads");
  const closeRedis = () => Promise.allSettled([quit(commands), quit(blocking)]);
  try {
    await checkRedisVersion(commands);
    const ensureGroup = async () => {
      const created = await ensureConsumerGroup(
        commands,
        config.eventStream,
        config.consumerGroup,
        config.groupStartId,
      );
      if (created) {
        logger.info(
          { stream: config.eventStream, group: config.consumerGroup, start: config.groupStartId },
          "Consumer group created",
        );
      }
    };
    await ensureGroup();

    const consumer = new EventConsumer({
      reader: new StreamReader(
        blocking,
        commands,
        config.eventStream,
        config.consumerGroup,
        config.consumerName,
      ),
      deadLetters: new DeadLetterWriter(commands, deadLetterStreamName(config.eventStream)),
      dispatcher: new Dispatcher(buildRegistry(logger), database, logger),
      logger,
      observer,
      options: { ...config, rejectSimulated: config.appEnv === "production" },
      recreateGroup: ensureGroup,
    });
    consumer.start();
    let loopRunning = true;
    const loopEnded = () => {
      loopRunning = false;
    };
    consumer.finished.then(loopEnded, loopEnded);
    logger.info(
      {
        stream: config.eventStream,
        group: config.consumerGroup,
        consumer: config.consumerName,
        redis: redactUrl(config.redisUrl),
      },
      "✅ Event consumer started",
    );
    // Opt-in (TRIM_STREAM): the main stream only; dead letters are never trimmed.
    const retention = config.trimStream
      ? startStreamRetention({
          redis: commands,
          stream: config.eventStream,
          retentionMs: config.streamRetentionMs,
          logger,
        })
      : undefined;
    let stopped: Promise<void> | undefined;
    return {
      database,
      consumer,
      redis: commands,
      isConsuming: () => loopRunning && !consumer.stopping,
      stop: () => {
        stopped ??= (async () => {
          retention?.stop();
          try {
            await consumer.stop();
          } finally {
            await closeRedis();
            database.close();
          }
        })();
        return stopped;
      },
    };
  } catch (error) {
    await closeRedis();
    database.close();
    throw error;
  }
}

async function quit(redis: Redis): Promise<void> {
  try {
    await redis.quit();
  } catch {
    redis.disconnect();
  }
}
