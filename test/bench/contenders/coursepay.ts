/**
 * Contender (a): coursepay as shipped, the compiled binary `dist/coursepay serve`, configured
 * only through its environment like in production. BATCH_SIZE and every other setting keep
 * their defaults; LOG_LEVEL is `warn` for the figures (one run per repeat also at `info`, the
 * product's default, with its JSON log lines written to a file on the same disk).
 */
import { BINARY } from "../environment.ts";
import type { Contender, RunContext } from "./registry.ts";

export function coursepay(logLevel: "warn" | "info"): Contender {
  return {
    key: logLevel === "warn" ? "a" : "a-info",
    label:
      logLevel === "warn"
        ? "(a) coursepay binary"
        : "(a') coursepay binary, LOG_LEVEL=info (logs to a file)",
    transport: "stream",
    usesDatabase: true,
    readiness: "consumer-registered",
    command: (run: RunContext) => ({
      cmd: [BINARY, "serve"],
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
