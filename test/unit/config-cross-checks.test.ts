import { describe, expect, test } from "bun:test";
import path from "node:path";
import {
  ConfigError,
  isDatabaseUrlSet,
  isGroupStartId,
  loadConfig,
  maxBusyTimeoutMs,
} from "../../src/config/config.ts";
import { configWarnings, editDistance } from "../../src/config/config-warnings.ts";

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("expected loadConfig to throw a ConfigError");
}

describe("DATABASE_BUSY_TIMEOUT_MS against CLAIM_IDLE_MS and SHUTDOWN_TIMEOUT_MS", () => {
  test("the bound: below CLAIM_IDLE_MS/3 and below SHUTDOWN_TIMEOUT_MS", () => {
    expect(maxBusyTimeoutMs(60_000, 10_000)).toBe(9_999);
    expect(maxBusyTimeoutMs(1_000, 10_000)).toBe(333);
    expect(maxBusyTimeoutMs(1_001, 10_000)).toBe(333);
    expect(maxBusyTimeoutMs(1_002, 10_000)).toBe(333);
    expect(maxBusyTimeoutMs(1_003, 10_000)).toBe(334);
    expect(maxBusyTimeoutMs(86_400_000, 600_000)).toBe(599_999);
  });

  test("the defaults pass, and so do values right at the bound", () => {
    expect(loadConfig({}).databaseBusyTimeoutMs).toBe(5000);
    expect(
      loadConfig({ CLAIM_IDLE_MS: "1000", DATABASE_BUSY_TIMEOUT_MS: "333" }).databaseBusyTimeoutMs,
    ).toBe(333);
    expect(
      loadConfig({ SHUTDOWN_TIMEOUT_MS: "5001" }).databaseBusyTimeoutMs, // default 5000 < 5001
    ).toBe(5000);
  });

  test("a busy timeout left at its default is refused against a low CLAIM_IDLE_MS, naming both", () => {
    const error = configError({ CLAIM_IDLE_MS: "1000" });
    expect(error.message).toBe(
      [
        "Invalid configuration:",
        "  DATABASE_BUSY_TIMEOUT_MS: expected an integer from 0 to 333, below CLAIM_IDLE_MS/3 (CLAIM_IDLE_MS is 1000) and below SHUTDOWN_TIMEOUT_MS (10000), got the default 5000",
      ].join("\n"),
    );
  });

  test("CLAIM_IDLE_MS/3 itself is refused (strictly below)", () => {
    const error = configError({ CLAIM_IDLE_MS: "3000", DATABASE_BUSY_TIMEOUT_MS: "1000" });
    expect(error.issues).toEqual([
      {
        variable: "DATABASE_BUSY_TIMEOUT_MS",
        message:
          'expected an integer from 0 to 999, below CLAIM_IDLE_MS/3 (CLAIM_IDLE_MS is 3000) and below SHUTDOWN_TIMEOUT_MS (10000), got "1000"',
      },
    ]);
  });

  test("at or above SHUTDOWN_TIMEOUT_MS is refused, naming it", () => {
    const error = configError({ SHUTDOWN_TIMEOUT_MS: "5000" });
    expect(error.issues).toEqual([
      {
        variable: "DATABASE_BUSY_TIMEOUT_MS",
        message:
          "expected an integer from 0 to 4999, below CLAIM_IDLE_MS/3 (CLAIM_IDLE_MS is 60000) and below SHUTDOWN_TIMEOUT_MS (5000), got the default 5000",
      },
    ]);
  });

  test("reported in the one error with every other bad variable", () => {
    const error = configError({
      DATABASE_BUSY_TIMEOUT_MS: "400",
      CLAIM_IDLE_MS: "1000",
      SHUTDOWN_TIMEOUT_MS: "300",
      BATCH_SIZE: "0",
      RETRY_BASE_MS: "500",
      RETRY_MAX_MS: "100",
    });
    expect(error.issues.map((issue) => issue.variable)).toEqual([
      "DATABASE_BUSY_TIMEOUT_MS",
      "BATCH_SIZE",
      "RETRY_MAX_MS",
    ]);
    expect(error.message).toContain(
      '  DATABASE_BUSY_TIMEOUT_MS: expected an integer from 0 to 299, below CLAIM_IDLE_MS/3 (CLAIM_IDLE_MS is 1000) and below SHUTDOWN_TIMEOUT_MS (300), got "400"',
    );
  });

  test("a value out of its own range is reported once, not again by the cross-check", () => {
    expect(configError({ CLAIM_IDLE_MS: "999" }).issues.map((i) => i.variable)).toEqual([
      "CLAIM_IDLE_MS",
    ]);
    expect(configError({ SHUTDOWN_TIMEOUT_MS: "abc" }).issues.map((i) => i.variable)).toEqual([
      "SHUTDOWN_TIMEOUT_MS",
    ]);
    expect(
      configError({ DATABASE_BUSY_TIMEOUT_MS: "600001" }).issues.map((i) => i.variable),
    ).toEqual(["DATABASE_BUSY_TIMEOUT_MS"]);
    expect(configError({ DATABASE_BUSY_TIMEOUT_MS: "600001" }).issues[0]?.message).toBe(
      'expected an integer from 0 to 600000, got "600001"',
    );
  });
});

describe("GROUP_START_ID", () => {
  const expects =
    "one of 0|$|<ms>|<ms>-<seq>, each part a decimal integer up to 18446744073709551615";
  for (const id of [
    "0",
    "$",
    "0-0",
    "1700000000000",
    "1700000000000-3",
    "18446744073709551615",
    "18446744073709551615-18446744073709551615",
  ]) {
    test(`${id} is accepted as it is`, () => {
      expect(isGroupStartId(id)).toBe(true);
      expect(loadConfig({ GROUP_START_ID: id }).groupStartId).toBe(id);
    });
  }
  for (const id of [
    "+1",
    "-1",
    "1-",
    "-",
    "1-+2",
    "1-2-3",
    ">",
    "$$",
    "1.5",
    "1e3",
    "0x10",
    "1 - 2",
    "١٢",
    "18446744073709551616",
    "1-18446744073709551616",
  ]) {
    test(`${JSON.stringify(id)} is refused`, () => {
      expect(isGroupStartId(id)).toBe(false);
      expect(configError({ GROUP_START_ID: id }).issues).toEqual([
        { variable: "GROUP_START_ID", message: `expected ${expects}, got ${JSON.stringify(id)}` },
      ]);
    });
  }
});

describe("REDIS_URL database number", () => {
  for (const url of [
    "redis://127.0.0.1:6379",
    "redis://127.0.0.1:6379/",
    "redis://127.0.0.1:6379/0",
    "rediss://:pw@h:6380/15",
    "redis://h/2147483647",
  ]) {
    test(`${url} is accepted`, () => {
      expect(loadConfig({ REDIS_URL: url }).redisUrl).toBe(url);
    });
  }
  const expects =
    "a redis:// or rediss:// URL whose path is empty or a database number (/0, /1, …)";
  for (const url of [
    "redis://h:6379/abc",
    "redis://h:6379/-1",
    "redis://h:6379/1/2",
    "redis://h:6379/1/",
    "redis://h:6379//",
    "redis://h:6379/+1",
    "redis://h:6379/1.5",
    "redis://h:6379/%31",
    "redis://h:6379/2147483648",
  ]) {
    test(`${url} is refused`, () => {
      expect(configError({ REDIS_URL: url }).issues).toEqual([
        { variable: "REDIS_URL", message: `expected ${expects}, got ${JSON.stringify(url)}` },
      ]);
    });
  }

  test("the password of a refused URL is not shown", () => {
    const error = configError({ REDIS_URL: "redis://:hunter2@h:6379/x" });
    expect(error.message).not.toContain("hunter2");
    expect(error.message).toContain('got "redis://:***@h:6379/x"');
  });
});

describe("DATABASE_URL without a scheme", () => {
  const expects = "a file:, :memory:, libsql:, http: or https: URL";
  const cases: [string, string, string][] = [
    ["/var/lib/x.db", "file:/var/lib/x.db", "/var/lib/x.db"],
    ["data/x.db", "file:data/x.db", path.resolve("data/x.db")],
    ["./x.db", "file:./x.db", path.resolve("x.db")],
    ["coursepay.db", "file:coursepay.db", path.resolve("coursepay.db")],
    ["/tmp/a#b.db", "file:/tmp/a%23b.db", "/tmp/a#b.db"],
  ];
  for (const [text, suggestion, filePath] of cases) {
    test(`${text} gets "did you mean ${suggestion}?"`, () => {
      expect(configError({ DATABASE_URL: text }).issues).toEqual([
        {
          variable: "DATABASE_URL",
          message: `expected ${expects}, got ${JSON.stringify(text)} (did you mean ${suggestion}?)`,
        },
      ]);
      // …and the suggestion is a DATABASE_URL that works.
      expect(loadConfig({ DATABASE_URL: suggestion }).databaseFilePath).toBe(filePath);
    });
  }

  test("a WebSocket URL is refused, with its HTTP twin to use instead, redacted", () => {
    for (const [text, suggestion] of [
      ["ws://127.0.0.1:8080", "http://127.0.0.1:8080"],
      ["wss://db-org.turso.io/?authToken=abc", "https://db-org.turso.io/?authToken=***"],
      ["WSS://u:pw@db.example/", "https://u:***@db.example/"],
    ] as const) {
      const message = configError({ DATABASE_URL: text }).issues[0]?.message ?? "";
      expect(message).toContain(
        `(did you mean ${suggestion} (ws: and wss: are not supported: their requests have no timeout)?)`,
      );
      expect(message).not.toContain("abc");
      expect(message).not.toContain(":pw@");
      expect(
        loadConfig({ DATABASE_URL: suggestion.replace("***", "x") }).databaseUrl,
      ).toBeDefined();
    }
  });

  test("anything that is not a bare path gets no suggestion and stays redacted", () => {
    for (const text of ["postgres://u:pw@h/db", "x.db?authToken=abc", "~/x.db"]) {
      const message = configError({ DATABASE_URL: text }).issues[0]?.message ?? "";
      expect(message).not.toContain("did you mean");
      expect(message).not.toContain("pw");
      expect(message).not.toContain("abc");
    }
  });

  test("isDatabaseUrlSet: unset or blank means the embedded default", () => {
    expect(isDatabaseUrlSet({})).toBe(false);
    expect(isDatabaseUrlSet({ DATABASE_URL: "  " })).toBe(false);
    expect(isDatabaseUrlSet({ DATABASE_URL: "file:data/coursepay.db" })).toBe(true);
  });
});

describe("configWarnings", () => {
  test("nothing to say about known variables or other software's", () => {
    expect(
      configWarnings({
        BATCH_SIZE: "1",
        LOG_LEVEL: "info",
        HTTP_PORT: "1",
        COURSEPAY_VERSION: "1.0.0",
        PATH: "/usr/bin",
        HOME: "/root",
        NODE_ENV: "production",
        HTTP_PROXY: "http://proxy",
        HTTPS_PROXY: "http://proxy",
        APP_NAME: "x",
        LOG_DIR: "/var/log",
        MAX_THREADS: "4",
        TERM: "xterm",
      }),
    ).toEqual([]);
  });

  const typos: [string, string][] = [
    ["BATCHSIZE", "BATCH_SIZE"],
    ["batch_size", "BATCH_SIZE"],
    ["Batch_Size", "BATCH_SIZE"],
    ["LOG_LEVLE", "LOG_LEVEL"],
    ["LOGLEVEL", "LOG_LEVEL"],
    ["HTTP_PROT", "HTTP_PORT"],
    ["HTTP_PORTS", "HTTP_PORT"],
    ["APP_ENVS", "APP_ENV"],
    ["BLOCK_MSS", "BLOCK_MS"],
    ["REDIS_URI", "REDIS_URL"],
    ["DATABSE_URL", "DATABASE_URL"],
  ];
  for (const [variable, known] of typos) {
    test(`${variable}: did you mean ${known}?`, () => {
      expect(configWarnings({ [variable]: "x" })).toEqual([
        `${variable} is not a variable coursepay reads and is ignored; did you mean ${known}?`,
      ]);
    });
  }

  test("a generic prefix two edits away stays quiet", () => {
    expect(configWarnings({ MAX_DELIVERY: "3", LOG_LVL: "x", HTTP_HST: "h" })).toEqual([
      "HTTP_HST is not a variable coursepay reads and is ignored; did you mean HTTP_HOST?",
    ]);
  });

  test("an owned prefix warns even when far from every name, listing that prefix's variables", () => {
    expect(
      configWarnings({
        REDIS_PASSWORD: "secret-value-1",
        DATABASE_PATH: "secret-value-2",
        PAYCORE_SECRET: "secret-value-3",
        CLAIM_TIMEOUT_MS: "1",
        coursepay_debug: "1",
      }),
    ).toEqual([
      "CLAIM_TIMEOUT_MS is not a variable coursepay reads and is ignored; did you mean CLAIM_IDLE_MS? (coursepay's CLAIM_ variables: CLAIM_IDLE_MS)",
      "DATABASE_PATH is not a variable coursepay reads and is ignored; did you mean DATABASE_URL? (coursepay's DATABASE_ variables: DATABASE_URL, DATABASE_AUTH_TOKEN, DATABASE_TIMEOUT_MS, DATABASE_BUSY_TIMEOUT_MS)",
      "PAYCORE_SECRET is not a variable coursepay reads and is ignored; did you mean PAYCORE_SIGNING_SECRET? (coursepay's PAYCORE_ variables: PAYCORE_SIGNING_SECRET)",
      "REDIS_PASSWORD is not a variable coursepay reads and is ignored; did you mean REDIS_URL? (coursepay's REDIS_ variables: REDIS_URL, REDIS_SENTINELS, REDIS_SENTINEL_PASSWORD, REDIS_CLUSTER_NODES, REDIS_TIMEOUT_MS, REDIS_SENTINEL_MASTER)",
      "coursepay_debug is not a variable coursepay reads and is ignored; did you mean COURSEPAY_VERSION? (coursepay's COURSEPAY_ variables: COURSEPAY_VERSION)",
    ]);
  });

  test("values are never shown", () => {
    const text = configWarnings({
      REDIS_PASSWORD: "hunter2",
      PAYCORE_SIGNING_SECRT: "s3cret",
    }).join("\n");
    expect(text).toContain("PAYCORE_SIGNING_SECRT");
    expect(text).toContain("did you mean PAYCORE_SIGNING_SECRET?");
    expect(text).not.toContain("hunter2");
    expect(text).not.toContain("s3cret");
  });

  test("a variable present but undefined is skipped", () => {
    expect(configWarnings({ BATCHSIZE: undefined })).toEqual([]);
  });
});

describe("editDistance (optimal string alignment)", () => {
  const cases: [string, string, number][] = [
    ["", "", 0],
    ["a", "", 1],
    ["LOG_LEVEL", "LOG_LEVEL", 0],
    ["LOG_LEVLE", "LOG_LEVEL", 1],
    ["BATCHSIZE", "BATCH_SIZE", 1],
    ["HTTP_PROT", "HTTP_PORT", 1],
    ["HTTP_PRT", "HTTP_PORT", 1],
    ["HTTP_HST", "HTTP_HOST", 1],
    ["MAX_DELIVERY", "MAX_DELIVERIES", 3],
    ["ca", "abc", 3],
  ];
  for (const [a, b, distance] of cases) {
    test(`${JSON.stringify(a)} ↔ ${JSON.stringify(b)}: ${distance}`, () => {
      expect(editDistance(a, b)).toBe(distance);
      expect(editDistance(b, a)).toBe(distance);
      expect(editDistance(a, b, 1)).toBe(Math.min(distance, 2));
    });
  }
});
