import Redis, { type Cluster, type RedisOptions } from "ioredis";
import type { RedisTopology } from "../config/redis-topology.ts";
import { clusterClient, sentinelOptions } from "./redis-topology-clients.ts";

/**
 * A connection to whichever Redis the settings name: one server or a master found through
 * Sentinel (both a `Redis`), or a cluster (`Cluster`, which routes each key to its node).
 */
export type RedisClient = Redis | Cluster;

/** What createRedis connects to: REDIS_URL and the topology (Config has both). */
export interface RedisTarget {
  redisUrl: string;
  redisTopology: RedisTopology;
}

/** XAUTOCLAIM's deleted-entries reply and the consumer-group behaviour we rely on came in 7.0. */
export const MINIMUM_REDIS_VERSION = "7.0.0";

export class UnsupportedRedisError extends Error {
  override readonly name = "UnsupportedRedisError";
}

export interface RedisConnectionOptions {
  /** Shown by CLIENT LIST, so an operator can tell the worker's connections apart. */
  connectionName: string;
  /**
   * REDIS_TIMEOUT_MS: a command not answered this long means the connection is dead. Bounds
   * every command (`commandTimeout`) and drops the socket when nothing arrives for that long while
   * a reply is owed (`socketTimeout`), so a connection that went silent (no FIN, no RST) is
   * reopened instead of waited on for ever. Also the TCP connect timeout.
   * @defaultValue 5000
   */
  timeoutMs?: number;
  /** The longest BLOCK this connection sends (BLOCK_MS): its replies may take that much longer. */
  blockMs?: number;
  /**
   * The worker's connections: a command sent while the connection is down fails at once, and
   * one in flight when it drops fails at once instead of being resent after the reconnect. The
   * consumer then waits for the connection and re-reads its own pending entries, so nothing runs
   * behind its back and nothing delivered in a lost reply waits for XAUTOCLAIM.
   */
  failFast?: boolean;
  /** Without failFast: fail a command after this many reconnect attempts (null: wait). */
  maxRetriesPerRequest?: number | null;
}

/** The default of REDIS_TIMEOUT_MS. */
export const DEFAULT_REDIS_TIMEOUT_MS = 5_000;
/** TCP keepalive probes start after this much idle time: keeps NAT entries alive, finds dead peers. */
const KEEPALIVE_DELAY_MS = 10_000;
/** Reconnect attempts back off to this: a path that comes back is used within a second. */
const MAX_RECONNECT_DELAY_MS = 1_000;

/**
 * The one connection factory: every command that needs Redis (serve, status, dlq, simulate)
 * comes through here. A URL alone is a standalone server (tests, benchmarks).
 * - standalone: REDIS_URL as it is;
 * - Sentinel: the master the sentinels name, found again after a failover; REDIS_URL gives
 *   only user, password, db and TLS;
 * - cluster: ioredis' cluster client over the seed nodes; REDIS_URL gives user, password, TLS.
 * The same timeouts, keepalive and fail-fast behaviour in all three.
 */
export function createRedis(url: string, options: RedisConnectionOptions): Redis;
export function createRedis(target: RedisTarget, options: RedisConnectionOptions): RedisClient;
export function createRedis(
  target: RedisTarget | string,
  options: RedisConnectionOptions,
): RedisClient {
  const { redisUrl, redisTopology } =
    typeof target === "string"
      ? { redisUrl: target, redisTopology: { kind: "standalone" } as const }
      : target;
  const common = connectionOptions(options);
  const fromUrl = redisOptionsFromUrl(redisUrl);
  switch (redisTopology.kind) {
    case "standalone":
      return withSocketTimerReset(new Redis({ ...fromUrl, ...common }));
    case "sentinel":
      return withSocketTimerReset(
        new Redis({ ...sentinelOptions(redisTopology, fromUrl, common), ...common }),
      );
    case "cluster":
      return clusterClient(redisTopology, fromUrl, common, options);
  }
}

/** The options every connection gets, whatever the topology (for a cluster: each node's). */
function connectionOptions(options: RedisConnectionOptions): RedisOptions {
  const timeoutMs = options.timeoutMs ?? DEFAULT_REDIS_TIMEOUT_MS;
  const answerWithinMs = timeoutMs + (options.blockMs ?? 0);
  const retries: RedisOptions = options.failFast
    ? { enableOfflineQueue: false, maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false }
    : { maxRetriesPerRequest: options.maxRetriesPerRequest ?? null };
  return {
    ...retries,
    connectionName: options.connectionName,
    connectTimeout: timeoutMs,
    commandTimeout: answerWithinMs,
    socketTimeout: answerWithinMs,
    keepAlive: KEEPALIVE_DELAY_MS,
    retryStrategy: reconnectDelay,
    lazyConnect: true,
    enableReadyCheck: true,
  };
}

/**
 * ioredis arms its socketTimeout timer on the socket a command went out on and disarms it when
 * that socket receives data; a socket that closed meanwhile never does, so the timer outlives
 * the reconnect and then destroys the new, healthy socket (seen REDIS_TIMEOUT_MS + BLOCK_MS
 * after every reconnect: a second, needless outage). Disarmed here when the socket closes; a
 * command sent on the new socket arms it afresh. (Cluster nodes never reconnect: not needed.)
 */
function withSocketTimerReset(redis: Redis): Redis {
  const timers = redis as unknown as { socketTimeoutTimer?: ReturnType<typeof setTimeout> };
  redis.on("close", () => {
    clearTimeout(timers.socketTimeoutTimer);
    timers.socketTimeoutTimer = undefined;
  });
  return redis;
}

/** Reconnect attempts back off to MAX_RECONNECT_DELAY_MS. */
export function reconnectDelay(attempt: number): number {
  return Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS);
}

/**
 * Resolves once `redis` is ready (connecting it if it is not trying already), or as soon as
 * `signal` aborts. Never rejects: ioredis keeps reconnecting with its retry strategy.
 */
export function untilReady(redis: RedisClient, signal: AbortSignal): Promise<void> {
  if (redis.status === "ready" || signal.aborted) return Promise.resolve();
  if (redis.status === "wait") redis.connect().catch(() => {});
  return new Promise((resolve) => {
    const done = () => {
      redis.off("ready", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    redis.on("ready", done);
    signal.addEventListener("abort", done, { once: true });
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

/**
 * Reads the server version and refuses anything older than MINIMUM_REDIS_VERSION (in a
 * cluster: of the node INFO reaches; its nodes run one version outside an upgrade).
 */
export async function checkRedisVersion(redis: RedisClient): Promise<string> {
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
  redis: RedisClient,
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
  redis: RedisClient,
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
