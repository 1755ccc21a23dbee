/**
 * Contender (a): coursepay as shipped, the compiled binary `dist/coursepay serve`, configured
 * only through its environment like in production. BATCH_SIZE and every other setting keep
 * their defaults; LOG_LEVEL is `warn` for the figures (one run per repeat also at `info`, the
 * product's default, with its JSON log lines written to a file on the same disk).
 *
 * (a0), with `--baseline FILE`: another coursepay binary (say, one built before a change) under
 * the same settings, in the same invocation, alternating with (a): a before/after from one run.
 * Its database is migrated by its own binary, and it gets the mix without reversals, which a
 * binary from before them cannot apply, unless `--baseline-mix reversals` says it has them.
 */
import { join } from "node:path";
import { BINARY } from "../environment.ts";
import type { MixName } from "../events.ts";
import { benchMix, type Contender, type RunContext } from "./registry.ts";

/** Where `--baseline` put the binary of (a0). */
export const BASELINE_BINARY_ENV = "COURSEPAY_BENCH_BASELINE";
/** `--baseline-mix`: the mix (a0) is given, `payments` unless told otherwise. */
export const BASELINE_MIX_ENV = "COURSEPAY_BENCH_BASELINE_MIX";

function baselineMix(): MixName {
  return process.env[BASELINE_MIX_ENV] === "reversals" ? "reversals" : "payments";
}

export function coursepay(variant: "warn" | "info" | "baseline"): Contender {
  const binary = () =>
    variant === "baseline" ? (process.env[BASELINE_BINARY_ENV] ?? "no --baseline given") : BINARY;
  const logLevel = variant === "info" ? "info" : "warn";
  return {
    key: variant === "warn" ? "a" : variant === "info" ? "a-info" : "a0",
    get label() {
      return variant === "warn"
        ? "(a) coursepay binary"
        : variant === "info"
          ? "(a') coursepay binary, LOG_LEVEL=info (logs to a file)"
          : `(a0) baseline coursepay binary (--baseline), mix ${baselineMix() === "payments" ? "without" : "with"} reversals`;
    },
    transport: "stream",
    usesDatabase: true,
    readiness: "consumer-registered",
    get mix() {
      return variant === "baseline" ? baselineMix() : benchMix();
    },
    migrateWith: binary,
    command: (run: RunContext) => ({
      cmd: [binary(), "serve"],
      env: {
        PATH: process.env.PATH ?? "",
        REDIS_URL: run.redisUrl,
        DATABASE_URL: `file:${run.databasePath}`,
        EVENT_STREAM: run.stream,
        CONSUMER_GROUP: run.group,
        CONSUMER_NAME: run.consumer,
        LOG_LEVEL: logLevel,
        LOG_FORMAT: "json",
      },
    }),
  };
}

/**
 * (a-http): (a) with its database served over HTTP by the Hrana test server on loopback (see
 * coursepay-over-http.ts); its HTTP requests and statements are counted in its stats.
 */
export function coursepayOverHttp(): Contender {
  const base = coursepay("warn");
  return {
    ...base,
    key: "a-http",
    label:
      "(a-http) coursepay binary, database over HTTP (Hrana test server on loopback; peak RSS is the server's process)",
    command: (run: RunContext) => {
      const { env } = base.command(run);
      return {
        cmd: [process.execPath, join(import.meta.dir, "coursepay-over-http.ts")],
        env: {
          ...env,
          COURSEPAY_BINARY: BINARY,
          BENCH_DATABASE_FILE: run.databasePath ?? "",
          STATS_FILE: run.statsFile,
        },
      };
    },
  };
}
