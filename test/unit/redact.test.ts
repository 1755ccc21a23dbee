import { describe, expect, test } from "bun:test";
import { loadConfig } from "../../src/config/config.ts";
import { describeConfig, redactUrl } from "../../src/config/redact.ts";

describe("redactUrl", () => {
  const cases: [string, string][] = [
    ["redis://:s3cret@h:6379/0", "redis://:***@h:6379/0"],
    ["redis://user:s3cret@h:6379", "redis://user:***@h:6379"],
    ["redis://s3cret@h:6379", "redis://***@h:6379"],
    ["libsql://db.turso.io?authToken=abc", "libsql://db.turso.io?authToken=***"],
    ["https://db.example/?x=a%20b&authToken=abc", "https://db.example/?x=a%20b&authToken=***"],
  ];
  for (const [input, output] of cases) {
    test(`${input} → ${output}`, () => {
      expect(redactUrl(input)).toBe(output);
    });
  }

  for (const url of [
    "redis://127.0.0.1:6379",
    "rediss://h:6380/2",
    "file:data/coursepay.db",
    "file:/abs/x.db",
    ":memory:",
    "https://db.example/?mode=ro",
  ]) {
    test(`${url} has nothing secret and is returned unchanged`, () => {
      expect(redactUrl(url)).toBe(url);
    });
  }

  test("never throws; an unparseable URL is replaced", () => {
    expect(redactUrl("redis://:pw@[broken")).toBe("<unparseable url>");
    expect(redactUrl("")).toBe("<unparseable url>");
    expect(redactUrl("just words")).toBe("<unparseable url>");
  });
});

describe("describeConfig", () => {
  test("redacts URLs and hides secrets, keeping everything else", () => {
    const config = loadConfig({
      REDIS_URL: "redis://:redis-pass-123@h:6379/0",
      DATABASE_URL: "libsql://db.turso.io?authToken=url-token-456",
      DATABASE_AUTH_TOKEN: "token-789",
      PAYCORE_SIGNING_SECRET: "signing-abc,signing-def",
      BATCH_SIZE: "42",
    });
    const summary = describeConfig(config);
    const text = JSON.stringify(summary);
    for (const secret of [
      "redis-pass-123",
      "url-token-456",
      "token-789",
      "signing-abc",
      "signing-def",
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(summary).toMatchObject({
      redisUrl: "redis://:***@h:6379/0",
      databaseUrl: "libsql://db.turso.io?authToken=***",
      databaseAuthToken: "(set)",
      signingSecrets: ["***", "***"],
      batchSize: 42,
      eventStream: "brain.events.paycore",
    });
  });

  test("says when a secret is not set", () => {
    const summary = describeConfig(loadConfig({}));
    expect(summary.databaseAuthToken).toBe("(unset)");
    expect(summary.signingSecrets).toEqual([]);
  });
});
