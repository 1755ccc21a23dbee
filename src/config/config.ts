/**
 * Environment → frozen, typed Config, parsed once at start-up. Every bad variable is reported in
 * one ConfigError; secret values never appear in it (URLs only in their redacted form).
 */
import os from "node:os";
import path from "node:path";
import * as v from "valibot";
import { redactUrl } from "./redact.ts";

export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ["json", "pretty", "auto"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
export const APP_ENVS = ["development", "test", "staging", "production"] as const;
export type AppEnv = (typeof APP_ENVS)[number];

export interface Config {
  /** REDIS_URL, default `redis://127.0.0.1:6379`; `redis:` or `rediss:`. */
  readonly redisUrl: string;
  /**
   * REDIS_TIMEOUT_MS, default 5000 (100..600000): a command unanswered this long (a blocking
   * read: BLOCK_MS plus this) means the connection is dead; it is dropped and reopened.
   */
  readonly redisTimeoutMs: number;
  /** DATABASE_URL, default `file:data/coursepay.db`; a relative file becomes `file:/abs/path`. */
  readonly databaseUrl: string;
  /** Absolute path of the database file; undefined for remote and in-memory databases. */
  readonly databaseFilePath: string | undefined;
  /** DATABASE_AUTH_TOKEN (secret). */
  readonly databaseAuthToken: string | undefined;
  /** DATABASE_BUSY_TIMEOUT_MS, default 5000: how long a writer waits for the write lock. */
  readonly databaseBusyTimeoutMs: number;
  /** EVENT_STREAM, default `brain.events.paycore`. */
  readonly eventStream: string;
  /** CONSUMER_GROUP, default `course_factory`. */
  readonly consumerGroup: string;
  /** CONSUMER_NAME, default the host name. */
  readonly consumerName: string;
  /** GROUP_START_ID, default `0`: where a missing group starts (`0`, `$` or a stream id). */
  readonly groupStartId: string;
  /** ENABLE_EVENT_CONSUMER, default true. */
  readonly enableEventConsumer: boolean;
  /** MIGRATE_ON_START, default true. */
  readonly migrateOnStart: boolean;
  /** BATCH_SIZE, default 500 (1..10000). */
  readonly batchSize: number;
  /** BLOCK_MS, default 2000 (1..60000; 0 would block forever). */
  readonly blockMs: number;
  /** LOG_LEVEL, default `info`. */
  readonly logLevel: LogLevel;
  /** LOG_FORMAT, default `auto` (pretty on a terminal, JSON otherwise). */
  readonly logFormat: LogFormat;
  /** MAX_EVENT_BYTES, default 65536 (256..16777216). */
  readonly maxEventBytes: number;
  /** MAX_DELIVERIES, default 5 (1..1000). */
  readonly maxDeliveries: number;
  /** CLAIM_IDLE_MS, default 60000 (1000..86400000). */
  readonly claimIdleMs: number;
  /** TRIM_STREAM, default false: periodically trim entries every group has acknowledged. */
  readonly trimStream: boolean;
  /** STREAM_RETENTION_MS, default 604800000 (7 days; 60000..31536000000): keep entries this new. */
  readonly streamRetentionMs: number;
  /** RETRY_BASE_MS, default 100 (1..60000). */
  readonly retryBaseMs: number;
  /** RETRY_MAX_MS, default 30000 (1..3600000, at least RETRY_BASE_MS). */
  readonly retryMaxMs: number;
  /** SHUTDOWN_TIMEOUT_MS, default 10000 (100..600000). */
  readonly shutdownTimeoutMs: number;
  /** APP_ENV, default `development`. */
  readonly appEnv: AppEnv;
  /** ENABLE_SIMULATOR, default false. */
  readonly enableSimulator: boolean;
  /** SIMULATOR_INTERVAL_MS, default 1000 (10..3600000). */
  readonly simulatorIntervalMs: number;
  /** PAYCORE_SIGNING_SECRET, comma-separated (secret); default none. */
  readonly signingSecrets: readonly string[];
  /** HTTP_PORT (0..65535); no HTTP server when unset. */
  readonly httpPort: number | undefined;
  /** HTTP_HOST, default `127.0.0.1`. */
  readonly httpHost: string;
}

export interface ConfigIssue {
  variable: string;
  message: string;
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly issues: ConfigIssue[];

  constructor(issues: ConfigIssue[]) {
    super(
      `Invalid configuration:\n${issues.map((i) => `  ${i.variable}: ${i.message}`).join("\n")}`,
    );
    this.issues = issues;
  }
}

// --- one schema per kind of variable; each message says what the variable accepts ----------

type Expectation = string;

function integer(min: number, max: number): v.GenericSchema<string, number> {
  const expects: Expectation = `an integer from ${min} to ${max}`;
  return v.pipe(
    v.string(expects),
    v.regex(/^[+-]?\d{1,16}$/, expects),
    v.transform(Number),
    v.minValue(min, expects),
    v.maxValue(max, expects),
  );
}

const BOOLEAN_WORDS: Record<string, boolean> = {
  true: true,
  false: false,
  "1": true,
  "0": false,
  yes: true,
  no: false,
};

function boolean(): v.GenericSchema<string, boolean> {
  const expects = "one of true|false|1|0|yes|no";
  return v.pipe(
    v.string(expects),
    v.transform((s) => s.toLowerCase()),
    v.check((s) => Object.hasOwn(BOOLEAN_WORDS, s), expects),
    v.transform((s) => BOOLEAN_WORDS[s] === true),
  );
}

function oneOf<const T extends readonly string[]>(options: T): v.GenericSchema<string, T[number]> {
  const expects = `one of ${options.join("|")}`;
  return v.pipe(
    v.string(expects),
    v.transform((s) => s.toLowerCase()),
    v.picklist(options, expects),
  );
}

/** Stream, group and consumer names, host names: non-empty, no whitespace or control chars. */
function name(): v.GenericSchema<string, string> {
  const expects = "a non-empty name without whitespace";
  return v.pipe(v.string(expects), v.regex(/^[^\s\p{Cc}]+$/u, expects));
}

function redisUrl(): v.GenericSchema<string, string> {
  const expects = "a redis:// or rediss:// URL";
  return v.pipe(
    v.string(expects),
    v.check((s) => {
      const url = URL.parse(s);
      return url !== null && (url.protocol === "redis:" || url.protocol === "rediss:");
    }, expects),
  );
}

interface Database {
  url: string;
  filePath: string | undefined;
}

const REMOTE_DATABASE_PROTOCOLS = new Set(["libsql:", "http:", "https:", "ws:", "wss:"]);

/** `file:` split the way libSQL reads it: optional `//authority`, path, optional `?query`. */
const FILE_URL = /^file:(?:\/\/(?<authority>[^/?#]*))?(?<path>[^?#]*)(?<query>\?[^#]*)?$/s;

function toDatabase(text: string): Database | undefined {
  if (text === ":memory:") return { url: text, filePath: undefined };
  if (text.startsWith("file:")) {
    const groups = FILE_URL.exec(text)?.groups;
    if (groups === undefined) return undefined;
    const { authority, query = "" } = groups;
    if (authority !== undefined && authority !== "" && authority !== "localhost") return undefined;
    let filePath: string;
    try {
      filePath = decodeURIComponent(groups.path ?? "");
    } catch {
      return undefined;
    }
    if (filePath === "") return undefined;
    if (filePath === ":memory:") return { url: text, filePath: undefined };
    const absolute = path.resolve(process.cwd(), filePath);
    // libSQL percent-decodes the path, so characters with a meaning in URLs are encoded back.
    const encoded = absolute.replace(/[%?#]/g, (c) => encodeURIComponent(c));
    return { url: `file:${encoded}${query}`, filePath: absolute };
  }
  const url = URL.parse(text);
  if (url === null || !REMOTE_DATABASE_PROTOCOLS.has(url.protocol) || url.host === "") {
    return undefined;
  }
  return { url: text, filePath: undefined };
}

function databaseUrl(): v.GenericSchema<string, Database> {
  const expects = "a file:, :memory:, libsql:, http:, https:, ws: or wss: URL";
  return v.pipe(
    v.string(expects),
    v.check((s) => toDatabase(s) !== undefined, expects),
    v.transform((s) => toDatabase(s) as Database),
  );
}

function anyString(): v.GenericSchema<string, string> {
  return v.string("a string");
}

function signingSecrets(): v.GenericSchema<string, string[]> {
  return v.pipe(
    v.string("a comma-separated list of secrets"),
    v.transform((s) =>
      s
        .split(",")
        .map((item) => item.trim())
        .filter((item) => item !== ""),
    ),
  );
}

// --- the variables ---------------------------------------------------------------------------

/** How a bad value may be shown in an error: as is, redacted as a URL, or not at all. */
type Exposure = "plain" | "url" | "secret";

const EXPOSURE: Record<string, Exposure> = {
  REDIS_URL: "url",
  DATABASE_URL: "url",
  DATABASE_AUTH_TOKEN: "secret",
  PAYCORE_SIGNING_SECRET: "secret",
};

const RETRY_BASE_MAX = 60_000;

const EnvSchema = v.pipe(
  v.object({
    REDIS_URL: v.optional(redisUrl(), "redis://127.0.0.1:6379"),
    REDIS_TIMEOUT_MS: v.optional(integer(100, 600_000), "5000"),
    DATABASE_URL: v.optional(databaseUrl(), "file:data/coursepay.db"),
    DATABASE_AUTH_TOKEN: v.optional(anyString()),
    DATABASE_BUSY_TIMEOUT_MS: v.optional(integer(0, 600_000), "5000"),
    EVENT_STREAM: v.optional(name(), "brain.events.paycore"),
    CONSUMER_GROUP: v.optional(name(), "course_factory"),
    CONSUMER_NAME: v.optional(name(), () => os.hostname()),
    GROUP_START_ID: v.optional(
      v.pipe(v.string(), v.regex(/^(\$|\d+(-\d+)?)$/, "one of 0|$|<ms>-<seq>")),
      "0",
    ),
    ENABLE_EVENT_CONSUMER: v.optional(boolean(), "true"),
    MIGRATE_ON_START: v.optional(boolean(), "true"),
    BATCH_SIZE: v.optional(integer(1, 10_000), "500"),
    BLOCK_MS: v.optional(integer(1, 60_000), "2000"),
    LOG_LEVEL: v.optional(oneOf(LOG_LEVELS), "info"),
    LOG_FORMAT: v.optional(oneOf(LOG_FORMATS), "auto"),
    MAX_EVENT_BYTES: v.optional(integer(256, 16_777_216), "65536"),
    MAX_DELIVERIES: v.optional(integer(1, 1000), "5"),
    CLAIM_IDLE_MS: v.optional(integer(1000, 86_400_000), "60000"),
    TRIM_STREAM: v.optional(boolean(), "false"),
    STREAM_RETENTION_MS: v.optional(integer(60_000, 31_536_000_000), "604800000"),
    RETRY_BASE_MS: v.optional(integer(1, RETRY_BASE_MAX), "100"),
    RETRY_MAX_MS: v.optional(integer(1, 3_600_000), "30000"),
    SHUTDOWN_TIMEOUT_MS: v.optional(integer(100, 600_000), "10000"),
    APP_ENV: v.optional(oneOf(APP_ENVS), "development"),
    ENABLE_SIMULATOR: v.optional(boolean(), "false"),
    SIMULATOR_INTERVAL_MS: v.optional(integer(10, 3_600_000), "1000"),
    PAYCORE_SIGNING_SECRET: v.optional(signingSecrets(), ""),
    HTTP_PORT: v.optional(integer(0, 65_535)),
    HTTP_HOST: v.optional(name(), "127.0.0.1"),
  }),
  v.forward(
    v.partialCheck(
      [["RETRY_BASE_MS"], ["RETRY_MAX_MS"]],
      // An out-of-range RETRY_BASE_MS is reported on its own, not again through RETRY_MAX_MS.
      (env) => env.RETRY_BASE_MS > RETRY_BASE_MAX || env.RETRY_MAX_MS >= env.RETRY_BASE_MS,
      (issue) => {
        const base = (issue.input as { RETRY_BASE_MS: number }).RETRY_BASE_MS;
        return `an integer from ${base} (RETRY_BASE_MS) to 3600000`;
      },
    ),
    ["RETRY_MAX_MS"],
  ),
);

const VARIABLES = Object.keys(EnvSchema.pipe[0].entries);

/**
 * Reads the configuration from `env` (blank values count as unset, values are trimmed).
 * @throws {ConfigError} naming every bad variable and what it accepts.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const input: Record<string, string> = {};
  for (const variable of VARIABLES) {
    const value = env[variable]?.trim();
    if (value) input[variable] = value;
  }
  const result = v.safeParse(EnvSchema, input);
  if (!result.success) throw new ConfigError(toConfigIssues(result.issues, input));
  const e = result.output;
  return Object.freeze({
    redisUrl: e.REDIS_URL,
    redisTimeoutMs: e.REDIS_TIMEOUT_MS,
    databaseUrl: e.DATABASE_URL.url,
    databaseFilePath: e.DATABASE_URL.filePath,
    databaseAuthToken: e.DATABASE_AUTH_TOKEN,
    databaseBusyTimeoutMs: e.DATABASE_BUSY_TIMEOUT_MS,
    eventStream: e.EVENT_STREAM,
    consumerGroup: e.CONSUMER_GROUP,
    consumerName: e.CONSUMER_NAME,
    groupStartId: e.GROUP_START_ID,
    enableEventConsumer: e.ENABLE_EVENT_CONSUMER,
    migrateOnStart: e.MIGRATE_ON_START,
    batchSize: e.BATCH_SIZE,
    blockMs: e.BLOCK_MS,
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT,
    maxEventBytes: e.MAX_EVENT_BYTES,
    maxDeliveries: e.MAX_DELIVERIES,
    claimIdleMs: e.CLAIM_IDLE_MS,
    trimStream: e.TRIM_STREAM,
    streamRetentionMs: e.STREAM_RETENTION_MS,
    retryBaseMs: e.RETRY_BASE_MS,
    retryMaxMs: e.RETRY_MAX_MS,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    appEnv: e.APP_ENV,
    enableSimulator: e.ENABLE_SIMULATOR,
    simulatorIntervalMs: e.SIMULATOR_INTERVAL_MS,
    signingSecrets: Object.freeze(e.PAYCORE_SIGNING_SECRET),
    httpPort: e.HTTP_PORT,
    httpHost: e.HTTP_HOST,
  });
}

/** One issue per variable (the first rule it broke), in the order the variables are listed. */
function toConfigIssues(
  issues: readonly v.BaseIssue<unknown>[],
  input: Record<string, string>,
): ConfigIssue[] {
  const expectations = new Map<string, string>();
  for (const issue of issues) {
    const variable = String(issue.path?.[0]?.key ?? "");
    if (!expectations.has(variable)) expectations.set(variable, issue.message);
  }
  const order = [...VARIABLES, ...expectations.keys()];
  return [...new Set(order)]
    .filter((variable) => expectations.has(variable))
    .map((variable) => ({
      variable,
      message: `expected ${expectations.get(variable)}, got ${shown(variable, input[variable])}`,
    }));
}

const MAX_SHOWN_LENGTH = 200;

function shown(variable: string, value: string | undefined): string {
  if (value === undefined) return "the default";
  const exposure = EXPOSURE[variable] ?? "plain";
  if (exposure === "secret") return "an invalid value";
  const visible = exposure === "url" ? redactUrl(value) : value;
  const clipped =
    visible.length > MAX_SHOWN_LENGTH ? `${visible.slice(0, MAX_SHOWN_LENGTH)}…` : visible;
  return JSON.stringify(clipped);
}
