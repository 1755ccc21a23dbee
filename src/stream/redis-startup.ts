/** Start-up against a Redis that may not be there yet: wait, check, set up, without giving up. */

import type { Logger } from "../observe/logger.ts";
import { sleep } from "./backoff.ts";
import type { RedisClient } from "./redis-connection.ts";
import { checkRedisVersion, UnsupportedRedisError, untilReady } from "./redis-connection.ts";
import { classifyRedisError } from "./redis-errors.ts";

/**
 * Waits for Redis, checks its version and runs `setUp`, retrying while Redis is away or
 * answering with errors that waiting cures. False when stopped meanwhile.
 */
export async function untilRedisAnswers(
  redis: RedisClient,
  signal: AbortSignal,
  logger: Logger,
  setUp: () => Promise<void>,
): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    await untilReady(redis, signal);
    if (signal.aborted) return false;
    try {
      await checkRedisVersion(redis);
      await setUp();
      return true;
    } catch (error) {
      if (error instanceof UnsupportedRedisError || classifyRedisError(error) === "persistent") {
        throw error;
      }
      if (attempt === 1) logger.warn({ err: error }, "Redis is not answering yet; retrying");
      await sleep(Math.min(attempt * 100, 1_000), signal);
    }
  }
}
