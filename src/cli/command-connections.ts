/**
 * The Redis connection of a command (status, dlq, simulate): bounded by REDIS_TIMEOUT_MS, and a
 * Redis that does not answer is reported the same way by every command, in one line, with no
 * library stack trace (ioredis prints its errors itself unless someone listens).
 */

import type { Config } from "../config/config.ts";
import { redactUrl } from "../config/redact.ts";
import { describeRedisTarget } from "../config/redis-topology.ts";
import { describeDatabaseError } from "../db/database-errors.ts";
import { errorMessage, withTimeout } from "../observe/stream-status.ts";
import type { RedisClient } from "../stream/redis-connection.ts";
import { createRedis } from "../stream/redis-connection.ts";
import { classifyRedisError, redisErrorMessage } from "../stream/redis-errors.ts";

/** Redis or the database could not be reached: one line, exit 1. */
export class UnreachableError extends Error {
  override readonly name = "UnreachableError";
}

export async function openCommandRedis(config: Config, name: string): Promise<RedisClient> {
  const redis = createRedis(config, {
    connectionName: `coursepay-${name}`,
    timeoutMs: config.redisTimeoutMs,
    maxRetriesPerRequest: 1,
  });
  let lastError: Error | undefined;
  redis.on("error", (error: Error) => {
    lastError = error;
  });
  try {
    await withTimeout(redis.connect(), config.redisTimeoutMs + 1_000, "connecting");
    return redis;
  } catch (error) {
    redis.disconnect();
    throw redisUnreachable(config, lastError ?? error);
  }
}

/** Opens the command's connection, runs, always closes; a lost link is one line too. */
export async function withCommandRedis<T>(
  config: Config,
  name: string,
  run: (redis: RedisClient) => Promise<T>,
): Promise<T> {
  const redis = await openCommandRedis(config, name);
  try {
    return await run(redis);
  } catch (error) {
    if (classifyRedisError(error) === "connection") throw redisUnreachable(config, error);
    throw error;
  } finally {
    if (redis.status === "ready") await redis.quit().catch(() => redis.disconnect());
    else redis.disconnect();
  }
}

export function redisUnreachable(config: Config, error: unknown): UnreachableError {
  const reason = error instanceof Error ? redisErrorMessage(error) : errorMessage(error);
  return new UnreachableError(`Redis at ${describeRedisTarget(config)} is unreachable: ${reason}`);
}

/** The database of a command did not answer: the same one line for every command. */
export function databaseUnreachable(config: Config, error: unknown): UnreachableError {
  const where = config.databaseFilePath ?? redactUrl(config.databaseUrl);
  const { code, message } = describeDatabaseError(error);
  const reason = message.startsWith(code) ? message : `${code}: ${message}`;
  return new UnreachableError(`Database ${where} is unreachable: ${reason}`);
}
