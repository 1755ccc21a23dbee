/**
 * The contenders and how the bench starts each one. Every contender is a separate process, so
 * its RSS is its own: (a) the compiled binary, (b), (c), (d) small Bun programs in this folder.
 */
import { join } from "node:path";
import type { MixName } from "../events.ts";

/** Set by `--mix`: the mix every contender but (a0) gets. */
export const MIX_ENV = "COURSEPAY_BENCH_MIX";

/** The configured mix (`--mix`), reversals unless told otherwise. */
export function benchMix(): MixName {
  return process.env[MIX_ENV] === "payments" ? "payments" : "reversals";
}

import { coursepay, coursepayOverHttp } from "./coursepay.ts";

export type ContenderKey = "a" | "a0" | "a-info" | "a-http" | "b" | "c" | "d" | "d1";

/** Names and files of one run: a fresh stream (or queue) and a fresh database file. */
export interface RunContext {
  redisUrl: string;
  stream: string;
  group: string;
  consumer: string;
  queueName: string;
  queuePrefix: string;
  databasePath: string | undefined;
  statsFile: string;
  /** Latency runs only: where (c) appends its per-event latencies. */
  latencyFile: string | undefined;
}

export interface Contender {
  key: ContenderKey;
  label: string;
  /** Where its events come from: a Redis Stream consumer group, or a BullMQ queue. */
  transport: "stream" | "queue";
  usesDatabase: boolean;
  /**
   * How the bench knows it is up: a `BENCH_READY {json}` line on stdout, or (the binary at
   * LOG_LEVEL=warn prints nothing) its consumer name appearing in XINFO CONSUMERS.
   */
  readiness: "ready-line" | "consumer-registered";
  /** The events it gets (events.ts): `--mix` (reversals by default); (a0) always payments. */
  readonly mix: MixName;
  /** The coursepay binary that migrates its database; dist/coursepay when absent. */
  migrateWith?: () => string;
  command(run: RunContext): { cmd: string[]; env: Record<string, string> };
}

function bunProgram(file: string, run: RunContext, extra: Record<string, string> = {}) {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    REDIS_URL: run.redisUrl,
    EVENT_STREAM: run.stream,
    CONSUMER_GROUP: run.group,
    CONSUMER_NAME: run.consumer,
    STATS_FILE: run.statsFile,
    ...extra,
  };
  if (run.databasePath !== undefined) env.DATABASE_URL = `file:${run.databasePath}`;
  return { cmd: [process.execPath, join(import.meta.dir, file)], env };
}

function bullmq(key: "d" | "d1", commit: "grouped" | "per-event"): Contender {
  return {
    key,
    label:
      commit === "grouped"
        ? "(d) BullMQ worker, concurrency 100, group commit"
        : "(d1) BullMQ worker, concurrency 100, one transaction per job",
    transport: "queue",
    usesDatabase: true,
    readiness: "ready-line",
    get mix() {
      return benchMix();
    },
    command: (run) =>
      bunProgram("bullmq-worker.ts", run, {
        BULLMQ_QUEUE: run.queueName,
        BULLMQ_PREFIX: run.queuePrefix,
        BULLMQ_CONCURRENCY: "100",
        BULLMQ_COMMIT: commit,
      }),
  };
}

export const CONTENDERS: Record<ContenderKey, Contender> = {
  a: coursepay("warn"),
  a0: coursepay("baseline"),
  "a-info": coursepay("info"),
  "a-http": coursepayOverHttp(),
  b: {
    key: "b",
    label: "(b) one event at a time (COUNT 1, a transaction and an XACK each)",
    transport: "stream",
    usesDatabase: true,
    readiness: "ready-line",
    get mix() {
      return benchMix();
    },
    command: (run) => bunProgram("one-at-a-time.ts", run),
  },
  c: {
    key: "c",
    label: "(c) ceiling: XREADGROUP + decode + XACK, no database",
    transport: "stream",
    usesDatabase: false,
    readiness: "ready-line",
    get mix() {
      return benchMix();
    },
    command: (run) =>
      bunProgram(
        "ceiling.ts",
        run,
        run.latencyFile === undefined ? {} : { LATENCY_FILE: run.latencyFile },
      ),
  },
  d: bullmq("d", "grouped"),
  d1: bullmq("d1", "per-event"),
};
