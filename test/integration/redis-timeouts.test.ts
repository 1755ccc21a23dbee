/**
 * The ioredis options the worker relies on for bounded waits (commandTimeout, socketTimeout,
 * enableOfflineQueue, maxRetriesPerRequest, autoResendUnfulfilledCommands), checked against
 * what their docs promise, through the fault proxy.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type Redis from "ioredis";
import { createRedis, untilReady } from "../../src/stream/redis-connection.ts";
import { type FaultProxy, startFaultProxy } from "../support/fault-proxy.ts";
import { testRedisUrl, uniqueName } from "../support/fixtures.ts";

const TIMEOUT_MS = 400;
let proxy: FaultProxy;
let redis: Redis;

async function connect(blockMs?: number): Promise<void> {
  const target = new URL(testRedisUrl());
  proxy = await startFaultProxy({ host: target.hostname, port: Number(target.port) });
  redis = createRedis(proxy.url, {
    connectionName: "timeouts-test",
    timeoutMs: TIMEOUT_MS,
    blockMs,
    failFast: true,
  });
  redis.on("error", () => {});
  await untilReady(redis, new AbortController().signal);
}

/** How long `promise` took to reject, and with what. */
async function rejection(promise: Promise<unknown>): Promise<{ ms: number; message: string }> {
  const started = performance.now();
  try {
    await promise;
  } catch (error) {
    return { ms: performance.now() - started, message: (error as Error).message };
  }
  throw new Error("expected a rejection");
}

afterEach(async () => {
  redis?.disconnect();
  await proxy?.close();
});

describe("a worker connection (failFast) against a faulty link", () => {
  test("a reply that never comes fails the command after REDIS_TIMEOUT_MS and the socket is dropped", async () => {
    await connect();
    proxy.failReply({ match: (cmd) => cmd.name === "GET", action: "swallow" });
    const reconnecting = new Promise((resolve) => redis.once("reconnecting", resolve));
    const { ms, message } = await rejection(redis.get("k"));
    expect(message).toMatch(/Command timed out|Socket timeout|max retries/);
    expect(ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 20);
    expect(ms).toBeLessThan(TIMEOUT_MS + 1_000);
    await reconnecting; // socketTimeout destroyed the silent socket; a new one replaces it
    await untilReady(redis, new AbortController().signal);
    expect(await redis.ping()).toBe("PONG");
    expect(proxy.totalConnections).toBe(2);
  });

  test("a blocking read on a link gone silent fails after BLOCK + REDIS_TIMEOUT_MS, not before BLOCK", async () => {
    const blockMs = 300;
    await connect(blockMs);
    const stream = uniqueName("timeouts");
    await redis.xgroup("CREATE", stream, "g", "$", "MKSTREAM");
    proxy.goSilent();
    const { ms } = await rejection(
      redis.xreadgroup("GROUP", "g", "c", "COUNT", 1, "BLOCK", blockMs, "STREAMS", stream, ">"),
    );
    expect(ms).toBeGreaterThanOrEqual(blockMs + TIMEOUT_MS - 20);
    expect(ms).toBeLessThan(blockMs + TIMEOUT_MS + 1_000);
  });

  test("a command sent while the link is down fails at once instead of queueing", async () => {
    await connect();
    await proxy.refuseConnections();
    const { ms } = await rejection(redis.get("k"));
    expect(ms).toBeLessThan(100);
  });

  test("a command in flight when the link drops fails at once and is never resent", async () => {
    await connect();
    const key = uniqueName("resend");
    proxy.failReply({ match: (cmd) => cmd.name === "INCR", action: "cut-before" });
    const { ms } = await rejection(redis.incr(key));
    expect(ms).toBeLessThan(TIMEOUT_MS);
    await untilReady(redis, new AbortController().signal);
    // Redis ran it once (the reply was lost); after the reconnect nobody ran it again.
    expect(await redis.get(key)).toBe("1");
    expect(proxy.commandCounts().INCR).toBe(1);
  });
});
