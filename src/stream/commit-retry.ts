/**
 * Runs a batch's transaction until it commits, retrying in place with backoff: a database that
 * is busy, full, read-only or away never dead-letters or ACKs anything, however long it lasts.
 * The database is mended (reopened) right before each retry, after the backoff, so a reopen that
 * fails for a moment (no file descriptors) is tried again when the next attempt is due.
 */
import { describeDatabaseError } from "../db/database-errors.ts";
import type { BatchEntry, Dispatcher, EntryResult } from "../dispatch/dispatcher.ts";
import type { Logger } from "../observe/logger.ts";
import { type BackoffOptions, backoffDelay, sleep } from "./backoff.ts";

export interface CommitRetryOptions {
  dispatcher: Pick<Dispatcher, "dispatch" | "recoverFrom">;
  logger: Logger;
  backoff: BackoffOptions;
  /** Aborted at shutdown: the batch in hand is then left pending. */
  signal: AbortSignal;
  onCommitted?: () => void;
  onFailed?: (error: unknown) => void;
}

/** A batch that keeps failing is logged again once a minute, not at every attempt. */
const REPEAT_LOG_MS = 60_000;

export class CommitRetry {
  #failures = 0;
  #loggedAt = 0;

  constructor(private readonly options: CommitRetryOptions) {}

  /** The batch's results once committed; undefined when shutdown came first. */
  async commit(batch: readonly BatchEntry[]): Promise<EntryResult[] | undefined> {
    const { dispatcher, logger, signal } = this.options;
    let lastError: unknown;
    for (;;) {
      if (this.#failures > 0) {
        await dispatcher.recoverFrom(lastError).catch((error: unknown) => {
          logger.warn(describeDatabaseError(error), "Could not reopen the database; retrying");
        });
      }
      try {
        const results = await dispatcher.dispatch(batch);
        this.options.onCommitted?.();
        if (this.#failures > 0) {
          logger.info({ failures: this.#failures }, "Database available again");
          this.#failures = 0;
        }
        return results;
      } catch (error) {
        lastError = error;
        this.#failures++;
        this.options.onFailed?.(error);
        this.#log(error, batch.length);
        if (signal.aborted) return undefined;
        await sleep(backoffDelay(this.#failures, this.options.backoff), signal);
        if (signal.aborted) return undefined;
      }
    }
  }

  #log(error: unknown, entries: number): void {
    const now = Date.now();
    if (this.#failures !== 1 && now - this.#loggedAt < REPEAT_LOG_MS) return;
    this.#loggedAt = now;
    this.options.logger.error(
      { ...describeDatabaseError(error), entries, failures: this.#failures },
      "Batch could not be committed; it stays pending and is retried with backoff",
    );
  }
}
