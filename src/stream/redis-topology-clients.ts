/**
 * The ioredis options of the two topologies beyond one server (see createRedis): a master
 * found through Sentinel, and a cluster. Kept apart so the standalone path stays as it was.
 */
import { Cluster, type ClusterOptions, type RedisOptions } from "ioredis";
import type { RedisTopology } from "../config/redis-topology.ts";
import type { RedisConnectionOptions } from "./redis-connection.ts";

type Sentinel = Extract<RedisTopology, { kind: "sentinel" }>;
type ClusterTopology = Extract<RedisTopology, { kind: "cluster" }>;

/** The credentials, db and TLS REDIS_URL gives a topology (its host and port are not used). */
function fromUrl(url: RedisOptions, withDb: boolean): RedisOptions {
  const options: RedisOptions = {};
  if (url.username !== undefined) options.username = url.username;
  if (url.password !== undefined) options.password = url.password;
  if (withDb && url.db !== undefined) options.db = url.db;
  // Each server is checked against its own name (the one the sentinels or the cluster give).
  if (url.tls !== undefined) options.tls = {};
  return options;
}

/**
 * The master named `masterName`, asked of the sentinels in turn. After a failover (the master
 * killed, or SENTINEL FAILOVER) the connection is dropped (by the dead master, on +switch-master,
 * or on the demoted one's READONLY reply) and opened again to the new master; what was in flight
 * fails as a lost connection, so the consumer re-reads its pending entries.
 */
export function sentinelOptions(
  topology: Sentinel,
  url: RedisOptions,
  common: RedisOptions,
): RedisOptions {
  const tls = url.tls === undefined ? {} : { enableTLSForSentinelMode: true, sentinelTLS: {} };
  return {
    ...fromUrl(url, true),
    ...tls,
    sentinels: topology.sentinels.map(({ host, port }) => ({ host, port })),
    name: topology.masterName,
    role: "master",
    ...(topology.sentinelPassword === undefined
      ? {}
      : { sentinelPassword: topology.sentinelPassword }),
    sentinelCommandTimeout: common.connectTimeout,
    // Every sentinel tried and none answered: try them all again, at most a second later.
    sentinelRetryStrategy: (attempt: number) => Math.min(attempt * 100, 1_000),
    // Subscribes to the sentinels' +switch-master: a SENTINEL FAILOVER is followed in about a
    // second, not when Sentinel demotes the old master some 10 s later (it accepts writes until
    // then, and they are lost). Its handler closes the connector even while it is opening a
    // reconnect, and ioredis then ends that connection for good (status "end", seen once in 31
    // kill -9 failovers): untilReady, which the consumer awaits after any lost connection, opens
    // an ended one again.
    failoverDetector: true,
    // A master demoted to replica answers writes with READONLY: reconnect (to the master the
    // sentinels name now); the command itself fails (transient) and is retried by its caller.
    reconnectOnError: (error) => error.message.startsWith("READONLY"),
  };
}

/** Slots are re-read this often, so a failover or resharding is noticed within a second or so. */
const SLOTS_REFRESH_INTERVAL_MS = 1_000;
/** Delay before a command refused with TRYAGAIN / CLUSTERDOWN, or whose node vanished, is resent. */
const CLUSTER_RETRY_DELAY_MS = 100;

/**
 * ioredis' cluster client: each command goes to the master of its key's slot (never a
 * replica: scaleReads master) and follows MOVED and ASK. TRYAGAIN and CLUSTERDOWN (a slot
 * migrating, a failover under way) are resent after a short delay up to maxRedirections
 * times; past that the caller sees a transient error and retries the batch.
 *
 * Fail fast (the worker's connections): a command whose node went away is not resent by the
 * client (retryDelayOnFailover 0): it fails as a lost connection, so the consumer re-reads its
 * own pending entries, as it does after any reconnect.
 */
export function clusterClient(
  topology: ClusterTopology,
  url: RedisOptions,
  common: RedisOptions,
  options: RedisConnectionOptions,
): Cluster {
  const {
    retryStrategy,
    enableOfflineQueue = true,
    lazyConnect,
    enableReadyCheck,
    ...perNode
  } = common;
  const cluster: ClusterOptions = {
    redisOptions: { ...fromUrl(url, false), ...perNode },
    clusterRetryStrategy: (attempt) => retryStrategy?.(attempt) ?? null,
    enableOfflineQueue,
    enableReadyCheck,
    lazyConnect,
    scaleReads: "master",
    retryDelayOnFailover: options.failFast ? 0 : CLUSTER_RETRY_DELAY_MS,
    retryDelayOnClusterDown: CLUSTER_RETRY_DELAY_MS,
    retryDelayOnTryAgain: CLUSTER_RETRY_DELAY_MS,
    slotsRefreshTimeout: common.connectTimeout,
    slotsRefreshInterval: SLOTS_REFRESH_INTERVAL_MS,
    // With TLS, nodes are reached by the names the cluster gives (ElastiCache, MemoryDB), not
    // by the addresses they resolve to, so each certificate is checked against its own name.
    ...(url.tls === undefined ? {} : { dnsLookup: (address, lookup) => lookup(null, address) }),
  };
  return new Cluster(
    topology.nodes.map(({ host, port }) => ({ host, port })),
    cluster,
  );
}
