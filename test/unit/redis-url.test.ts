import { describe, expect, test } from "bun:test";
import { redisOptionsFromUrl } from "../../src/stream/redis-connection.ts";

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
