import { dirname } from "node:path";
import { type Config, isDatabaseUrlSet, loadConfig } from "../config/config.ts";
import { configWarnings } from "../config/config-warnings.ts";
import { settingsInForce } from "../config/settings-report.ts";
import { checkDatabaseFolder, createDatabaseFolder } from "../db/database.ts";
import { startHttpServer } from "../observe/http-server.ts";
import { createLogger, type Logger } from "../observe/logger.ts";
import { WorkerMetrics } from "../observe/metrics.ts";
import { getPaycoreSimulator } from "../simulator/paycore-simulator.ts";
import { buildInfo } from "../version.ts";
import { createWorker, type Worker } from "../worker.ts";
import { EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, UsageError } from "./usage-error.ts";

export async function serveCommand(): Promise<number> {
  const config = loadConfig();
  if (config.enableSimulator && config.appEnv === "production") {
    throw new UsageError(
      "ENABLE_SIMULATOR=true is refused when APP_ENV=production: simulated payments must not reach a production database",
    );
  }
  const logger = createLogger({ level: config.logLevel, format: config.logFormat });
  for (const warning of configWarnings()) logger.warn(warning);
  if (config.databaseFilePath !== undefined) {
    if (isDatabaseUrlSet()) {
      // A mistyped path must not become an empty new database: only migrate creates folders.
      checkDatabaseFolder(config.databaseFilePath);
    } else if (createDatabaseFolder(config.databaseFilePath) !== undefined) {
      // The embedded default (data/coursepay.db), so a fresh checkout's demo just runs.
      logger.info({ folder: dirname(config.databaseFilePath) }, "Created the database folder");
    }
  }
  // What runs, and with which settings (redacted as `coursepay config` shows them).
  logger.info(
    {
      version: buildInfo.version,
      commit: buildInfo.commit ?? null,
      dirty: buildInfo.dirty ?? null,
      built_at: buildInfo.builtAt ?? null,
      bun: buildInfo.bun,
      target: buildInfo.target,
      settings: settingsInForce(process.env),
    },
    "Starting coursepay",
  );

  let worker: Worker | undefined;
  let stopping = false;
  const stopped = new Promise<number>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ signal }, "Second signal: exiting now; unfinished entries stay pending");
        process.exit(EXIT_INTERRUPTED);
      }
      stopping = true;
      // Before the worker exists nothing is in hand (migrations are transactional).
      if (worker === undefined) process.exit(EXIT_OK);
      logger.info({ signal }, "Shutting down: finishing the batch in hand");
      const deadline = setTimeout(() => {
        logger.error(
          { timeout_ms: config.shutdownTimeoutMs },
          "Shutdown timed out; entries in hand stay pending and will be redelivered",
        );
        process.exit(EXIT_FAILURE);
      }, config.shutdownTimeoutMs);
      worker.stop().then(
        () => {
          clearTimeout(deadline);
          logger.info("Stopped");
          resolve(EXIT_OK);
        },
        (error: unknown) => {
          clearTimeout(deadline);
          logger.error({ err: error }, "Shutdown failed");
          resolve(EXIT_FAILURE);
        },
      );
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });

  // Up before the worker, so liveness answers while it migrates or waits for Redis.
  const http =
    config.httpPort === undefined
      ? undefined
      : startHttpEndpoints(config, config.httpPort, logger, () => worker);
  worker = createWorker(config, logger, http?.metrics);
  await worker.start();
  if (stopping) return stopped; // a signal while it waited for Redis: stop() made start return
  const simulatorTimer = config.enableSimulator ? startSimulator(config, logger) : undefined;
  const exitCode = await Promise.race([
    stopped,
    (worker.consumer?.finished ?? new Promise<void>(() => {})).then(() => {
      if (stopping) return stopped;
      logger.error("The consumer loop ended unexpectedly");
      return EXIT_FAILURE;
    }),
  ]);
  if (simulatorTimer !== undefined) clearInterval(simulatorTimer);
  await http?.server.stop();
  return exitCode;
}

/** HTTP_PORT set: /healthz, /readyz and /metrics; the metrics observe the consumer's batches. */
function startHttpEndpoints(
  config: Config,
  port: number,
  logger: Logger,
  worker: () => Worker | undefined,
) {
  const metrics = new WorkerMetrics({
    stream: config.eventStream,
    deadLetterStream: config.deadLetterStream,
    group: config.consumerGroup,
    redis: () => worker()?.redis,
    database: () => worker()?.database,
    progress: () => worker()?.progress,
  });
  const server = startHttpServer({ hostname: config.httpHost, port, metrics, worker, logger });
  logger.info({ address: server.url.origin }, "HTTP server listening");
  return { metrics, server };
}

/** Demo mode: one simulated payment per interval, from a small set of users and courses. */
function startSimulator(
  config: ReturnType<typeof loadConfig>,
  logger: ReturnType<typeof createLogger>,
) {
  const simulator = getPaycoreSimulator();
  let published = 0;
  logger.info({ interval_ms: config.simulatorIntervalMs }, "PayCore simulator publishing payments");
  return setInterval(() => {
    published++;
    const input = {
      tenantId: "test_tenant",
      userId: `test_user_${(published % 20) + 1}`,
      courseId: `course_${String((published % 7) + 1).padStart(3, "0")}`,
      language: published % 2 === 0 ? "de" : "en",
    };
    simulator.publishPaymentSucceeded(input).then(
      (traceId) =>
        logger.info(
          {
            trace_id: traceId,
            tenant_id: input.tenantId,
            user_id: input.userId,
            course_id: input.courseId,
          },
          "Simulator published a payment",
        ),
      (error: unknown) => logger.warn({ err: error }, "Simulator could not publish"),
    );
  }, config.simulatorIntervalMs);
}
