/**
 * Environment → frozen, typed Config, parsed once at start-up. Every bad variable is reported in
 * one ConfigError; secret values never appear in it (URLs only in their redacted form).
 */
import * as v from "valibot";
import { redactUrl } from "./redact.ts";
import { isBarePath, suggestedFileUrl, WHOLE_MESSAGE } from "./setting-schemas.ts";
import {
  type APP_ENVS,
  BUSY_TIMEOUT,
  CLAIM_IDLE,
  type LOG_FORMATS,
  type LOG_LEVELS,
  RETRY_BASE_MAX,
  SETTING_NAMES,
  SETTINGS,
  SHUTDOWN_TIMEOUT,
  setting,
} from "./settings.ts";

export { isGroupStartId, suggestedFileUrl } from "./setting-schemas.ts";
export { APP_ENVS, DEFAULT_DATABASE_URL, LOG_FORMATS, LOG_LEVELS } from "./settings.ts";

export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFormat = (typeof LOG_FORMATS)[number];
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
  /**
   * DATABASE_BUSY_TIMEOUT_MS, default 5000: how long a writer waits for the write lock; below
   * CLAIM_IDLE_MS/3 and below SHUTDOWN_TIMEOUT_MS (the local driver waits synchronously).
   */
  readonly databaseBusyTimeoutMs: number;
  /** EVENT_STREAM, default `brain.events.paycore`. */
  readonly eventStream: string;
  /** CONSUMER_GROUP, default `course_factory`. */
  readonly consumerGroup: string;
  /** CONSUMER_NAME, default the host name. */
  readonly consumerName: string;
  /**
   * GROUP_START_ID, default `0`: where a missing group starts: `0`, `$` or a stream id `<ms>` or
   * `<ms>-<seq>` (decimal, each part below 2^64).
   */
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
  /**
   * PAYCORE_SIGNING_SECRET (secret): comma-separated, each item trimmed, `\,` `\\` `\ ` escapes
   * (see signing-secrets.ts); default none. Set, it always yields at least one secret.
   */
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

// --- the variables ---------------------------------------------------------------------------

/**
 * Largest DATABASE_BUSY_TIMEOUT_MS for the given CLAIM_IDLE_MS and SHUTDOWN_TIMEOUT_MS: below a
 * third of the first (a writer blocked on the lock holds up the heartbeat that keeps the batch
 * in hand from being reclaimed) and below the second (it holds up shutdown too).
 */
export function maxBusyTimeoutMs(claimIdleMs: number, shutdownTimeoutMs: number): number {
  return Math.min(Math.floor((claimIdleMs - 1) / 3), shutdownTimeoutMs - 1, BUSY_TIMEOUT.max);
}

/** valibot runs a partialCheck even after a range check failed: such a value is left alone. */
function inRange(value: number, range: { min: number; max: number }): boolean {
  return value >= range.min && value <= range.max;
}

/** The table's schemas, typed per variable, for v.object. */
const ENTRIES = Object.fromEntries(
  SETTING_NAMES.map((variable) => [variable, SETTINGS[variable].schema]),
) as { [K in keyof typeof SETTINGS]: (typeof SETTINGS)[K]["schema"] };

const EnvSchema = v.pipe(
  v.object(ENTRIES),
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
  v.forward(
    v.partialCheck(
      [["DATABASE_BUSY_TIMEOUT_MS"], ["CLAIM_IDLE_MS"], ["SHUTDOWN_TIMEOUT_MS"]],
      // Each value out of its own range is reported on its own, not again here.
      (env) =>
        !inRange(env.DATABASE_BUSY_TIMEOUT_MS, BUSY_TIMEOUT) ||
        !inRange(env.CLAIM_IDLE_MS, CLAIM_IDLE) ||
        !inRange(env.SHUTDOWN_TIMEOUT_MS, SHUTDOWN_TIMEOUT) ||
        env.DATABASE_BUSY_TIMEOUT_MS <=
          maxBusyTimeoutMs(env.CLAIM_IDLE_MS, env.SHUTDOWN_TIMEOUT_MS),
      (issue) => {
        const env = issue.input as { CLAIM_IDLE_MS: number; SHUTDOWN_TIMEOUT_MS: number };
        const max = maxBusyTimeoutMs(env.CLAIM_IDLE_MS, env.SHUTDOWN_TIMEOUT_MS);
        return `an integer from 0 to ${max}, below CLAIM_IDLE_MS/3 (CLAIM_IDLE_MS is ${env.CLAIM_IDLE_MS}) and below SHUTDOWN_TIMEOUT_MS (${env.SHUTDOWN_TIMEOUT_MS})`;
      },
    ),
    ["DATABASE_BUSY_TIMEOUT_MS"],
  ),
);

const VARIABLES: readonly string[] = SETTING_NAMES;

/** Every variable loadConfig reads, in the order errors list them. */
export const CONFIG_VARIABLES: readonly string[] = Object.freeze([...VARIABLES]);

/** False when DATABASE_URL is unset or blank, i.e. the embedded default applies. */
export function isDatabaseUrlSet(env: Record<string, string | undefined> = process.env): boolean {
  return (env.DATABASE_URL?.trim() ?? "") !== "";
}

/**
 * The text of each variable that is set, as loadConfig parses it: trimmed, blank counting as
 * unset, except the table's `untrimmed` ones (PAYCORE_SIGNING_SECRET: set, even blank, it must
 * hold a secret, and its items are trimmed one by one).
 */
export function settingInputs(env: Record<string, string | undefined>): Record<string, string> {
  const input: Record<string, string> = {};
  for (const variable of VARIABLES) {
    const raw = env[variable];
    if (raw === undefined) continue;
    if (setting(variable)?.untrimmed) {
      input[variable] = raw;
      continue;
    }
    const value = raw.trim();
    if (value) input[variable] = value;
  }
  return input;
}

/**
 * Reads the configuration from `env` (values are trimmed and blank values count as unset,
 * except PAYCORE_SIGNING_SECRET: set, even blank, it must hold a secret).
 * @throws {ConfigError} naming every bad variable and what it accepts.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const input = settingInputs(env);
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
    signingSecrets: Object.freeze(e.PAYCORE_SIGNING_SECRET ?? []),
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
    .map((variable) => {
      const expectation = expectations.get(variable) as string;
      if (expectation.startsWith(WHOLE_MESSAGE)) {
        return { variable, message: expectation.slice(WHOLE_MESSAGE.length) };
      }
      const value = input[variable];
      const suggestion =
        variable === "DATABASE_URL" && value !== undefined ? suggestedFileUrl(value) : undefined;
      return {
        variable,
        message: `expected ${expectation}, got ${shown(variable, value)}${
          suggestion === undefined ? "" : ` (did you mean ${suggestion}?)`
        }`,
      };
    });
}

const MAX_SHOWN_LENGTH = 200;

function shown(variable: string, value: string | undefined): string {
  const exposure = setting(variable)?.exposure ?? "plain";
  if (value === undefined) {
    // Only a check against another variable reports a variable left at its default.
    const schema = setting(variable)?.schema;
    const fallback = schema === undefined ? undefined : v.getDefault(schema);
    if (typeof fallback !== "string" || exposure === "secret") return "the default";
    return `the default ${exposure === "url" ? redactUrl(fallback) : fallback}`;
  }
  if (exposure === "secret") return "an invalid value";
  const visible =
    exposure === "url" && !(variable === "DATABASE_URL" && isBarePath(value))
      ? redactUrl(value)
      : value;
  const clipped =
    visible.length > MAX_SHOWN_LENGTH ? `${visible.slice(0, MAX_SHOWN_LENGTH)}…` : visible;
  return JSON.stringify(clipped);
}
