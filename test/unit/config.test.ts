import { describe, expect, test } from "bun:test";
import os from "node:os";
import path from "node:path";
import { ConfigError, loadConfig } from "../../src/config/config.ts";

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("expected loadConfig to throw a ConfigError");
}

describe("loadConfig", () => {
  test("an empty environment gives the documented defaults", () => {
    expect(loadConfig({})).toEqual({
      redisUrl: "redis://127.0.0.1:6379",
      redisTimeoutMs: 5000,
      databaseUrl: `file:${path.resolve(process.cwd(), "data/coursepay.db")}`,
      databaseFilePath: path.resolve(process.cwd(), "data/coursepay.db"),
      databaseAuthToken: undefined,
      databaseBusyTimeoutMs: 5000,
      databaseTimeoutMs: 10000,
      eventStream: "brain.events.paycore",
      consumerGroup: "course_factory",
      consumerName: os.hostname(),
      groupStartId: "0",
      enableEventConsumer: true,
      migrateOnStart: true,
      batchSize: 500,
      blockMs: 2000,
      logLevel: "info",
      logFormat: "auto",
      maxEventBytes: 65536,
      maxDeliveries: 5,
      claimIdleMs: 60000,
      trimStream: false,
      streamRetentionMs: 604800000,
      retryBaseMs: 100,
      retryMaxMs: 30000,
      shutdownTimeoutMs: 10000,
      appEnv: "development",
      enableSimulator: false,
      simulatorIntervalMs: 1000,
      signingSecrets: [],
      httpPort: undefined,
      httpHost: "127.0.0.1",
      redisTopology: { kind: "standalone" },
      deadLetterStream: "brain.events.paycore.dlq",
    });
  });

  test("empty and blank strings count as unset (PAYCORE_SIGNING_SECRET aside)", () => {
    const config = loadConfig({ BATCH_SIZE: "", LOG_LEVEL: "  ", HTTP_PORT: "" });
    expect(config.batchSize).toBe(500);
    expect(config.logLevel).toBe("info");
    expect(config.httpPort).toBeUndefined();
  });

  test("reads every variable it is given", () => {
    const config = loadConfig({
      REDIS_URL: "rediss://:pw@redis.example:6380/1",
      DATABASE_URL: "libsql://db.example.turso.io",
      DATABASE_AUTH_TOKEN: "tok",
      DATABASE_BUSY_TIMEOUT_MS: "99",
      DATABASE_TIMEOUT_MS: "2500",
      EVENT_STREAM: "s1",
      CONSUMER_GROUP: "g1",
      CONSUMER_NAME: "c1",
      GROUP_START_ID: "1700000000000-3",
      ENABLE_EVENT_CONSUMER: "no",
      MIGRATE_ON_START: "0",
      BATCH_SIZE: "10000",
      BLOCK_MS: "1",
      LOG_LEVEL: "DEBUG",
      LOG_FORMAT: "json",
      MAX_EVENT_BYTES: "256",
      MAX_DELIVERIES: "1000",
      CLAIM_IDLE_MS: "1000",
      TRIM_STREAM: "yes",
      STREAM_RETENTION_MS: "60000",
      RETRY_BASE_MS: "50",
      RETRY_MAX_MS: "50",
      SHUTDOWN_TIMEOUT_MS: "100",
      APP_ENV: "production",
      ENABLE_SIMULATOR: "yes",
      SIMULATOR_INTERVAL_MS: "10",
      PAYCORE_SIGNING_SECRET: " a , b ",
      HTTP_PORT: "0",
      HTTP_HOST: "0.0.0.0",
    });
    expect(config).toMatchObject({
      redisUrl: "rediss://:pw@redis.example:6380/1",
      databaseUrl: "libsql://db.example.turso.io",
      databaseFilePath: undefined,
      databaseAuthToken: "tok",
      databaseBusyTimeoutMs: 99,
      databaseTimeoutMs: 2500,
      eventStream: "s1",
      consumerGroup: "g1",
      consumerName: "c1",
      groupStartId: "1700000000000-3",
      enableEventConsumer: false,
      migrateOnStart: false,
      batchSize: 10000,
      blockMs: 1,
      logLevel: "debug",
      logFormat: "json",
      maxEventBytes: 256,
      maxDeliveries: 1000,
      claimIdleMs: 1000,
      trimStream: true,
      streamRetentionMs: 60000,
      retryBaseMs: 50,
      retryMaxMs: 50,
      shutdownTimeoutMs: 100,
      appEnv: "production",
      enableSimulator: true,
      simulatorIntervalMs: 10,
      signingSecrets: ["a", "b"],
      httpPort: 0,
      httpHost: "0.0.0.0",
    });
  });

  test("the result and its secrets list are frozen", () => {
    const config = loadConfig({ PAYCORE_SIGNING_SECRET: "a,b" });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.signingSecrets)).toBe(true);
    expect(() => {
      (config as { batchSize: number }).batchSize = 1;
    }).toThrow(TypeError);
  });

  describe("booleans", () => {
    const cases: [string, boolean][] = [
      ["true", true],
      ["TRUE", true],
      ["1", true],
      ["yes", true],
      ["Yes", true],
      ["false", false],
      ["False", false],
      ["0", false],
      ["no", false],
      ["NO", false],
    ];
    for (const [text, value] of cases) {
      test(`"${text}" reads as ${value}`, () => {
        expect(loadConfig({ ENABLE_SIMULATOR: text }).enableSimulator).toBe(value);
        expect(loadConfig({ MIGRATE_ON_START: text }).migrateOnStart).toBe(value);
      });
    }
    for (const text of ["on", "off", "2", "y", "truee"]) {
      test(`"${text}" is refused`, () => {
        expect(configError({ ENABLE_EVENT_CONSUMER: text }).issues).toEqual([
          {
            variable: "ENABLE_EVENT_CONSUMER",
            message: `expected one of true|false|1|0|yes|no, got "${text}"`,
          },
        ]);
      });
    }
  });

  describe("database URL", () => {
    test("a relative file path is resolved against the working directory", () => {
      const config = loadConfig({ DATABASE_URL: "file:tmp/some dir/x.db" });
      const absolute = path.resolve(process.cwd(), "tmp/some dir/x.db");
      expect(config.databaseFilePath).toBe(absolute);
      expect(config.databaseUrl).toBe(`file:${absolute}`);
    });

    test("an absolute file path is kept, in both spellings", () => {
      expect(loadConfig({ DATABASE_URL: "file:/var/db/x.db" })).toMatchObject({
        databaseUrl: "file:/var/db/x.db",
        databaseFilePath: "/var/db/x.db",
      });
      expect(loadConfig({ DATABASE_URL: "file:///var/db/x.db" })).toMatchObject({
        databaseUrl: "file:/var/db/x.db",
        databaseFilePath: "/var/db/x.db",
      });
    });

    test(":memory: has no file path", () => {
      expect(loadConfig({ DATABASE_URL: ":memory:" })).toMatchObject({
        databaseUrl: ":memory:",
        databaseFilePath: undefined,
      });
    });

    for (const url of ["libsql://db.turso.io", "http://127.0.0.1:8080", "https://db.example"]) {
      test(`remote ${url} is kept as given, without a file path`, () => {
        expect(loadConfig({ DATABASE_URL: url })).toMatchObject({
          databaseUrl: url,
          databaseFilePath: undefined,
        });
      });
    }
  });

  describe("each bad value is named", () => {
    const cases: [string, string, string][] = [
      ["REDIS_URL", "http://127.0.0.1:6379", "a redis:// or rediss:// URL"],
      ["REDIS_URL", "not a url", "a redis:// or rediss:// URL"],
      ["DATABASE_URL", "postgres://h/db", "a file:, :memory:, libsql:, http: or https: URL"],
      ["DATABASE_URL", "file://otherhost/x.db", "a file:"],
      ["DATABASE_URL", "file:", "a file:"],
      ["EVENT_STREAM", "a b", "a non-empty name without whitespace"],
      ["CONSUMER_GROUP", "g\tx", "a non-empty name without whitespace"],
      ["CONSUMER_NAME", "x\u0001y", "a non-empty name without whitespace"],
      ["GROUP_START_ID", ">", "one of 0|$|<ms>|<ms>-<seq>"],
      ["GROUP_START_ID", "1-2-3", "one of 0|$|<ms>|<ms>-<seq>"],
      ["ENABLE_EVENT_CONSUMER", "maybe", "one of true|false|1|0|yes|no"],
      ["MIGRATE_ON_START", "maybe", "one of true|false|1|0|yes|no"],
      ["BATCH_SIZE", "abc", "an integer from 1 to 10000"],
      ["BATCH_SIZE", "0", "an integer from 1 to 10000"],
      ["BATCH_SIZE", "10001", "an integer from 1 to 10000"],
      ["BATCH_SIZE", "1.5", "an integer from 1 to 10000"],
      ["BATCH_SIZE", "1e3", "an integer from 1 to 10000"],
      ["BLOCK_MS", "0", "an integer from 1 to 60000"],
      ["LOG_LEVEL", "loud", "one of debug|info|warn|error"],
      ["LOG_FORMAT", "xml", "one of json|pretty|auto"],
      ["MAX_EVENT_BYTES", "255", "an integer from 256 to 16777216"],
      ["MAX_DELIVERIES", "0", "an integer from 1 to 1000"],
      ["CLAIM_IDLE_MS", "999", "an integer from 1000 to 86400000"],
      ["TRIM_STREAM", "sometimes", "one of true|false|1|0|yes|no"],
      ["STREAM_RETENTION_MS", "59999", "an integer from 60000 to 31536000000"],
      ["STREAM_RETENTION_MS", "31536000001", "an integer from 60000 to 31536000000"],
      ["RETRY_BASE_MS", "60001", "an integer from 1 to 60000"],
      ["RETRY_MAX_MS", "3600001", "an integer from 1 to 3600000"],
      ["SHUTDOWN_TIMEOUT_MS", "99", "an integer from 100 to 600000"],
      ["DATABASE_TIMEOUT_MS", "99", "an integer from 100 to 600000"],
      ["DATABASE_TIMEOUT_MS", "600001", "an integer from 100 to 600000"],
      ["DATABASE_TIMEOUT_MS", "5s", "an integer from 100 to 600000"],
      ["APP_ENV", "prod", "one of development|test|staging|production"],
      ["ENABLE_SIMULATOR", "sure", "one of true|false|1|0|yes|no"],
      ["SIMULATOR_INTERVAL_MS", "9", "an integer from 10 to 3600000"],
      ["HTTP_PORT", "65536", "an integer from 0 to 65535"],
      ["HTTP_PORT", "-1", "an integer from 0 to 65535"],
      ["HTTP_HOST", "local host", "a non-empty name without whitespace"],
    ];
    for (const [variable, value, expects] of cases) {
      test(`${variable}=${JSON.stringify(value)}`, () => {
        const error = configError({ [variable]: value });
        expect(error.name).toBe("ConfigError");
        expect(error.issues).toHaveLength(1);
        expect(error.issues[0]?.variable).toBe(variable);
        expect(error.issues[0]?.message).toStartWith(`expected ${expects}`);
        expect(error.message).toContain(`\n  ${variable}: expected ${expects}`);
      });
    }
  });

  test("every bad variable is named in one error, in the documented format", () => {
    const error = configError({ BATCH_SIZE: "abc", LOG_LEVEL: "loud", BLOCK_MS: "0" });
    expect(error.message).toBe(
      [
        "Invalid configuration:",
        '  BATCH_SIZE: expected an integer from 1 to 10000, got "abc"',
        '  BLOCK_MS: expected an integer from 1 to 60000, got "0"',
        '  LOG_LEVEL: expected one of debug|info|warn|error, got "loud"',
      ].join("\n"),
    );
    expect(error.issues.map((issue) => issue.variable)).toEqual([
      "BATCH_SIZE",
      "BLOCK_MS",
      "LOG_LEVEL",
    ]);
  });

  test("RETRY_MAX_MS below RETRY_BASE_MS names RETRY_MAX_MS, alongside other bad variables", () => {
    const error = configError({ RETRY_BASE_MS: "500", RETRY_MAX_MS: "100", APP_ENV: "x" });
    expect(error.issues).toEqual([
      {
        variable: "RETRY_MAX_MS",
        message: 'expected an integer from 500 (RETRY_BASE_MS) to 3600000, got "100"',
      },
      {
        variable: "APP_ENV",
        message: 'expected one of development|test|staging|production, got "x"',
      },
    ]);
  });

  test("RETRY_BASE_MS above the default RETRY_MAX_MS is refused too", () => {
    const error = configError({ RETRY_BASE_MS: "40000" });
    expect(error.issues.map((issue) => issue.variable)).toEqual(["RETRY_MAX_MS"]);
  });

  test("secret values never appear in the error message", () => {
    const error = configError({
      REDIS_URL: "http://:redis-pass-123@h:6379",
      DATABASE_URL: "postgres://admin:db-pass-456@h/db",
      DATABASE_AUTH_TOKEN: "token-789",
      PAYCORE_SIGNING_SECRET: "signing-abc",
      BATCH_SIZE: "x",
    });
    expect(error.issues.map((issue) => issue.variable)).toEqual([
      "REDIS_URL",
      "DATABASE_URL",
      "BATCH_SIZE",
    ]);
    const text = `${error.message}\n${JSON.stringify(error.issues)}`;
    for (const secret of ["redis-pass-123", "db-pass-456", "token-789", "signing-abc"]) {
      expect(text).not.toContain(secret);
    }
    expect(error.message).toContain(
      'REDIS_URL: expected a redis:// or rediss:// URL, got "http://:***@h:6379/"',
    );
  });

  test("an unparseable URL with a password is not echoed at all", () => {
    const error = configError({ REDIS_URL: "redis://:hunter2@[broken" });
    expect(error.message).not.toContain("hunter2");
    expect(error.message).toContain('got "<unparseable url>"');
  });
});
