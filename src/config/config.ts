/**
 * Environment → frozen, typed Config, parsed once at start-up. Every bad variable is reported in
 * one ConfigError; secret values never appear in it (URLs only in their redacted form).
 */
import * as v from "valibot";
import { redactUrl } from "./redact.ts";
import {
  deadLetterStreamName,
  type RedisTopology,
  redisTopologyOf,
  type TopologyInput,
  topologyIssues,
} from "./redis-topology.ts";
import { isBarePath, suggestedDatabaseUrl, WHOLE_MESSAGE } from "./setting-schemas.ts";
import {
  type APP_ENVS,
  BUSY_TIMEOUT,
  CLAIM_IDLE,
  type LOG_FORMATS,
  type LOG_LEVELS,
  RETRY_BASE_MAX,
  SETTING_NAMES,
  SETTINGS,
  type Setting,
  SHUTDOWN_TIMEOUT,
  setting,
} from "./settings.ts";

export { isGroupStartId, suggestedFileUrl } from "./setting-schemas.ts";
export { APP_ENVS, DEFAULT_DATABASE_URL, LOG_FORMATS, LOG_LEVELS } from "./settings.ts";

export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFormat = (typeof LOG_FORMATS)[number];
export type AppEnv = (typeof APP_ENVS)[number];

/** `BATCH_SIZE` → `batchSize`: a setting's field in Config, unless its entry has toConfig. */
type CamelCase<S extends string> = S extends `${infer Head}_${infer Tail}`
  ? `${Lowercase<Head>}${Capitalize<CamelCase<Tail>>}`
  : Lowercase<S>;

export function configKey(variable: string): string {
  return variable.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

type Settings = typeof SETTINGS;

type UnionToIntersection<U> = (U extends unknown ? (u: U) => void : never) extends (
  i: infer I,
) => void
  ? I
  : never;

/** One field per setting, named after it, with its parsed type. */
type PlainFields = {
  readonly [K in keyof Settings as Settings[K] extends { toConfig: unknown }
    ? never
    : CamelCase<K>]: v.InferOutput<Settings[K]["schema"]>;
};

/** The fields of the settings whose entry maps them itself (DATABASE_URL, …). */
type MappedFields = UnionToIntersection<
  {
    [K in keyof Settings]: Settings[K] extends { toConfig: (value: never) => infer R } ? R : never;
  }[keyof Settings]
>;

/**
 * The configuration, derived from the settings table: `REDIS_URL` is `redisUrl`, … (see
 * settings.ts for what each accepts and its default).
 */
export type Config = Readonly<PlainFields & MappedFields & DerivedFields>;

/** Fields computed from several settings at once (after the table's own). */
interface DerivedFields {
  /** Standalone, Sentinel or cluster, from REDIS_SENTINELS, REDIS_SENTINEL_MASTER, … */
  redisTopology: RedisTopology;
  /** Where dead letters go: `<stream>.dlq`, in a cluster `{<stream>}.dlq` (redis-topology.ts). */
  deadLetterStream: string;
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
  // Checked on the text as set, so a contradiction is reported with every other bad variable.
  const contradictions = topologyIssues(input as TopologyInput);
  if (!result.success || contradictions.length > 0) {
    const issues = result.success ? [] : toConfigIssues(result.issues, input);
    throw new ConfigError(withContradictions(issues, contradictions));
  }
  const parsed = result.output as Record<string, unknown>;
  const config: Record<string, unknown> = {};
  for (const variable of SETTING_NAMES) {
    const entry: Setting = SETTINGS[variable];
    const value = parsed[variable];
    Object.assign(
      config,
      entry.toConfig ? entry.toConfig(value as never) : { [configKey(variable)]: value },
    );
  }
  const redisTopology = redisTopologyOf(input as TopologyInput);
  config.redisTopology = redisTopology;
  config.deadLetterStream = deadLetterStreamName(String(parsed.EVENT_STREAM), redisTopology);
  return Object.freeze(config) as Config;
}

/** Adds the contradictions of variables not already reported, in the order variables are listed. */
function withContradictions(issues: ConfigIssue[], contradictions: ConfigIssue[]): ConfigIssue[] {
  const reported = new Set(issues.map((issue) => issue.variable));
  const all = [...issues, ...contradictions.filter((issue) => !reported.has(issue.variable))];
  const rank = (variable: string) => {
    const index = VARIABLES.indexOf(variable);
    return index === -1 ? VARIABLES.length : index;
  };
  return all.sort((a, b) => rank(a.variable) - rank(b.variable));
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
        variable === "DATABASE_URL" && value !== undefined
          ? suggestedDatabaseUrl(value)
          : undefined;
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
