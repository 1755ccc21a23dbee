/**
 * What createRedis builds for each topology, read from the client's options before it connects
 * (lazyConnect: nothing is opened). The behaviour itself is checked against real servers.
 */
import { describe, expect, test } from "bun:test";
import Redis, { Cluster } from "ioredis";
import { loadConfig } from "../../src/config/config.ts";
import { createRedis } from "../../src/stream/redis-connection.ts";

const worker = { connectionName: "coursepay:w", timeoutMs: 2000, blockMs: 1000, failFast: true };

describe("createRedis", () => {
  test("standalone: REDIS_URL as it is, a URL alone too", () => {
    const config = loadConfig({ REDIS_URL: "redis://u:p@h:6380/2" });
    for (const client of [createRedis(config, worker), createRedis(config.redisUrl, worker)]) {
      expect(client).toBeInstanceOf(Redis);
      const { options } = client as Redis;
      expect(options).toMatchObject({ host: "h", port: 6380, username: "u", password: "p", db: 2 });
      expect(options.sentinels).toBeNull();
      expect(options).toMatchObject({ commandTimeout: 3000, socketTimeout: 3000 });
      expect(options).toMatchObject({ enableOfflineQueue: false, maxRetriesPerRequest: 0 });
      client.disconnect();
    }
  });

  test("Sentinel: the named master, never a replica, REDIS_URL's credentials, db and TLS", () => {
    const config = loadConfig({
      REDIS_SENTINELS: "s1:26379,s2:26380",
      REDIS_SENTINEL_MASTER: "mymaster",
      REDIS_SENTINEL_PASSWORD: "sentinel-secret",
      REDIS_URL: "rediss://u:master-secret@ignored:1/3",
    });
    const client = createRedis(config, worker) as Redis;
    expect(client).toBeInstanceOf(Redis);
    expect(client.options).toMatchObject({
      sentinels: [
        { host: "s1", port: 26379 },
        { host: "s2", port: 26380 },
      ],
      name: "mymaster",
      role: "master",
      sentinelPassword: "sentinel-secret",
      username: "u",
      password: "master-secret",
      db: 3,
      enableTLSForSentinelMode: true,
      failoverDetector: true,
      sentinelCommandTimeout: 2000,
      commandTimeout: 3000,
      enableOfflineQueue: false,
    });
    const reconnectOnError = client.options.reconnectOnError as (error: Error) => unknown;
    expect(
      reconnectOnError(new Error("READONLY You can't write against a read only replica.")),
    ).toBe(true);
    expect(reconnectOnError(new Error("WRONGTYPE Operation"))).toBe(false);
    client.disconnect();
  });

  test("cluster: the seed nodes, masters only, REDIS_URL's credentials; fail-fast resends nothing", () => {
    const config = loadConfig({
      REDIS_CLUSTER_NODES: "n1:7000,n2:7001",
      REDIS_URL: "redis://u:p@ignored",
    });
    const client = createRedis(config, worker) as Cluster;
    expect(client).toBeInstanceOf(Cluster);
    expect(client.options).toMatchObject({
      scaleReads: "master",
      enableOfflineQueue: false,
      lazyConnect: true,
      retryDelayOnFailover: 0,
      retryDelayOnClusterDown: 100,
      retryDelayOnTryAgain: 100,
      slotsRefreshTimeout: 2000,
      slotsRefreshInterval: 1000,
    });
    expect(client.options.redisOptions).toMatchObject({
      username: "u",
      password: "p",
      commandTimeout: 3000,
      socketTimeout: 3000,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      connectionName: "coursepay:w",
    });
    expect(client.options.redisOptions?.db).toBeUndefined();
    client.disconnect();

    // A command's connection (status, dlq, simulate) lets the client resend after a failover.
    const command = createRedis(config, {
      connectionName: "c",
      maxRetriesPerRequest: 1,
    }) as Cluster;
    expect(command.options).toMatchObject({ enableOfflineQueue: true, retryDelayOnFailover: 100 });
    command.disconnect();
  });
});
