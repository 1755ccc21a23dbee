import { decodeEntry } from "../contract/decode.ts";
import type { BatchEntry, Dispatcher, EntryResult } from "../dispatch/dispatcher.ts";
import { OUTCOMES, type Outcome } from "../dispatch/outcome.ts";
import type { Logger } from "../observe/logger.ts";
import { backoffDelay, sleep } from "./backoff.ts";
import { type DeadLetter, type DeadLetterWriter, deadLetterFor } from "./dead-letters.ts";
import { RetrySchedule } from "./retry-schedule.ts";
import type { StreamEntry, StreamReader } from "./stream-reader.ts";

export interface ConsumerOptions {
  batchSize: number;
  blockMs: number;
  maxEventBytes: number;
  /** An event failing on its own is dead-lettered after this many attempts. */
  maxDeliveries: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** Entries other consumers left pending this long are reclaimed (XAUTOCLAIM). */
  claimIdleMs: number;
  /** PAYCORE_SIGNING_SECRET: when set, unsigned or badly signed entries are dead-lettered. */
  signingSecrets: readonly string[];
  /** APP_ENV=production: events marked simulated are dead-lettered, never applied. */
  rejectSimulated: boolean;
}

export interface ConsumerObserver {
  /** A batch has been committed, dead-lettered and ACKed (or scheduled for retry). */
  batchSettled(results: readonly EntryResult[], durationSeconds: number): void;
}

export interface ConsumerDependencies {
  reader: StreamReader;
  deadLetters: DeadLetterWriter;
  dispatcher: Dispatcher;
  logger: Logger;
  options: ConsumerOptions;
  /** Told about every settled batch (metrics). */
  observer?: ConsumerObserver;
  /** Recreates the consumer group after Redis reported NOGROUP (stream or group deleted). */
  recreateGroup: () => Promise<void>;
}

/**
 * The read → dispatch → settle loop. Reads its own pending entries first (those a previous run
 * left), then new ones. An entry is ACKed only once its outcome is durable: the batch's
 * transaction committed, or its dead letter confirmed by Redis.
 */
export class EventConsumer {
  readonly counts: Record<Outcome, number> = Object.fromEntries(
    OUTCOMES.map((outcome) => [outcome, 0]),
  ) as Record<Outcome, number>;
  deadLettered = 0;
  deletedEntries = 0;
  reclaimed = 0;

  readonly #deps: ConsumerDependencies;
  readonly #retries = new RetrySchedule();
  readonly #stopSignal = new AbortController();
  /** Ids of the batch being processed: kept fresh so no other consumer reclaims them. */
  readonly #inHand = new Set<string>();
  #reclaimCursor = "0-0";
  #nextReclaimAt = 0;
  #loop: Promise<void> | undefined;
  #reading = false;
  #redisFailures = 0;
  #databaseFailures = 0;

  constructor(deps: ConsumerDependencies) {
    this.#deps = deps;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Stops reading, lets the batch in hand finish and settle, then resolves. Idempotent. */
  async stop(): Promise<void> {
    this.#stopSignal.abort();
    if (this.#reading) this.#deps.reader.interrupt();
    await this.#loop;
  }

  get stopping(): boolean {
    return this.#stopSignal.signal.aborted;
  }

  /** Resolves when the loop has ended; rejects only on a bug. */
  get finished(): Promise<void> {
    return this.#loop ?? Promise.resolve();
  }

  async #run(): Promise<void> {
    const heartbeat = setInterval(() => this.#keepInHandFresh(), this.#heartbeatMs());
    try {
      await this.#consume();
    } finally {
      clearInterval(heartbeat);
    }
    await this.#leaveGroupIfIdle();
  }

  async #consume(): Promise<void> {
    const { reader, options } = this.#deps;
    // "0": start with this consumer's own pending entries; null: caught up, read new ones.
    let pendingCursor: string | null = "0";
    while (!this.stopping) {
      const due = this.#dueRetries();
      if (due.length > 0) {
        await this.#process(due);
        continue;
      }
      if (pendingCursor === null && Date.now() >= this.#nextReclaimAt) {
        await this.#reclaim();
        continue;
      }
      let entries: StreamEntry[];
      this.#reading = true;
      try {
        entries =
          pendingCursor !== null
            ? await reader.readPending(pendingCursor, options.batchSize)
            : await reader.readNew(options.batchSize, this.#blockTime());
      } catch (error) {
        if (this.stopping) break;
        await this.#onRedisError(error);
        continue;
      } finally {
        this.#reading = false;
      }
      this.#onRedisOk();
      if (pendingCursor !== null) {
        const last = entries.at(-1);
        if (last === undefined) {
          pendingCursor = null;
          continue;
        }
        pendingCursor = last.id;
        this.#deps.logger.info({ entries: entries.length }, "Re-processing entries left pending");
      }
      if (entries.length > 0) await this.#process(entries);
    }
  }

  async #process(entries: readonly StreamEntry[]): Promise<void> {
    for (const entry of entries) this.#inHand.add(entry.id);
    try {
      await this.#processInHand(entries);
    } finally {
      this.#inHand.clear();
    }
  }

  async #processInHand(entries: readonly StreamEntry[]): Promise<void> {
    const { logger, options } = this.#deps;
    const byId = new Map<string, StreamEntry>();
    const batch: BatchEntry[] = [];
    const deletedIds: string[] = [];
    for (const entry of entries) {
      if (entry.fields === null) {
        deletedIds.push(entry.id);
        continue;
      }
      byId.set(entry.id, entry);
      batch.push({
        id: entry.id,
        fields: entry.fields,
        decoded: decodeEntry(entry.fields, options),
      });
    }
    if (deletedIds.length > 0) {
      this.deletedEntries += deletedIds.length;
      logger.warn(
        { entry_ids: deletedIds },
        "Pending entries were deleted from the stream before they were processed; acknowledging them",
      );
    }
    const started = performance.now();
    const results = batch.length > 0 ? await this.#dispatch(batch) : [];
    if (results === undefined) return; // stopping with the database down: left pending
    await this.#settle(results, byId, deletedIds);
    this.#deps.observer?.batchSettled(results, (performance.now() - started) / 1000);
  }

  /** Runs the batch's transaction, retrying in place (delivery counts untouched) until it commits. */
  async #dispatch(batch: readonly BatchEntry[]): Promise<EntryResult[] | undefined> {
    const { dispatcher, logger } = this.#deps;
    for (;;) {
      try {
        const results = await dispatcher.dispatch(batch);
        if (this.#databaseFailures > 0) {
          logger.info({ failures: this.#databaseFailures }, "Database available again");
          this.#databaseFailures = 0;
        }
        return results;
      } catch (error) {
        this.#databaseFailures++;
        if (this.#databaseFailures === 1) {
          logger.error(
            { err: error, entries: batch.length },
            "Batch could not be committed; it stays pending and is retried with backoff",
          );
        }
        if (this.stopping) return undefined;
        await dispatcher.recoverFrom(error).catch((recoverError: unknown) => {
          logger.warn({ err: recoverError }, "Could not reopen the database; retrying anyway");
        });
        await sleep(backoffDelay(this.#databaseFailures, this.#backoff()), this.#stopSignal.signal);
        if (this.stopping) return undefined;
      }
    }
  }

  async #settle(
    results: readonly EntryResult[],
    byId: ReadonlyMap<string, StreamEntry>,
    alreadyGone: readonly string[],
  ): Promise<void> {
    const { logger, options } = this.#deps;
    const deadLetters: DeadLetter[] = [];
    const ackIds = [...alreadyGone];
    const now = Date.now();
    for (const result of results) {
      const id = result.entry.id;
      const entry = byId.get(id) as StreamEntry;
      const retriesDone = this.#retries.retriesDone(id);
      const attempts = entry.deliveries + retriesDone;
      for (const { outcome } of result.outcomes) this.counts[outcome]++;
      if (result.disposition.kind === "retry" && attempts < options.maxDeliveries) {
        const nextAttemptAt = now + backoffDelay(retriesDone + 1, this.#backoff());
        this.#retries.schedule(entry, retriesDone + 1, nextAttemptAt);
        continue;
      }
      this.#retries.remove(id);
      ackIds.push(id);
      const letter = deadLetterFor(result, entry.fields ?? [], attempts);
      if (letter === undefined) continue;
      deadLetters.push(letter);
      logger.warn(
        {
          entry_id: id,
          trace_id: letter.traceId,
          reason: letter.reason,
          detail: letter.detail,
          subscriber: letter.subscriber,
        },
        "Event moved to the dead-letter stream",
      );
    }
    // Dead letters first, confirmed; only then the ACKs that depend on them.
    // One round trip: the dead letters, confirmed, then the ACKs that depend on them.
    const settled = await this.#untilDone(() =>
      deadLetters.length === 0
        ? this.#deps.reader.ack(ackIds)
        : this.#deps.reader.deadLetterThenAck(this.#deps.deadLetters, deadLetters, ackIds),
    );
    if (settled) this.deadLettered += deadLetters.length;
  }

  /** Retries a Redis write until it succeeds; false when shutdown came first. */
  async #untilDone(write: () => Promise<void>): Promise<boolean> {
    for (;;) {
      try {
        await write();
        this.#onRedisOk();
        return true;
      } catch (error) {
        if (this.stopping && this.#redisFailures > 0) return false;
        await this.#onRedisError(error);
      }
    }
  }

  async #onRedisError(error: unknown): Promise<void> {
    const { logger } = this.#deps;
    if (errorMessage(error).startsWith("NOGROUP")) {
      logger.error(
        "The consumer group or the stream vanished (NOGROUP): recreating the group. " +
          "Entries deleted with the stream cannot be recovered.",
      );
      try {
        await this.#deps.recreateGroup();
        return;
      } catch (recreateError) {
        error = recreateError;
      }
    }
    this.#redisFailures++;
    if (this.#redisFailures === 1) {
      logger.error({ err: error }, "Redis unavailable; retrying with backoff");
    }
    await sleep(backoffDelay(this.#redisFailures, this.#backoff()), this.#stopSignal.signal);
  }

  #onRedisOk(): void {
    if (this.#redisFailures === 0) return;
    this.#deps.logger.info({ failures: this.#redisFailures }, "Redis available again");
    this.#redisFailures = 0;
  }

  /** One page of XAUTOCLAIM: entries that dead workers left idle for CLAIM_IDLE_MS or more. */
  async #reclaim(): Promise<void> {
    const { reader, logger, options } = this.#deps;
    let result: Awaited<ReturnType<StreamReader["autoClaim"]>>;
    try {
      result = await reader.autoClaim(options.claimIdleMs, this.#reclaimCursor, options.batchSize);
    } catch (error) {
      if (!this.stopping) await this.#onRedisError(error);
      return;
    }
    this.#reclaimCursor = result.cursor;
    if (result.cursor === "0-0") this.#nextReclaimAt = Date.now() + options.claimIdleMs / 2;
    if (result.deletedIds.length > 0) {
      this.deletedEntries += result.deletedIds.length;
      logger.warn(
        { entry_ids: result.deletedIds },
        "Entries left pending by another consumer were deleted from the stream before anyone processed them",
      );
    }
    if (result.entries.length === 0) return;
    this.reclaimed += result.entries.length;
    logger.warn(
      { entries: result.entries.length, idle_ms: options.claimIdleMs },
      "Reclaimed entries another consumer left pending",
    );
    await this.#process(result.entries);
  }

  /**
   * Resets the idle time of the batch in hand and of entries waiting for an in-place retry, so
   * they are never reclaimed from under this live worker however long they take.
   */
  #keepInHandFresh(): void {
    const ids = [...this.#inHand, ...this.#retries.ids()];
    this.#deps.reader.touch(ids).catch((error: unknown) => {
      this.#deps.logger.debug({ err: error }, "Could not refresh the idle time of entries in hand");
    });
  }

  #heartbeatMs(): number {
    return Math.max(250, Math.floor(this.#deps.options.claimIdleMs / 3));
  }

  /** A clean stop with nothing pending removes the consumer name, so names do not pile up. */
  async #leaveGroupIfIdle(): Promise<void> {
    if (this.#retries.size > 0) return;
    try {
      if (await this.#deps.reader.removeConsumerIfIdle()) {
        this.#deps.logger.info("Nothing pending: consumer name removed from the group");
      }
    } catch (error) {
      this.#deps.logger.debug({ err: error }, "Could not remove the consumer name");
    }
  }

  #dueRetries(): StreamEntry[] {
    return this.#retries.due(Date.now(), this.#deps.options.batchSize);
  }

  /** Block no longer than until the next retry or reclaim is due. */
  #blockTime(): number {
    const next = Math.min(this.#nextReclaimAt, this.#retries.nextAttemptAt());
    const untilRetry = Math.ceil(next - Date.now());
    return Math.max(1, Math.min(this.#deps.options.blockMs, untilRetry));
  }

  #backoff() {
    return { baseMs: this.#deps.options.retryBaseMs, maxMs: this.#deps.options.retryMaxMs };
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
