import { describe, expect, test } from "bun:test";
import {
  compareVersions,
  MINIMUM_REDIS_VERSION,
  redisOptionsFromUrl,
} from "../../src/stream/redis-connection.ts";

describe("redisOptionsFromUrl", () => {
  test("host and port, with the defaults", () => {
    expect(redisOptionsFromUrl("redis://127.0.0.1:6390")).toEqual({
      host: "127.0.0.1",
      port: 6390,
    });
    expect(redisOptionsFromUrl("redis://cache.internal")).toEqual({
      host: "cache.internal",
      port: 6379,
    });
  });

  test("user, percent-encoded password and database number", () => {
    expect(redisOptionsFromUrl("redis://worker:p%40ss%3Aword@h:7000/3")).toEqual({
      host: "h",
      port: 7000,
      username: "worker",
      password: "p@ss:word",
      db: 3,
    });
    expect(redisOptionsFromUrl("redis://:secret@h")).toMatchObject({ password: "secret" });
  });

  test("rediss: turns TLS on", () => {
    expect(redisOptionsFromUrl("rediss://h:6380").tls).toEqual({ servername: "h" });
  });
});

describe("compareVersions", () => {
  test("orders Redis versions numerically, part by part", () => {
    expect(compareVersions("7.0.15", MINIMUM_REDIS_VERSION)).toBeGreaterThan(0);
    expect(compareVersions("7.0.0", MINIMUM_REDIS_VERSION)).toBe(0);
    expect(compareVersions("6.2.14", MINIMUM_REDIS_VERSION)).toBeLessThan(0);
    expect(compareVersions("10.0", "9.9.9")).toBeGreaterThan(0);
  });
});
