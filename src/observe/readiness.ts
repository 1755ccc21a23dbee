/**
 * Readiness: whether payments actually move, for /readyz and the status page.
 */
import type { Worker } from "../worker.ts";
import { checkDatabase, checkRedis, connectionState } from "./stream-status.ts";

/** What readiness looks at: the worker (src/worker.ts). */
export type ReadinessSource = Pick<
  Worker,
  "isConsuming" | "redis" | "readConnection" | "database" | "progress" | "phase"
>;

/**
 * Why the worker is not ready; empty when it is. Beyond "does Redis answer PING and the database
 * SELECT 1", whether payments actually move: reads coming back, batches committing.
 */
export async function readinessProblems(
  worker: ReadinessSource | undefined,
  timeoutMs: number,
): Promise<string[]> {
  if (worker === undefined) return ["starting"];
  const { phase, redis, readConnection, database } = worker;
  if (phase === "opening the database") return ["starting: opening the database"];
  if (phase === "waiting for Redis") {
    const state = redis === undefined ? "not created" : connectionState(redis.status);
    return [`starting: waiting for Redis (connection is ${state})`];
  }
  if (phase === "stopped") return ["stopped"];
  const problems: string[] = [];
  if (readConnection !== undefined && readConnection.status !== "ready") {
    problems.push(`Redis read connection is ${connectionState(readConnection.status)}`);
  }
  const checks = await Promise.all([
    redis === undefined ? undefined : checkRedis(redis, timeoutMs),
    database === undefined
      ? "database: not open"
      : database.closed
        ? "the database client is closed"
        : checkDatabase(database.client, timeoutMs),
  ]);
  for (const problem of checks) if (problem !== undefined) problems.push(problem);
  problems.push(...worker.progress.problems());
  if (!worker.isConsuming()) {
    problems.push(
      phase === "consumer disabled"
        ? "the consumer loop is not running (ENABLE_EVENT_CONSUMER=false)"
        : "the consumer loop is not running",
    );
  }
  return problems;
}
