/**
 * Two workers that share a CONSUMER_NAME (two on one host with the default, the host name) read
 * each other's pending entries as their own and can remove each other from the group. Nothing
 * in Redis forbids it, so at start the worker looks for a consumer of its name that was active
 * recently and warns.
 */

import type { Logger } from "../observe/logger.ts";
import type { RedisClient } from "./redis-connection.ts";

/** The idle time of a consumer of this name in the group, or undefined when there is none. */
export async function consumerIdleMs(
  redis: RedisClient,
  stream: string,
  group: string,
  consumer: string,
): Promise<number | undefined> {
  const consumers = (await redis.xinfo("CONSUMERS", stream, group)) as unknown[][];
  for (const fields of consumers) {
    const record: Record<string, unknown> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) record[String(fields[i])] = fields[i + 1];
    if (record.name === consumer) return Number(record.idle);
  }
  return undefined;
}

/**
 * Warns when a consumer of this name was active less than CLAIM_IDLE_MS ago: another worker
 * appears to use it (or this one restarted at once after a crash, which the warning says too).
 */
export async function warnIfConsumerNameShared(
  redis: RedisClient,
  options: { stream: string; group: string; consumer: string; claimIdleMs: number },
  logger: Logger,
): Promise<boolean> {
  const idle = await consumerIdleMs(redis, options.stream, options.group, options.consumer);
  if (idle === undefined || idle >= options.claimIdleMs) return false;
  logger.warn(
    {
      consumer: options.consumer,
      group: options.group,
      idle_ms: idle,
      hint: "give each worker its own CONSUMER_NAME (e.g. Environment=CONSUMER_NAME=%H-%i in the coursepay@.service template, or <host>-<n>); if this worker was restarted right after a crash, ignore this",
    },
    "Another worker appears to use this CONSUMER_NAME: it read from the group less than CLAIM_IDLE_MS ago",
  );
  return true;
}
