import { decodeEntry, mayHaveLostBytes, tooLarge } from "../contract/decode.ts";
import { describeDatabaseError } from "../db/database-errors.ts";
import type { BatchEntry, Dispatcher, EntryResult } from "../dispatch/dispatcher.ts";
import { OUTCOMES, type Outcome } from "../dispatch/outcome.ts";
import type { Logger } from "../observe/logger.ts";
import { backoffDelay, sleep } from "./backoff.ts";
import type { DeadLetter, DeadLetterWriter } from "./dead-letters.ts";
import { InHandLease } from "./in-hand-lease.ts";
import { ParkedDeadLetters } from "./parked-dead-letters.ts";
import { Reclaimer } from "./reclaimer.ts";
import { classifyRedisError } from "./redis-errors.ts";
import { RetrySchedule } from "./retry-schedule.ts";
import { planSettlement, type SettlePlan } from "./settle-plan.ts";
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

/** What the consumer tells the outside (metrics, readiness, tests); every method optional. */
export interface ConsumerObserver {
  /** A batch has been committed, dead-lettered and ACKed (or scheduled for retry). */
  batchSettled?(results: readonly EntryResult[], durationSeconds: number): void;
  /** A read (XREADGROUP or XAUTOCLAIM) has come back, with or without entries. */
  readCompleted?(): void;
  /** A batch's transaction has committed (or the batch needed none). */
  batchCommitted?(): void;
  /** A batch's transaction has failed; it stays pending and is retried. */
  commitFailed?(error: unknown): void;
  /** Redis calls have started failing (`down`) or work again (`up`). */
  redisDown?(error: unknown): void;
  redisUp?(): void;
}

export interface ConsumerDependencies {
  reader: StreamReader;
  deadLetters: DeadLetterWriter;
  dispatcher: Dispatcher;
  logger: Logger;
  options: ConsumerOptions;
  observer?: ConsumerObserver;
  /** Recreates the consumer group after Redis reported NOGROUP (stream or group deleted). */
  recreateGroup: () => Promise<void>;
}

/** Past this, a batch that keeps failing to commit is logged again (once a minute). */
const REPEAT_LOG_MS = 60_000;

/**
 * The read → dispatch → settle loop. Reads its own pending entries first (at start, and again
 * after any reconnect or failed read, since a lost reply may have delivered entries), then new
 * ones. An entry is ACKed only once its outcome is durable: the batch's transaction committed,
 * or its dead letter confirmed by Redis. What to ACK, retry or dead-letter is decided by
 * planSettlement; the lease keeps what is in hand fresh; the reclaimer takes over dead workers'
 * entries.
 */
export class EventConsumer {
  readonly counts: Record<Outcome, number> = Object.fromEntries(
    OUTCOMES.map((outcome) => [outcome, 0]),
  ) as Record<Outcome, number>;
  deadLettered = 0;
  #deletedInHand = 0;

  readonly #deps: ConsumerDependencies;
  readonly #retries = new RetrySchedule();
  readonly #parked: ParkedDeadLetters;
  readonly #reclaimer: Reclaimer;
  readonly #lease: InHandLease;
  readonly #stopSignal = new AbortController();
  /** An id to re-read this consumer's pending entries from; null once caught up. */
  #pendingCursor: string | null = "0";
  #loop: Promise<void> | undefined;
  #reading = false;
  #redisFailures = 0;
  #databaseFailures = 0;
  #databaseLoggedAt = 0;

  constructor(deps: ConsumerDependencies) {
    this.#deps = deps;
    const { reader, logger, options } = deps;
    this.#parked = new ParkedDeadLetters(this.#backoff());
    this.#reclaimer = new Reclaimer(reader, logger, options);
    this.#lease = new InHandLease({
      touch: (ids) => reader.touch(ids),
      claimIdleMs: options.claimIdleMs,
      alsoHeld: () => [...this.#retries.ids(), ...this.#parked.ids()],
      onError: (error) =>
        logger.debug({ err: error }, "Could not refresh the idle time of entries in hand"),
    });
    reader.onReconnected(() => {
      this.#pendingCursor = "0";
    });
  }

  get reclaimed(): number {
    return this.#reclaimer.reclaimed;
  }

  /** Entries found deleted from the stream while still pending (ACKed, counted, logged). */
  get deletedEntries(): number {
    return this.#deletedInHand + this.#reclaimer.deleted;
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
    this.#lease.start();
    try {
      await this.#consume();
    } finally {
      this.#lease.stop();
    }
    await this.#leaveGroupIfIdle();
  }

  async #consume(): Promise<void> {
    while (!this.stopping) {
      const now = Date.now();
      const parked = this.#parked.due(now);
      if (parked.length > 0) {
        await this.#settleParked(parked);
        continue;
      }
      const due = this.#retries.due(now, this.#deps.options.batchSize);
      if (due.length > 0) {
        await this.#process(due);
        continue;
      }
      const entries = await this.#read();
      if (entries !== undefined && entries.length > 0) await this.#process(entries);
    }
  }

  /** The next entries: own pending ones first, reclaimed ones when due, else new ones. */
  async #read(): Promise<StreamEntry[] | undefined> {
    const { reader, options, observer } = this.#deps;
    this.#reading = true;
    try {
      let entries: StreamEntry[];
      if (this.#pendingCursor !== null) {
        entries = await this.#readOwnPending(this.#pendingCursor);
      } else if (this.#reclaimer.isDue()) {
        entries = await this.#reclaimer.claimPage();
      } else {
        entries = await reader.readNew(options.batchSize, this.#blockTime());
      }
      this.#redisOk();
      observer?.readCompleted?.();
      return entries;
    } catch (error) {
      if (this.stopping) return undefined;
      this.#pendingCursor = "0";
      await this.#recover(error);
      return undefined;
    } finally {
      this.#reading = false;
    }
  }

  /** One page of this consumer's pending entries, less those already waiting in memory. */
  async #readOwnPending(cursor: string): Promise<StreamEntry[]> {
    const page = await this.#deps.reader.readPending(cursor, this.#deps.options.batchSize);
    const last = page.at(-1);
    this.#pendingCursor = last === undefined ? null : last.id;
    const entries = page.filter((e) => !this.#retries.has(e.id) && !this.#parked.has(e.id));
    if (entries.length > 0) {
      this.#deps.logger.info({ entries: entries.length }, "Re-processing entries left pending");
    }
    return entries;
  }

  async #process(entries: readonly StreamEntry[]): Promise<void> {
    this.#lease.hold(entries.map((entry) => entry.id));
    try {
      await this.#processInHand(entries);
    } finally {
      this.#lease.releaseAll();
    }
  }

  async #processInHand(entries: readonly StreamEntry[]): Promise<void> {
    const { logger, options } = this.#deps;
    const byId = new Map<string, StreamEntry>();
    const batch: BatchEntry[] = [];
    const deletedIds: string[] = [];
    for (const read of entries) {
      if (read.fields === null) {
        deletedIds.push(read.id);
        continue;
      }
      const entry = read.oversized ? read : await this.#withBytesIfLost(read, read.fields);
      byId.set(entry.id, entry);
      const decoded = entry.oversized
        ? tooLarge(entry.oversized.bytes, options.maxEventBytes)
        : decodeEntry(read.fields, options, entry.bytes);
      batch.push({ id: entry.id, fields: read.fields, decoded });
    }
    if (deletedIds.length > 0) {
      this.#deletedInHand += deletedIds.length;
      logger.warn(
        { entry_ids: deletedIds },
        "Pending entries were deleted from the stream before they were processed; acknowledging them",
      );
    }
    const started = performance.now();
    const results = batch.length > 0 ? await this.#dispatch(batch) : [];
    if (results === undefined) return; // stopping with the database down: left pending
    for (const result of results) for (const { outcome } of result.outcomes) this.counts[outcome]++;
    const plan = planSettlement(results, byId, deletedIds, {
      maxDeliveries: options.maxDeliveries,
      backoff: this.#backoff(),
      now: Date.now(),
      retriesDone: (id) => this.#retries.retriesDone(id),
    });
    for (const retry of plan.retries)
      this.#retries.schedule(retry.entry, retry.retries, retry.nextAttemptAt);
    for (const id of plan.ackIds) this.#retries.remove(id);
    for (const letter of plan.deadLetters) {
      this.#retries.remove(letter.originalId);
      logger.warn(
        {
          entry_id: letter.originalId,
          trace_id: letter.traceId,
          reason: letter.reason,
          detail: letter.detail,
          subscriber: letter.subscriber,
        },
        "Event moved to the dead-letter stream",
      );
    }
    await this.#settle(plan);
    this.#deps.observer?.batchSettled?.(results, (performance.now() - started) / 1000);
  }

  /**
   * Runs the batch's transaction, retrying in place (delivery counts untouched) until it commits.
   * The database is mended (reopened) right before each retry, after the backoff, so a reopen
   * that fails for a moment (no file descriptors) is tried again when the next attempt is due.
   */
  async #dispatch(batch: readonly BatchEntry[]): Promise<EntryResult[] | undefined> {
    const { dispatcher, logger, observer } = this.#deps;
    let lastError: unknown;
    for (;;) {
      if (this.#databaseFailures > 0) {
        await dispatcher.recoverFrom(lastError).catch((recoverError: unknown) => {
          logger.warn(
            describeDatabaseError(recoverError),
            "Could not reopen the database; retrying",
          );
        });
      }
      try {
        const results = await dispatcher.dispatch(batch);
        observer?.batchCommitted?.();
        if (this.#databaseFailures > 0) {
          logger.info({ failures: this.#databaseFailures }, "Database available again");
          this.#databaseFailures = 0;
        }
        return results;
      } catch (error) {
        lastError = error;
        this.#databaseFailures++;
        observer?.commitFailed?.(error);
        const now = Date.now();
        if (this.#databaseFailures === 1 || now - this.#databaseLoggedAt >= REPEAT_LOG_MS) {
          this.#databaseLoggedAt = now;
          logger.error(
            {
              ...describeDatabaseError(error),
              entries: batch.length,
              failures: this.#databaseFailures,
            },
            "Batch could not be committed; it stays pending and is retried with backoff",
          );
        }
        if (this.stopping) return undefined;
        await sleep(backoffDelay(this.#databaseFailures, this.#backoff()), this.#stopSignal.signal);
        if (this.stopping) return undefined;
      }
    }
  }

  /**
   * ACKs what is durable and writes the dead letters (then ACKs their entries), retrying while
   * Redis is away. An error reply that waiting will not cure (WRONGTYPE, a script error) does not
   * hold the loop: the durable entries are ACKed on their own and the dead letters are parked,
   * their entries left pending, and written later.
   */
  async #settle(plan: SettlePlan): Promise<void> {
    if (plan.ackIds.length === 0 && plan.deadLetters.length === 0) return;
    const letters = await this.#withSha256(plan.deadLetters);
    const { deadLetters, reader, logger } = this.#deps;
    for (;;) {
      try {
        this.deadLettered += await deadLetters.settle(
          reader.stream,
          reader.group,
          plan.ackIds,
          letters,
        );
        this.#redisOk();
        return;
      } catch (error) {
        if (this.stopping && this.#redisFailures > 0) return; // left pending
        if (classifyRedisError(error) !== "persistent") {
          await this.#recover(error);
          if (this.stopping && !reader.connected) return;
          continue;
        }
        logger.error(
          { err: error, entry_ids: letters.map((letter) => letter.originalId) },
          "Redis refused to write these dead letters; their entries stay pending and the write is retried with backoff",
        );
        this.#parked.park(letters, Date.now());
        await this.#ackAlone(plan.ackIds);
        return;
      }
    }
  }

  /** The ACKs of a batch whose dead letters were refused: durable entries must not wait on them. */
  async #ackAlone(ids: readonly string[]): Promise<void> {
    for (;;) {
      try {
        await this.#deps.reader.ack(ids);
        return;
      } catch (error) {
        if (this.stopping || classifyRedisError(error) === "persistent") {
          this.#deps.logger.error({ err: error, entry_ids: ids }, "Could not acknowledge entries");
          return; // they stay pending: re-read and skipped as duplicates
        }
        await this.#recover(error);
      }
    }
  }

  async #settleParked(letters: readonly DeadLetter[]): Promise<void> {
    const { deadLetters, reader } = this.#deps;
    try {
      this.deadLettered += await deadLetters.settle(reader.stream, reader.group, [], letters);
      this.#parked.remove(letters);
      this.#deps.logger.info(
        { entry_ids: letters.map((letter) => letter.originalId) },
        "Parked dead letters written",
      );
    } catch (error) {
      if (classifyRedisError(error) === "persistent") this.#parked.park(letters, Date.now());
      else await this.#recover(error);
    }
  }

  /**
   * An entry whose strings may have lost bytes that were not UTF-8 is read again as bytes, so
   * the signature is checked over what arrived and its dead letter keeps it exactly. Rare: only
   * entries holding U+FFFD pay this round trip.
   */
  async #withBytesIfLost(entry: StreamEntry, fields: readonly string[]): Promise<StreamEntry> {
    if (!mayHaveLostBytes(fields)) return entry;
    const bytes = await this.#deps.reader.bytesOf(entry.id).catch(() => undefined);
    return bytes === undefined ? entry : { ...entry, bytes };
  }

  /** Fills in the SHA-256 of oversized entries read as a prefix, reading each one whole, alone. */
  async #withSha256(letters: DeadLetter[]): Promise<DeadLetter[]> {
    for (const [index, letter] of letters.entries()) {
      if (letter.oversized === undefined || letter.oversized.sha256 !== undefined) continue;
      const sha256 = await this.#deps.reader.sha256Of(letter.originalId).catch(() => undefined);
      if (sha256 !== undefined)
        letters[index] = { ...letter, oversized: { ...letter.oversized, sha256 } };
    }
    return letters;
  }

  /**
   * After a failed Redis call: recreate a vanished group; wait for a lost connection to come
   * back; back off after an error reply. Logged once per outage, when it starts.
   */
  async #recover(error: unknown): Promise<void> {
    const { logger, reader, observer } = this.#deps;
    const kind = classifyRedisError(error);
    if (kind === "nogroup") {
      logger.error(
        "The consumer group or the stream vanished (NOGROUP): recreating the group at 0. " +
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
      logger.error({ err: error, kind }, "Redis unavailable; retrying");
      observer?.redisDown?.(error);
    }
    const wasConnected = reader.connected;
    if (!wasConnected) await reader.untilConnected(this.#stopSignal.signal);
    if (kind !== "connection" || wasConnected) {
      // An error reply, or a timeout on a link that still looks up: back off before the next try.
      const cap = kind === "connection" ? { ...this.#backoff(), maxMs: 1_000 } : this.#backoff();
      await sleep(backoffDelay(this.#redisFailures, cap), this.#stopSignal.signal);
    }
  }

  #redisOk(): void {
    if (this.#redisFailures === 0) return;
    this.#deps.logger.info({ failures: this.#redisFailures }, "Redis available again");
    this.#redisFailures = 0;
    this.#deps.observer?.redisUp?.();
  }

  /** A clean stop with nothing pending removes the consumer name, so names do not pile up. */
  async #leaveGroupIfIdle(): Promise<void> {
    if (this.#retries.size > 0 || this.#parked.size > 0) return;
    try {
      if (await this.#deps.reader.removeConsumerIfIdle()) {
        this.#deps.logger.info("Nothing pending: consumer name removed from the group");
      }
    } catch (error) {
      this.#deps.logger.debug({ err: error }, "Could not remove the consumer name");
    }
  }

  /** Block no longer than until the next retry, reclaim or parked dead letter is due. */
  #blockTime(): number {
    const next = Math.min(
      this.#reclaimer.nextAt,
      this.#retries.nextAttemptAt(),
      this.#parked.nextAttemptAt(),
    );
    const untilDue = Math.ceil(next - Date.now());
    return Math.max(1, Math.min(this.#deps.options.blockMs, untilDue));
  }

  #backoff() {
    return { baseMs: this.#deps.options.retryBaseMs, maxMs: this.#deps.options.retryMaxMs };
  }
}
