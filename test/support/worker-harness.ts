import Redis from "ioredis";
import pino from "pino";
import { type Config, loadConfig } from "../../src/config/config.ts";
import { encodeDataForm } from "../../src/contract/wire-format.ts";
import { type Database, openDatabase } from "../../src/db/database.ts";
import { type Logger, silentLogger } from "../../src/observe/logger.ts";
import { startWorker, type StartedWorker as Worker } from "../../src/worker.ts";
import { tempDatabaseUrl, testRedisUrl, uniqueName } from "./fixtures.ts";

/** A configuration of its own for one test: unique stream, group and database file. */
export function testConfig(env: Record<string, string> = {}): Config {
  const database = tempDatabaseUrl();
  return loadConfig({
    REDIS_URL: testRedisUrl(),
    DATABASE_URL: database.url,
    EVENT_STREAM: uniqueName("stream"),
    CONSUMER_GROUP: uniqueName("group"),
    CONSUMER_NAME: "test-worker",
    BLOCK_MS: "100",
    RETRY_BASE_MS: "5",
    RETRY_MAX_MS: "50",
    ...env,
  });
}

export function testRedis(): Redis {
  return new Redis(testRedisUrl(), { maxRetriesPerRequest: 1 });
}

export async function startTestWorker(config: Config, logger = silentLogger()): Promise<Worker> {
  return startWorker(config, logger);
}

export interface Payment {
  trace_id: string;
  tenant_id?: string;
  user_id?: string;
  course_id?: string;
  language?: string;
}

export function paymentEnvelope(payment: Payment): Record<string, unknown> {
  const metadata: Record<string, string> = { course_id: payment.course_id ?? "course_001" };
  if (payment.language !== undefined) metadata.language = payment.language;
  return {
    event_type: "paycore.payment_succeeded",
    trace_id: payment.trace_id,
    tenant_id: payment.tenant_id ?? "test_tenant",
    user_id: payment.user_id ?? "test_user",
    metadata,
  };
}

/** XADDs a payment in wire form "data"; returns the entry id. */
export async function publishPayment(redis: Redis, stream: string, payment: Payment) {
  return (await redis.xadd(stream, "*", ...encodeDataForm(paymentEnvelope(payment)))) as string;
}

export async function publishFields(redis: Redis, stream: string, fields: string[]) {
  return (await redis.xadd(stream, "*", ...fields)) as string;
}

/** Polls until `check` returns true, or fails with `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await Bun.sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

export interface StreamState {
  pending: number;
  lag: number | null;
  deadLetters: number;
}

export async function streamState(redis: Redis, config: Config): Promise<StreamState> {
  const groups = (await redis.xinfo("GROUPS", config.eventStream)) as unknown[][];
  const group = groups
    .map((fields) => toRecord(fields))
    .find((record) => record.name === config.consumerGroup);
  return {
    pending: Number(group?.pending ?? 0),
    lag: group?.lag === null || group?.lag === undefined ? null : Number(group.lag),
    deadLetters: await redis.xlen(config.deadLetterStream),
  };
}

/** Waits until the group has delivered and settled everything in the stream. */
export async function waitUntilDrained(redis: Redis, config: Config): Promise<void> {
  await waitFor("the stream to be drained", async () => {
    const state = await streamState(redis, config);
    return state.pending === 0 && state.lag === 0;
  });
}

export async function readDeadLetters(redis: Redis, config: Config) {
  const entries = (await redis.xrange(config.deadLetterStream, "-", "+")) as [string, string[]][];
  return entries.map(([id, fields]) => ({ id, ...toRecord(fields) }) as Record<string, string>);
}

function toRecord(fields: unknown[]): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) record[String(fields[i])] = fields[i + 1];
  return record;
}

/** A second handle on the worker's database file, for assertions. */
export async function openTestDatabase(config: Config): Promise<Database> {
  return openDatabase({
    url: config.databaseUrl,
    authToken: config.databaseAuthToken,
    filePath: config.databaseFilePath,
  });
}

export async function countRows(database: Database, sql: string, args: (string | number)[] = []) {
  const result = await database.client.execute({ sql, args });
  return Number(result.rows[0]?.[0] ?? 0);
}

/** A logger that keeps its JSON lines in memory, for tests about what is logged. */
export function capturingLogger(): { logger: Logger; lines: () => Record<string, unknown>[] } {
  const raw: string[] = [];
  const logger = pino(
    { level: "debug", base: undefined, formatters: { level: (label) => ({ level: label }) } },
    { write: (line: string) => raw.push(line) },
  );
  return { logger, lines: () => raw.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

const spawnedWorkers = new Set<Bun.Subprocess>();

/** Kills every worker process spawnWorker started that is still running (call in afterAll). */
export function killSpawnedWorkers(): void {
  for (const child of spawnedWorkers) if (child.exitCode === null) child.kill("SIGKILL");
  spawnedWorkers.clear();
}

/** Runs `coursepay serve` from source in a process of its own, for tests that kill it. */
export function spawnWorker(config: Config, env: Record<string, string> = {}) {
  const output: string[] = [];
  const child = Bun.spawn([process.execPath, "src/main.ts", "serve"], {
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? "/tmp",
      REDIS_URL: config.redisUrl,
      DATABASE_URL: config.databaseUrl,
      EVENT_STREAM: config.eventStream,
      CONSUMER_GROUP: config.consumerGroup,
      CONSUMER_NAME: config.consumerName,
      BLOCK_MS: String(config.blockMs),
      LOG_FORMAT: "json",
      LOG_LEVEL: "warn",
      ...env,
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  spawnedWorkers.add(child);
  void (async () => {
    for await (const chunk of child.stdout) output.push(new TextDecoder().decode(chunk));
  })();
  return { child, output: () => output.join("") };
}
