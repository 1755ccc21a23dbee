/**
 * The one table of settings: every environment variable coursepay reads, with its schema and
 * default (what loadConfig parses), how its value may be shown, and what it accepts in words.
 * loadConfig, its error messages, the typo warnings, `coursepay config`, serve's start-up log
 * and the README's configuration table all come from here, and so does the Config type (config.ts):
 * adding a setting is adding one entry.
 */
import os from "node:os";
import * as v from "valibot";
import { DEFAULT_CLUSTER_PORT, DEFAULT_SENTINEL_PORT } from "./redis-topology.ts";
import {
  addressList,
  anyString,
  boolean,
  type Database,
  databaseUrl,
  groupStartId,
  integer,
  name,
  oneOf,
  redisUrl,
  signingSecrets,
} from "./setting-schemas.ts";

export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export const LOG_FORMATS = ["json", "pretty", "auto"] as const;
export const APP_ENVS = ["development", "test", "staging", "production"] as const;

/** The database file when DATABASE_URL is unset; serve creates its folder (the demo's case). */
export const DEFAULT_DATABASE_URL = "file:data/coursepay.db";

/** How a value may be shown (errors, `coursepay config`, logs): as is, as a redacted URL, or not at all. */
export type Exposure = "plain" | "url" | "secret";

type Kind = v.GenericSchema<string, unknown>;

export interface Setting {
  /** The kind's schema wrapped in v.optional with the default, if any. */
  readonly schema: v.OptionalSchema<Kind, v.Default<Kind, undefined>>;
  /** What it accepts and what it does (Markdown: the README's "accepts" column). */
  readonly accepts: string;
  /** Default "plain". */
  readonly exposure?: Exposure;
  /** The default in words, when the schema's default is computed or needs a note (Markdown). */
  readonly defaultText?: string;
  /** Taken as it is, not trimmed, and set even when blank. */
  readonly untrimmed?: true;
  /**
   * The Config fields of the parsed value, when not the one field named after the variable
   * (`BATCH_SIZE` → `batchSize`).
   */
  readonly toConfig?: (value: never) => object;
}

export const RETRY_BASE_MAX = 60_000;
export const BUSY_TIMEOUT = { min: 0, max: 600_000 };
export const CLAIM_IDLE = { min: 1000, max: 86_400_000 };
export const SHUTDOWN_TIMEOUT = { min: 100, max: 600_000 };

/** In the order errors, `coursepay config` and the README list them. */
export const SETTINGS = {
  REDIS_URL: {
    schema: v.optional(redisUrl(), "redis://127.0.0.1:6379"),
    exposure: "url",
    accepts:
      "`redis://` or `rediss://` URL; its path is the database number: empty or `/` for 0, else `/N` with N a non-negative integer (`/abc`, `/-1`, `/1/2` are refused); Redis ≥ 7.0 (checked at start). With `REDIS_SENTINELS` or `REDIS_CLUSTER_NODES` its host and port are not used: it supplies only the user, the password, the database (not in a cluster: database 0 only) and TLS (`rediss://`), and may be left unset",
  },
  // The topology (redis-topology.ts): none of these four is a Config field of its own;
  // loadConfig checks them together and derives `redisTopology` from them.
  REDIS_SENTINELS: {
    schema: v.optional(addressList(DEFAULT_SENTINEL_PORT)),
    toConfig: () => ({}),
    accepts: `comma-separated sentinel addresses \`host:port\` (port ${DEFAULT_SENTINEL_PORT} when left out; \`[::1]:${DEFAULT_SENTINEL_PORT}\` for IPv6); with \`REDIS_SENTINEL_MASTER\`, coursepay asks them for the master, follows a failover and never writes to a replica (see Redis topologies). Not with \`REDIS_CLUSTER_NODES\``,
  },
  REDIS_SENTINEL_MASTER: {
    schema: v.optional(name()),
    toConfig: () => ({}),
    accepts:
      "the master's name as the sentinels know it (`sentinel monitor <name> …`); required with `REDIS_SENTINELS`, refused without it",
  },
  REDIS_SENTINEL_PASSWORD: {
    schema: v.optional(anyString()),
    exposure: "secret",
    toConfig: () => ({}),
    accepts:
      "the sentinels' own password (`requirepass` in sentinel.conf), when they have one; the master's comes from `REDIS_URL`. Refused without `REDIS_SENTINELS`",
  },
  REDIS_CLUSTER_NODES: {
    schema: v.optional(addressList(DEFAULT_CLUSTER_PORT)),
    toConfig: () => ({}),
    accepts: `comma-separated seed nodes \`host:port\` of a Redis Cluster (port ${DEFAULT_CLUSTER_PORT} when left out), one is enough, more survive one being down; coursepay speaks the cluster protocol and follows failovers and resharding. The dead-letter stream is then \`{<stream>}.dlq\` (see Redis topologies). Not with \`REDIS_SENTINELS\``,
  },
  REDIS_TIMEOUT_MS: {
    schema: v.optional(integer(100, 600_000), "5000"),
    accepts:
      "100–600000; a Redis command not answered this long (a blocking read: `BLOCK_MS` plus this) means the connection is dead: it is dropped and reopened, and the TCP connect times out after this too (see Network faults)",
  },
  DATABASE_URL: {
    schema: v.optional(databaseUrl(), DEFAULT_DATABASE_URL),
    exposure: "url",
    // A relative file becomes `file:/abs/path`; databaseFilePath is undefined for remote and
    // in-memory databases.
    toConfig: (database: Database) => ({
      databaseUrl: database.url,
      databaseFilePath: database.filePath,
    }),
    accepts:
      '`file:` (relative paths resolve against the working directory; the resolved path is logged), `libsql://`, `http(s)://` for Turso/sqld, `:memory:`. A path without a scheme is refused with a suggestion (`/var/lib/x.db`: "did you mean file:/var/lib/x.db?"), and so is `ws(s)://` ("did you mean http(s)://…?": the WebSocket transport has no request timeout). The folder of a file must exist: `serve` refuses to start otherwise (exit 2, naming the folder and the file), so a mistyped path never becomes an empty new database; `coursepay migrate` creates it (and logs `Created the database folder`), and so does `serve` for the default `data/` when `DATABASE_URL` is unset',
  },
  DATABASE_AUTH_TOKEN: {
    schema: v.optional(anyString()),
    exposure: "secret",
    accepts: "token for Turso/sqld",
  },
  DATABASE_BUSY_TIMEOUT_MS: {
    schema: v.optional(integer(BUSY_TIMEOUT.min, BUSY_TIMEOUT.max), "5000"),
    accepts:
      "0–600000, how long a writer waits for the write lock before retrying with backoff; the local driver waits synchronously, so it must be below `CLAIM_IDLE_MS`/3 (the heartbeat's interval) and below `SHUTDOWN_TIMEOUT_MS`, or start-up is refused naming them (with `CLAIM_IDLE_MS=1000`: at most 333)",
  },
  DATABASE_TIMEOUT_MS: {
    schema: v.optional(integer(100, 600_000), "10000"),
    accepts:
      "100–600000; a request to a remote database (`http(s)://`, `libsql://`) not answered this long has failed: the batch is retried with backoff, nothing ACKed or dead-lettered. Keep it above the time a statement may wait on the server for the write lock (sqld's baton timeout is 10 s): a request given up on goes on waiting there. Not used for a file (the busy timeout bounds it)",
  },
  EVENT_STREAM: {
    schema: v.optional(name(), "brain.events.paycore"),
    accepts:
      "stream name; dead letters go to `<stream>.dlq`, or in a cluster (`REDIS_CLUSTER_NODES`) to `{<stream>}.dlq`, in the stream's slot",
  },
  CONSUMER_GROUP: {
    schema: v.optional(name(), "course_factory"),
    accepts: "group name",
  },
  CONSUMER_NAME: {
    schema: v.optional(name(), () => os.hostname()),
    defaultText: "the host name",
    accepts:
      "consumer name; stable across restarts so a restarted worker finds its own pending entries; give each worker on one host its own: at start a worker warns when the group has a consumer of its name that read less than `CLAIM_IDLE_MS` ago (two workers sharing it, or a restart right after a crash)",
  },
  GROUP_START_ID: {
    schema: v.optional(groupStartId(), "0"),
    accepts:
      "where a missing group starts: `0` (everything already in the stream), `$` (only new events) or an entry id `<ms>` or `<ms>-<seq>`, each part decimal digits only (no sign) up to 18446744073709551615",
  },
  ENABLE_EVENT_CONSUMER: {
    schema: v.optional(boolean(), "true"),
    accepts: "`true/false/1/0/yes/no`; off, serve reads nothing (and is not ready)",
  },
  MIGRATE_ON_START: {
    schema: v.optional(boolean(), "true"),
    accepts: "boolean; serve applies the embedded migrations before it reads",
  },
  BATCH_SIZE: {
    schema: v.optional(integer(1, 10_000), "500"),
    accepts: "1–10000 entries per read and per database transaction",
  },
  BLOCK_MS: {
    schema: v.optional(integer(1, 60_000), "2000"),
    accepts: "1–60000, how long a read waits for new entries",
  },
  LOG_LEVEL: {
    schema: v.optional(oneOf(LOG_LEVELS), "info"),
    accepts: "`debug/info/warn/error`",
  },
  LOG_FORMAT: {
    schema: v.optional(oneOf(LOG_FORMATS), "auto"),
    accepts:
      "`json` (one object per line), `pretty`, or `auto`: pretty on a terminal, JSON otherwise",
  },
  MAX_EVENT_BYTES: {
    schema: v.optional(integer(256, 16_777_216), "65536"),
    accepts: "256–16777216; a larger entry is dead-lettered unparsed",
  },
  MAX_DELIVERIES: {
    schema: v.optional(integer(1, 1000), "5"),
    accepts:
      "1–1000 attempts before an event failing on its own is dead-lettered (`max_deliveries`)",
  },
  CLAIM_IDLE_MS: {
    schema: v.optional(integer(CLAIM_IDLE.min, CLAIM_IDLE.max), "60000"),
    accepts:
      "1000–86400000, more than 3 × `DATABASE_BUSY_TIMEOUT_MS`; entries another consumer left pending this long are reclaimed (XAUTOCLAIM)",
  },
  TRIM_STREAM: {
    schema: v.optional(boolean(), "false"),
    accepts:
      "boolean; when on, serve trims `EVENT_STREAM` every minute (`XTRIM MINID`), only below every group's last-delivered-id and oldest pending entry and only entries older than `STREAM_RETENTION_MS`, so nothing unread or unacknowledged is dropped; the dead-letter stream is never trimmed",
  },
  STREAM_RETENTION_MS: {
    schema: v.optional(integer(60_000, 31_536_000_000), "604800000"),
    defaultText: "`604800000` (7 days)",
    accepts: "60000–31536000000; with `TRIM_STREAM`, entries newer than this are always kept",
  },
  RETRY_BASE_MS: {
    schema: v.optional(integer(1, RETRY_BASE_MAX), "100"),
    accepts:
      "1–60000, the first delay of the capped exponential backoff with jitter for transient failures",
  },
  RETRY_MAX_MS: {
    schema: v.optional(integer(1, 3_600_000), "30000"),
    accepts: "`RETRY_BASE_MS`–3600000, the longest delay of that backoff",
  },
  SHUTDOWN_TIMEOUT_MS: {
    schema: v.optional(integer(SHUTDOWN_TIMEOUT.min, SHUTDOWN_TIMEOUT.max), "10000"),
    accepts:
      "100–600000, above `DATABASE_BUSY_TIMEOUT_MS`; past it, shutdown exits 1 leaving entries pending",
  },
  APP_ENV: {
    schema: v.optional(oneOf(APP_ENVS), "development"),
    accepts:
      "`development/test/staging/production`; production refuses the simulator and dead-letters events marked `simulated`",
  },
  ENABLE_SIMULATOR: {
    schema: v.optional(boolean(), "false"),
    accepts:
      "boolean; serve also publishes a simulated payment every `SIMULATOR_INTERVAL_MS` (the demo); refused when `APP_ENV=production`",
  },
  SIMULATOR_INTERVAL_MS: {
    schema: v.optional(integer(10, 3_600_000), "1000"),
    accepts: "10–3600000, the interval of `ENABLE_SIMULATOR`",
  },
  PAYCORE_SIGNING_SECRET: {
    schema: v.optional(signingSecrets()),
    exposure: "secret",
    untrimmed: true,
    // Set, it always yields at least one secret (signing-secrets.ts); unset, none.
    toConfig: (secrets: string[] | undefined): { signingSecrets: readonly string[] } => ({
      signingSecrets: Object.freeze(secrets ?? []),
    }),
    accepts:
      "comma-separated secrets, each trimmed; `\\,` is a comma, `\\\\` a backslash, `\\ ` a kept space. When set, every entry must be signed; set but with no usable secret (blank, an empty item, a lone backslash) it stops start-up, naming the item, never the value (see Signed events)",
  },
  HTTP_PORT: {
    schema: v.optional(integer(0, 65_535)),
    accepts:
      "0–65535; when set, serve answers `GET /healthz`, `/readyz` and `/metrics` (see Operations)",
  },
  HTTP_HOST: {
    schema: v.optional(name(), "127.0.0.1"),
    accepts: "address the HTTP endpoints bind to",
  },
} satisfies Record<string, Setting>;

export type SettingName = keyof typeof SETTINGS;

export const SETTING_NAMES = Object.keys(SETTINGS) as SettingName[];

export function setting(variable: string): Setting | undefined {
  return Object.hasOwn(SETTINGS, variable) ? SETTINGS[variable as SettingName] : undefined;
}

/** The default as text: the schema's (computed now when it is a function), or undefined. */
export function defaultValue(variable: SettingName): string | undefined {
  const fallback: unknown = v.getDefault(SETTINGS[variable].schema);
  return typeof fallback === "string" ? fallback : undefined;
}
