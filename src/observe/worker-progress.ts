/**
 * What the worker is actually achieving, as the consumer reports it: when a read last came back,
 * when a batch last committed, whether commits are failing and why, whether Redis is down.
 * Readiness and the progress gauges read it, so health tells whether payments move, not only
 * whether the process is up.
 */
import { type DatabaseErrorSummary, describeDatabaseError } from "../db/database-errors.ts";
import type { ConsumerObserver } from "../stream/consumer.ts";
import { describeRedisFailure } from "../stream/redis-errors.ts";

export interface ProgressThresholds {
  /** BLOCK_MS + REDIS_TIMEOUT_MS: a read that has not come back by then is stuck. */
  readStallMs: number;
  /** Commits failing for longer than this make the worker unready. */
  commitStallMs: number;
}

/** "A few seconds" of failing commits before readiness says so. */
export const COMMIT_STALL_MS = 5_000;

export class WorkerProgress implements ConsumerObserver {
  /** Commits that failed (each retry of a batch counts), for coursepay_commit_failures_total. */
  commitFailures = 0;
  #consumingSince: number | undefined;
  #lastReadAt: number | undefined;
  #lastCommitAt: number | undefined;
  #failingSince: number | undefined;
  #lastCommitError: DatabaseErrorSummary | undefined;
  #redisDown: string | undefined;

  constructor(
    private readonly thresholds: ProgressThresholds,
    private readonly clock: () => number = Date.now,
  ) {}

  /** The consumer loop has started: from now on reads are expected. */
  consuming(): void {
    this.#consumingSince = this.clock();
  }

  readCompleted(): void {
    this.#lastReadAt = this.clock();
  }

  batchCommitted(): void {
    this.#lastCommitAt = this.clock();
    this.#failingSince = undefined;
    this.#lastCommitError = undefined;
  }

  commitFailed(error: unknown): void {
    this.commitFailures++;
    this.#failingSince ??= this.clock();
    this.#lastCommitError = describeDatabaseError(error);
  }

  redisDown(error: unknown): void {
    this.#redisDown = describeRedisFailure(error);
  }

  redisUp(): void {
    this.#redisDown = undefined;
  }

  /** Seconds since a read last came back (since the loop started, before the first). */
  secondsSinceLastRead(): number | null {
    const since = this.#lastReadAt ?? this.#consumingSince;
    return since === undefined ? null : (this.clock() - since) / 1000;
  }

  /** Seconds since a batch last committed (since the loop started, before the first). */
  secondsSinceLastCommit(): number | null {
    const since = this.#lastCommitAt ?? this.#consumingSince;
    return since === undefined ? null : (this.clock() - since) / 1000;
  }

  /** Why payments are not moving; empty when they are (or there is nothing to move). */
  problems(): string[] {
    const now = this.clock();
    const problems: string[] = [];
    if (this.#redisDown !== undefined) problems.push(`Redis calls are failing: ${this.#redisDown}`);
    const readSince = this.#lastReadAt ?? this.#consumingSince;
    // While a batch keeps failing to commit, the consumer retries it in place and reads
    // nothing: no read is overdue then, and blaming Redis would point the operator the wrong way.
    if (
      this.#failingSince === undefined &&
      readSince !== undefined &&
      now - readSince > this.thresholds.readStallMs
    ) {
      problems.push(`no read from Redis has completed for ${seconds(now - readSince)}`);
    }
    if (
      this.#failingSince !== undefined &&
      now - this.#failingSince > this.thresholds.commitStallMs
    ) {
      const error = this.#lastCommitError;
      const why =
        error === undefined ? "" : `: ${error.code}${error.hint ? ` (${error.hint})` : ""}`;
      problems.push(`batches have failed to commit for ${seconds(now - this.#failingSince)}${why}`);
    }
    return problems;
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
