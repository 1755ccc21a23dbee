/**
 * What the status page shows, as the JSON it fetches (/status.json): aggregates only, never an
 * event, a trace id, a user or a course. The stream figures come from the same read as the
 * /metrics gauges, so the page and Prometheus agree.
 */
import { OUTCOMES } from "../dispatch/outcome.ts";
import type { WorkerMetrics } from "./metrics.ts";
import { type ReadinessSource, readinessProblems } from "./readiness.ts";
import { BUILD_INFO } from "./runtime-metrics.ts";
import { SLOT_MS } from "./throughput-history.ts";

export interface StatusReport {
  version: string;
  /** Milliseconds since the epoch, by the worker's clock. */
  generatedAt: number;
  ready: boolean;
  /** Why it is not ready (readyz's reasons); empty when ready. */
  problems: string[];
  redisUp: boolean;
  databaseUp: boolean;
  /** Null where Redis could not tell (down, or no group yet). */
  streamLength: number | null;
  lag: number | null;
  pending: number | null;
  oldestPendingAgeSeconds: number | null;
  consumers: number | null;
  /** Entries in the dead-letter stream. */
  deadLetters: number | null;
  /** Dead letters this worker wrote since it started, by reason. */
  deadLettersWritten: Record<string, number>;
  secondsSinceLastRead: number | null;
  secondsSinceLastCommit: number | null;
  throughput: {
    slotSeconds: number;
    outcomes: readonly string[];
    /** Oldest first: [slot start (ms), count per outcome in `outcomes` order]. */
    slots: [number, number[]][];
  };
}

export async function statusReport(
  metrics: WorkerMetrics,
  worker: ReadinessSource | undefined,
  timeoutMs: number,
): Promise<StatusReport> {
  const [figures, problems] = await Promise.all([
    metrics.readFigures(),
    readinessProblems(worker, timeoutMs),
  ]);
  const group = figures.group;
  return {
    version: BUILD_INFO.version,
    generatedAt: Date.now(),
    ready: problems.length === 0,
    problems,
    redisUp: figures.redisUp,
    databaseUp: figures.databaseUp,
    streamLength: figures.stream?.length ?? null,
    lag: group?.lag ?? null,
    pending: group?.pending ?? null,
    oldestPendingAgeSeconds: group === undefined ? null : (group.oldestPendingAgeMs ?? 0) / 1000,
    consumers: group?.consumerCount ?? null,
    deadLetters: figures.stream?.deadLetters ?? null,
    deadLettersWritten: metrics.deadLettersByReason(),
    secondsSinceLastRead: worker?.progress.secondsSinceLastRead() ?? null,
    secondsSinceLastCommit: worker?.progress.secondsSinceLastCommit() ?? null,
    throughput: {
      slotSeconds: SLOT_MS / 1000,
      outcomes: OUTCOMES,
      slots: metrics.throughput
        .slots()
        .map((slot) => [slot.start, OUTCOMES.map((outcome) => slot.counts[outcome])]),
    },
  };
}
