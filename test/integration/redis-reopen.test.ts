/**
 * A connection ioredis gave up on (status "end") is opened again by untilReady, the wait the
 * consumer makes after any lost connection. ioredis ends a connection for good when its
 * connector fails while opening (as a Sentinel failover once made it do), and its retry
 * strategy never sees that: without the reopen, the worker would wait for ever.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { createRedis, untilReady } from "../../src/stream/redis-connection.ts";
import { restartableRedis } from "../support/fixtures.ts";

const server = await restartableRedis();
afterAll(async () => {
  await server.stop();
});

function failFastClient() {
  const redis = createRedis(server.url, { connectionName: "reopen-test", failFast: true });
  redis.on("error", () => {}); // the worker's reportConnectionState logs these
  return redis;
}

describe("untilReady", () => {
  test("opens again a connection that ended", async () => {
    const redis = failFastClient();
    try {
      await untilReady(redis, new AbortController().signal);
      redis.disconnect(); // what ioredis' own give-up leaves: status "end", no reconnect
      await Bun.sleep(50);
      expect(redis.status).toBe("end");
      await untilReady(redis, AbortSignal.timeout(5_000));
      expect(redis.status).toBe("ready");
      expect(await redis.ping()).toBe("PONG");
    } finally {
      redis.disconnect();
    }
  });

  test("a connection whose reconnect fails in its connector ends, and is opened again", async () => {
    const redis = failFastClient();
    const killer = createRedis(server.url, { connectionName: "reopen-killer" });
    await killer.connect();
    try {
      await untilReady(redis, new AbortController().signal);
      // The next reconnect's connector fails as the Sentinel connector did when a failover
      // message closed it mid-open: ioredis then ends the connection instead of retrying.
      const connector = (
        redis as unknown as { connector: { connect: (...a: unknown[]) => unknown } }
      ).connector;
      const connect = connector.connect.bind(connector);
      connector.connect = () => {
        connector.connect = connect;
        return Promise.reject(new Error("Connection is closed."));
      };
      let endedAt = 0;
      redis.once("end", () => {
        endedAt = Date.now();
      });
      await killer.client("KILL", "TYPE", "normal", "SKIPME", "yes");
      await Bun.sleep(10);
      expect(redis.status).not.toBe("ready");
      // The wait starts while ioredis is still reconnecting; "end" comes during it.
      await untilReady(redis, AbortSignal.timeout(10_000));
      expect(endedAt).toBeGreaterThan(0);
      expect(redis.status).toBe("ready");
      expect(await redis.ping()).toBe("PONG");
      expect(Date.now() - endedAt).toBeLessThan(3_000);
    } finally {
      redis.disconnect();
      killer.disconnect();
    }
  });

  test("an aborted wait opens nothing", async () => {
    const redis = failFastClient();
    const controller = new AbortController();
    controller.abort();
    await untilReady(redis, controller.signal);
    expect(redis.status).toBe("wait");
  });
});
