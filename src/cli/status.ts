import { existsSync } from "node:fs";
import { type Client, createClient } from "@libsql/client";
import { type Config, loadConfig } from "../config/config.ts";
import { redactUrl } from "../config/redact.ts";
import { describeRedisTarget } from "../config/redis-topology.ts";
import { timedFetch } from "../db/remote-fetch.ts";
import {
  formatTopologyStatus,
  readTopologyStatus,
  type TopologyStatus,
  topologyStatusJson,
} from "../observe/redis-topology-status.ts";
import {
  type DatabaseStatus,
  errorMessage,
  readDatabaseStatus,
  readStreamStatus,
  type StreamStatus,
  withTimeout,
} from "../observe/stream-status.ts";
import { escapeForTerminal } from "../observe/terminal-text.ts";
import { checkRedisVersion } from "../stream/redis-connection.ts";
import { databaseUnreachable, withCommandRedis } from "./command-connections.ts";
import { textTable } from "./text-table.ts";
import { EXIT_FAILURE, EXIT_OK } from "./usage-error.ts";
import { probeLocalWorker, type WorkerReport } from "./worker-probe.ts";

/** How long each of Redis and the database may take before status gives up on it. */
const TIMEOUT_MS = 3_000;

export async function statusCommand(values: { json?: boolean | undefined }): Promise<number> {
  const config = loadConfig();
  const { stream, topology } = await withCommandRedis(config, "status", async (redis) => {
    await withTimeout(checkRedisVersion(redis), TIMEOUT_MS, "Redis INFO");
    const topology = await withTimeout(
      readTopologyStatus(redis, config),
      TIMEOUT_MS,
      "Redis ROLE / CLUSTER SLOTS",
    );
    const stream = await withTimeout(
      readStreamStatus(redis, config.eventStream, { deadLetterStream: config.deadLetterStream }),
      TIMEOUT_MS,
      "Redis XINFO",
    );
    return { stream, topology };
  });
  if (!stream.groups.some((group) => group.name === config.consumerGroup)) {
    console.error(`coursepay: ${missingGroup(config, stream)}`);
    return EXIT_FAILURE;
  }
  const [database, worker] = await Promise.all([readDatabase(config), probeLocalWorker(config)]);
  const now = Date.now();
  console.log(
    values.json
      ? JSON.stringify(
          { ...toJson(config, topology, stream, database, now), worker: workerJson(worker) },
          null,
          2,
        )
      : [formatStatus(config, topology, stream, database, now), ...formatWorker(worker)].join("\n"),
  );
  return EXIT_OK;
}

function missingGroup(config: Config, stream: StreamStatus): string {
  const where = `consumer group "${config.consumerGroup}" not found on stream "${stream.stream}"`;
  if (!stream.exists) return `${where}: the stream does not exist`;
  if (stream.groups.length === 0) return `${where}: the stream has no groups`;
  return `${where}; its groups: ${stream.groups.map((group) => group.name).join(", ")}`;
}

// --- reading ----------------------------------------------------------------------------------

/** Reads the figures without creating anything: a missing file is an error, not a new database. */
async function readDatabase(config: Config): Promise<DatabaseStatus> {
  const where = databaseName(config);
  if (config.databaseFilePath !== undefined && !existsSync(config.databaseFilePath)) {
    throw new Error(`database ${where} does not exist (check DATABASE_URL, or run migrate)`);
  }
  let client: Client | undefined;
  try {
    client = createClient({
      url: config.databaseUrl,
      authToken: config.databaseAuthToken,
      fetch: timedFetch(config.databaseTimeoutMs), // used only by a remote database
    });
    return await withTimeout(readDatabaseStatus(client), TIMEOUT_MS, "reading the database");
  } catch (error) {
    const message = errorMessage(error);
    if (/no such table/i.test(message)) {
      throw new Error(`database ${where} has no coursepay tables: run coursepay migrate`);
    }
    throw databaseUnreachable(config, error);
  } finally {
    client?.close();
  }
}

function databaseName(config: Config): string {
  return config.databaseFilePath ?? redactUrl(config.databaseUrl);
}

// --- output -----------------------------------------------------------------------------------

function toJson(
  config: Config,
  topology: TopologyStatus,
  stream: StreamStatus,
  database: DatabaseStatus,
  now: number,
) {
  const last = database.lastProcessed;
  return {
    checked_at: new Date(now).toISOString(),
    redis: describeRedisTarget(config),
    redis_topology: topologyStatusJson(topology),
    stream: {
      name: stream.stream,
      exists: stream.exists,
      length: stream.length,
      dead_letter_stream: stream.deadLetterStream,
      dead_letters: stream.deadLetters,
    },
    configured_group: config.consumerGroup,
    groups: stream.groups.map((group) => ({
      name: group.name,
      lag: group.lag,
      entries_read: group.entriesRead,
      last_delivered_id: group.lastDeliveredId,
      pending: group.pending,
      oldest_pending_idle_ms: group.oldestPendingIdleMs,
      oldest_pending_age_ms: group.oldestPendingAgeMs,
      consumers: group.consumers.map((consumer) => ({
        name: consumer.name,
        pending: consumer.pending,
        idle_ms: consumer.idleMs,
      })),
    })),
    database: {
      location: databaseName(config),
      enrollments: database.enrollments,
      active_enrollments: database.activeEnrollments,
      revoked_enrollments: database.revokedEnrollments,
      ambiguous_actor_ids: database.ambiguousActorIds,
      processed_events: database.processedEvents,
      last_processed:
        last === null
          ? null
          : {
              trace_id: last.traceId,
              event_type: last.eventType,
              subscriber: last.subscriber,
              outcome: last.outcome,
              processed_at: new Date(last.processedAt).toISOString(),
            },
    },
  };
}

function formatStatus(
  config: Config,
  topology: TopologyStatus,
  stream: StreamStatus,
  database: DatabaseStatus,
  now: number,
): string {
  const lines = [
    `Redis      ${formatTopologyStatus(topology)}`,
    `Stream     ${stream.stream} on ${describeRedisTarget(config)}`,
    `  length        ${stream.length}`,
    `  dead letters  ${stream.deadLetters} in ${stream.deadLetterStream}`,
    "",
    textTable(
      ["GROUP", "LAG", "PENDING", "OLDEST PENDING IDLE", "CONSUMERS", "LAST DELIVERED"],
      stream.groups.map((group) => [
        `${group.name === config.consumerGroup ? "*" : " "} ${group.name}`,
        group.lag === null ? "unknown" : String(group.lag),
        String(group.pending),
        group.oldestPendingIdleMs === null ? "-" : formatDuration(group.oldestPendingIdleMs),
        String(group.consumers.length),
        group.lastDeliveredId,
      ]),
    ),
  ];
  const consumers = stream.groups.flatMap((group) =>
    group.consumers.map((consumer) => [
      group.name,
      consumer.name,
      String(consumer.pending),
      formatDuration(consumer.idleMs),
    ]),
  );
  if (consumers.length > 0) {
    lines.push("", textTable(["GROUP", "CONSUMER", "PENDING", "IDLE"], consumers));
  }
  const last = database.lastProcessed;
  lines.push(
    "",
    `Database   ${databaseName(config)}`,
    `  enrollments       ${database.enrollments} (${database.activeEnrollments} active, ${database.revokedEnrollments} revoked)`,
    ...(database.ambiguousActorIds === 0
      ? []
      : [
          `  WARNING           ${database.ambiguousActorIds} enrollments have a ':' in tenant_id (written before such events were refused): their actor_id may be shared with another learner; check them with coursepay enrollments --tenant …`,
        ]),
    `  processed events  ${database.processedEvents}`,
    last === null
      ? "  last processed    -"
      : `  last processed    ${new Date(last.processedAt).toISOString()} (${formatDuration(now - last.processedAt)} ago): ` +
          escapeForTerminal(
            `${last.traceId} ${last.eventType} → ${last.outcome} (${last.subscriber})`,
          ),
  );
  return lines.join("\n");
}

function workerJson(worker: WorkerReport | undefined) {
  if (worker === undefined) return null;
  return {
    url: worker.url,
    seconds_since_last_read: worker.secondsSinceLastRead ?? null,
    seconds_since_last_commit: worker.secondsSinceLastCommit ?? null,
    commit_failures: worker.commitFailures ?? null,
    readiness: worker.readiness ?? null,
    unreachable: worker.unreachable ?? null,
  };
}

function formatWorker(worker: WorkerReport | undefined): string[] {
  if (worker === undefined) return ["", "Worker     set HTTP_PORT to see this host's worker"];
  if (worker.unreachable !== undefined) {
    return ["", `Worker     ${worker.url}: not answering (${worker.unreachable})`];
  }
  const ago = (seconds: number | undefined) =>
    seconds === undefined ? "-" : `${formatDuration(seconds * 1000)} ago`;
  return [
    "",
    `Worker     ${worker.url}`,
    `  last read         ${ago(worker.secondsSinceLastRead)}`,
    `  last commit       ${ago(worker.secondsSinceLastCommit)}`,
    `  failed commits    ${worker.commitFailures ?? "-"}`,
    `  readiness         ${worker.readiness ?? "-"}`,
  ];
}

/** 850 ms, 12.3 s, 4 m 05 s, 2 h 10 m, 3 d 4 h. */
export function formatDuration(ms: number): string {
  const value = Math.max(0, Math.round(ms));
  if (value < 1_000) return `${value} ms`;
  if (value < 60_000) return `${(value / 1_000).toFixed(1)} s`;
  const seconds = Math.floor(value / 1_000);
  const [d, h, m, s] = [
    Math.floor(seconds / 86_400),
    Math.floor(seconds / 3_600) % 24,
    Math.floor(seconds / 60) % 60,
    seconds % 60,
  ];
  if (d > 0) return `${d} d ${h} h`;
  if (h > 0) return `${h} h ${String(m).padStart(2, "0")} m`;
  return `${m} m ${String(s).padStart(2, "0")} s`;
}
