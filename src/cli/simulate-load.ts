import { loadConfig } from "../config/config.ts";
import { describeRedisTarget } from "../config/redis-topology.ts";
import { EnrollmentForecast } from "../simulator/enrollment-forecast.ts";
import {
  generateLoad,
  INVALID_KINDS,
  LoadMixError,
  planLoad,
} from "../simulator/load-generator.ts";
import { type LoadSummary, publishLoad } from "../simulator/load-publisher.ts";
import { formatDuration, ProgressDisplay, ratePerSecond } from "../simulator/progress.ts";
import { openCommandRedis } from "./command-connections.ts";
import { replicaWait } from "./replica-wait-option.ts";
import { EXIT_INTERRUPTED, EXIT_OK, UsageError } from "./usage-error.ts";

const MAX_COUNT = 100_000_000;

export interface LoadOptions {
  count?: string | undefined;
  rate?: string | undefined;
  tenants?: string | undefined;
  users?: string | undefined;
  courses?: string | undefined;
  duplicates?: string | undefined;
  invalid?: string | undefined;
  refunds?: string | undefined;
  seed?: string | undefined;
  waitReplicas?: string | undefined;
}

/** How long a round trip that failed is sent again before the run fails (a failover's time). */
const RETRY_FOR_MS = 30_000;

export async function simulateLoadCommand(values: LoadOptions): Promise<number> {
  if (values.count === undefined) throw new UsageError("simulate load: --count is required");
  const mix = {
    count: wholeNumber("--count", values.count, 1, MAX_COUNT),
    tenants: wholeNumber("--tenants", values.tenants ?? "3", 1, 1_000_000),
    users: wholeNumber("--users", values.users ?? "50", 1, 1_000_000),
    courses: wholeNumber("--courses", values.courses ?? "10", 1, 999),
    duplicates: fraction("--duplicates", values.duplicates ?? "0.05"),
    invalid: fraction("--invalid", values.invalid ?? "0.01"),
    refunds: fraction("--refunds", values.refunds ?? "0"),
    seed:
      values.seed === undefined
        ? (crypto.getRandomValues(new Uint32Array(1))[0] ?? 0)
        : wholeNumber("--seed", values.seed, 0, 4_294_967_295),
  };
  const rate = values.rate === undefined ? undefined : positiveRate(values.rate);
  try {
    planLoad(mix.count, mix.duplicates, mix.invalid, mix.refunds);
  } catch (error) {
    if (error instanceof LoadMixError) throw new UsageError(`simulate load: ${error.message}`);
    throw error;
  }

  const config = loadConfig();
  const waitReplicas = replicaWait(values.waitReplicas, config.redisTimeoutMs, "simulate load");
  if (config.appEnv === "production") {
    throw new UsageError("simulate is refused when APP_ENV=production");
  }
  const redis = await openCommandRedis(config, "simulator-load");
  const aborter = new AbortController();
  const onSigint = () => aborter.abort();
  process.on("SIGINT", onSigint);
  try {
    const pace = rate === undefined ? "as fast as possible" : `at ${rate} events/s`;
    console.log(
      `Publishing ${mix.count} events to ${config.eventStream} on ${describeRedisTarget(config)}, ${pace} (seed ${mix.seed})`,
    );
    const progress = new ProgressDisplay({
      total: mix.count,
      out: process.stdout,
      isTTY: process.stdout.isTTY === true,
      verb: "published",
    });
    const forecast = new EnrollmentForecast();
    const summary = await publishLoad({
      waitReplicas,
      retryForMs: RETRY_FOR_MS,
      redis,
      stream: config.eventStream,
      entries: generateLoad({ ...mix, signingSecret: config.signingSecrets[0] }),
      ratePerSecond: rate,
      onProgress: (published) => progress.update(published),
      signal: aborter.signal,
      forecast,
    });
    progress.finish(summary.published);
    console.log(formatSummary(summary, config.eventStream, forecast, waitReplicas?.replicas));
    return summary.interrupted ? EXIT_INTERRUPTED : EXIT_OK;
  } finally {
    process.off("SIGINT", onSigint);
    await redis.quit().catch(() => redis.disconnect());
  }
}

export function formatSummary(
  summary: LoadSummary,
  stream: string,
  forecast?: EnrollmentForecast,
  /** --wait-replicas: the summary then says how many events that many replicas confirmed. */
  waitReplicas?: number,
): string {
  const rate = Math.round(ratePerSecond(summary.published, summary.elapsedMs));
  const kinds = INVALID_KINDS.filter((kind) => summary.invalidByKind[kind] !== undefined)
    .map((kind) => `${kind} ${summary.invalidByKind[kind]}`)
    .join(", ");
  const width = String(summary.published).length;
  const row = (label: string, value: number, note: string) =>
    `  ${label.padEnd(11)}${String(value).padStart(width)}  ${note}`;
  return [
    `${summary.interrupted ? "Interrupted after publishing" : "Published"} ${summary.published} events to ${stream} in ${formatDuration(summary.elapsedMs)} (${rate} events/s)`,
    row("valid", summary.valid, "new trace_ids"),
    row("duplicates", summary.duplicates, "replays of earlier trace_ids"),
    row(
      "reversals",
      summary.reversals,
      `refunds and chargebacks, ${summary.reversalsBeforePayment} before their payment`,
    ),
    row("invalid", summary.invalid, kinds === "" ? "" : `(${kinds})`).trimEnd(),
    `A worker on ${stream} records ${summary.valid + summary.reversals} applied and ${summary.duplicates} duplicate, and dead-letters ${summary.invalid}.`,
    ...(waitReplicas === undefined
      ? []
      : [
          `Confirmed by ${waitReplicas} ${waitReplicas === 1 ? "replica" : "replicas"} (WAIT): ${summary.confirmed} of ${summary.published} events${summary.unconfirmed === 0 ? "" : `; ${summary.unconfirmed} not confirmed in time (a failover may lose them)`}.`,
        ]),
    ...(summary.resent === 0
      ? []
      : [
          `Sent again after a failed round trip: ${summary.resent} events (same trace_ids: a payment that arrived twice is skipped as a duplicate, an invalid entry is dead-lettered twice).`,
        ]),
    ...(forecast === undefined || summary.interrupted
      ? []
      : [
          `Starting from an empty database, it ends with ${forecast.active} active enrollments (${forecast.enrollments} in all, ${forecast.enrollments - forecast.active} revoked).`,
        ]),
  ].join("\n");
}

function wholeNumber(flag: string, text: string, min: number, max: number): number {
  const value = /^\d{1,10}$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= min && value <= max)) {
    throw new UsageError(
      `simulate load: ${flag} expects a whole number from ${min} to ${max}, got ${JSON.stringify(text)}`,
    );
  }
  return value;
}

function fraction(flag: string, text: string): number {
  const value = /^(0(\.\d+)?|1(\.0+)?|\.\d+)$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= 0 && value <= 1)) {
    throw new UsageError(
      `simulate load: ${flag} expects a fraction from 0 to 1 (e.g. 0.05), got ${JSON.stringify(text)}`,
    );
  }
  return value;
}

function positiveRate(text: string): number {
  const value = /^\d{1,7}(\.\d+)?$/.test(text) ? Number(text) : Number.NaN;
  if (!(value > 0 && value <= 1_000_000)) {
    throw new UsageError(
      `simulate load: --rate expects events a second, more than 0 and at most 1000000, got ${JSON.stringify(text)}`,
    );
  }
  return value;
}
