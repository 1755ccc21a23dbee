import Redis, { type RedisOptions } from "ioredis";

/** XAUTOCLAIM's deleted-entries reply and the consumer-group behaviour we rely on came in 7.0. */
export const MINIMUM_REDIS_VERSION = "7.0.0";

export class UnsupportedRedisError extends Error {
  override readonly name = "UnsupportedRedisError";
}

export interface RedisConnectionOptions {
  /** Shown by CLIENT LIST, so an operator can tell the worker's connections apart. */
  connectionName: string;
  /** Fail a command after this many reconnect attempts (null: wait for Redis to come back). */
  maxRetriesPerRequest?: number | null;
}

export function createRedis(url: string, options: RedisConnectionOptions): Redis {
  return new Redis({
    ...redisOptionsFromUrl(url),
    connectionName: options.connectionName,
    maxRetriesPerRequest: options.maxRetriesPerRequest ?? null,
    // Reconnect for ever, backing off to 2 s between attempts.
    retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
    lazyConnect: true,
    enableReadyCheck: true,
  });
}

/**
 * `redis[s]://[user[:password]@]host[:port][/db]` → ioredis options, with the WHATWG URL
 * parser (ioredis' own uses the deprecated url.parse, which warns in the compiled binary).
 */
export function redisOptionsFromUrl(url: string): RedisOptions {
  const parsed = new URL(url);
  const options: RedisOptions = {
    host: parsed.hostname.replace(/^\[|\]$/g, "") || "127.0.0.1",
    port: parsed.port === "" ? 6379 : Number(parsed.port),
  };
  if (parsed.username !== "") options.username = decodeURIComponent(parsed.username);
  if (parsed.password !== "") options.password = decodeURIComponent(parsed.password);
  const db = parsed.pathname.slice(1);
  if (db !== "") options.db = Number(db);
  if (parsed.protocol === "rediss:") options.tls = { servername: parsed.hostname };
  return options;
}

/** Reads the server version and refuses anything older than MINIMUM_REDIS_VERSION. */
export async function checkRedisVersion(redis: Redis): Promise<string> {
  const info = await redis.info("server");
  const version = /^redis_version:(\S+)/m.exec(info)?.[1];
  if (version === undefined) {
    throw new UnsupportedRedisError("Could not read redis_version from INFO server");
  }
  if (compareVersions(version, MINIMUM_REDIS_VERSION) < 0) {
    throw new UnsupportedRedisError(
      `Redis ${version} is not supported: coursepay needs Redis ${MINIMUM_REDIS_VERSION} or newer`,
    );
  }
  return version;
}

export function compareVersions(a: string, b: string): number {
  const left = a.split(".").map((part) => Number.parseInt(part, 10) || 0);
  const right = b.split(".").map((part) => Number.parseInt(part, 10) || 0);
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    const difference = (left[i] ?? 0) - (right[i] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}

/** Creates the consumer group (and the stream) if missing; true when it was created. */
export async function ensureConsumerGroup(
  redis: Redis,
  stream: string,
  group: string,
  startId: string,
): Promise<boolean> {
  try {
    await redis.xgroup("CREATE", stream, group, startId, "MKSTREAM");
    return true;
  } catch (error) {
    if (error instanceof Error && error.message.startsWith("BUSYGROUP")) return false;
    throw error;
  }
}

/** Logs a lost connection once (not once per reconnect attempt) and its return. */
export function reportConnectionState(
  redis: Redis,
  logger: { error(obj: object, msg: string): void; info(obj: object, msg: string): void },
  label: string,
): void {
  let down = false;
  redis.on("error", (error: Error) => {
    if (down) return;
    down = true;
    logger.error(
      { connection: label, error: error.message },
      "Redis connection lost; reconnecting",
    );
  });
  redis.on("ready", () => {
    if (!down) return;
    down = false;
    logger.info({ connection: label }, "Redis connection restored");
  });
}
