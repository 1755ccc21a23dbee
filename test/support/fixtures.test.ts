import { afterAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import Redis from "ioredis";
import {
  answersPing,
  type RestartableRedis,
  restartableRedis,
  tempDatabaseUrl,
  tempDir,
  testRedisUrl,
  uniqueName,
} from "./fixtures.ts";

function portOf(url: string): number {
  return Number(new URL(url).port);
}

describe("the preload's redis-server", () => {
  test("REDIS_URL is set and the server answers PING", async () => {
    const url = testRedisUrl();
    expect(url).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
    expect(await answersPing(portOf(url))).toBe(true);
  });

  test("ioredis can write and read a stream on it", async () => {
    const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: 1 });
    try {
      const stream = uniqueName("fixtures-stream");
      await redis.xadd(stream, "*", "k", "v");
      expect(await redis.xlen(stream)).toBe(1);
      await redis.del(stream);
    } finally {
      redis.disconnect();
    }
  });
});

describe("restartableRedis", () => {
  let redis: RestartableRedis | undefined;
  afterAll(() => redis?.kill());

  test("runs on its own port and can be stopped, started again and killed", async () => {
    redis = await restartableRedis();
    expect(redis.port).not.toBe(portOf(testRedisUrl()));
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    expect(await answersPing(redis.port)).toBe(true);

    await redis.stop();
    expect(await answersPing(redis.port)).toBe(false);
    await redis.stop(); // stopping twice is a no-op

    await redis.start();
    expect(await answersPing(redis.port)).toBe(true);

    redis.kill();
    await Bun.sleep(100);
    expect(await answersPing(redis.port)).toBe(false);
  });
});

describe("names and files", () => {
  test("uniqueName gives a different name each call, keeping the prefix", () => {
    const names = new Set(Array.from({ length: 100 }, () => uniqueName("stream")));
    expect(names.size).toBe(100);
    for (const name of names) expect(name.startsWith("stream-")).toBe(true);
  });

  test("tempDir and tempDatabaseUrl are fresh places under the OS temp dir", () => {
    const dir = tempDir("fixtures");
    expect(dir.startsWith(tmpdir())).toBe(true);
    expect(existsSync(dir)).toBe(true);
    expect(tempDir("fixtures")).not.toBe(dir);

    const database = tempDatabaseUrl();
    expect(database.url).toBe(`file:${database.path}`);
    expect(database.path.startsWith(tmpdir())).toBe(true);
    expect(existsSync(database.path)).toBe(false);
  });
});
