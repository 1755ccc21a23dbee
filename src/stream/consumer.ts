import { OUTCOMES, type Outcome } from "../dispatch/outcome.ts";
import { BatchSettler } from "./batch-settler.ts";
import { CommitRetry } from "./commit-retry.ts";
import type { ConsumerDependencies } from "./consumer-contract.ts";
import { InHandLease } from "./in-hand-lease.ts";
import { ReadAhead } from "./read-ahead.ts";
import { decodeRead } from "./read-decoding.ts";
import { Reclaimer } from "./reclaimer.ts";
import { RedisRecovery } from "./redis-recovery.ts";
import { RetrySchedule } from "./retry-schedule.ts";
import { planSettlement } from "./settle-plan.ts";
import type { StreamEntry } from "./stream-reader.ts";

export type {
  ConsumerDependencies,
  ConsumerObserver,
  ConsumerOptions,
} from "./consumer-contract.ts";

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
  #deletedInHand = 0;

  readonly #deps: ConsumerDependencies;
  readonly #retries = new RetrySchedule();
  readonly #reclaimer: Reclaimer;
  readonly #lease: InHandLease;
  readonly #recovery: RedisRecovery;
  readonly #commits: CommitRetry;
  readonly #settler: BatchSettler;
  readonly #stopSignal = new AbortController();
  /** An id to re-read this consumer's pending entries from; null once caught up. */
  #pendingCursor: string | null = "0";
  #loop: Promise<void> | undefined;
  #reading = false;
  /** The next batch, read while this one is processed (see #readAhead). */
  readonly #ahead = new ReadAhead();

  constructor(deps: ConsumerDependencies) {
    this.#deps = deps;
    const { reader, logger, options, observer } = deps;
    const backoff = { baseMs: options.retryBaseMs, maxMs: options.retryMaxMs };
    const signal = this.#stopSignal.signal;
    this.#recovery = new RedisRecovery({
      reader,
      logger,
      backoff,
      signal,
      recreateGroup: deps.recreateGroup,
      onDown: (error) => observer?.redisDown?.(error),
      onUp: () => observer?.redisUp?.(),
    });
    this.#commits = new CommitRetry({
      dispatcher: deps.dispatcher,
      logger,
      backoff,
      signal,
      onCommitted: () => observer?.batchCommitted?.(),
      onFailed: (error) => observer?.commitFailed?.(error),
    });
    this.#settler = new BatchSettler({
      reader,
      deadLetters: deps.deadLetters,
      logger,
      recovery: this.#recovery,
      backoff,
      stopping: () => this.stopping,
      onWritten: (letters) => observer?.deadLettersWritten?.(letters),
    });
    this.#reclaimer = new Reclaimer(reader, logger, options);
    this.#lease = new InHandLease({
      touch: (ids) => reader.touch(ids),
      claimIdleMs: options.claimIdleMs,
      alsoHeld: () => [
        ...this.#retries.ids(),
        ...this.#settler.parked.ids(),
        ...this.#ahead.heldIds(),
      ],
      onError: (error) =>
        logger.debug({ err: error }, "Could not refresh the idle time of entries in hand"),
    });
    reader.onReconnected(() => {
      this.#pendingCursor = "0";
    });
  }

  /** Dead letters written (and confirmed) so far. */
  get deadLettered(): number {
    return this.#settler.deadLettered;
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
      const parked = this.#settler.parked.due(now);
      if (parked.length > 0) {
        await this.#settler.settleParked(parked);
        continue;
      }
      const due = this.#retries.due(now, this.#deps.options.batchSize);
      if (due.length > 0) {
        await this.#process(due);
        continue;
      }
      const entries = await this.#read();
      if (entries === undefined || entries.length === 0) continue;
      // A full batch means more is waiting: ask for the next one now, so Redis prepares it
      // while this one is committed (the read script's cost is then hidden, not added).
      if (entries.length === this.#deps.options.batchSize) this.#readAhead();
      await this.#process(entries);
    }
    await this.#finishReadAhead();
  }

  /**
   * On stop: the entries read ahead were delivered to this consumer, so they are in hand too;
   * processing them leaves nothing pending for another worker to reclaim only after
   * CLAIM_IDLE_MS. The read never blocks (see #readAhead), so the wait is one round trip.
   */
  async #finishReadAhead(): Promise<void> {
    let entries: StreamEntry[] | undefined;
    try {
      entries = await this.#ahead.take();
    } catch {
      return; // whatever Redis delivered stays pending and is re-read at restart
    }
    if (entries !== undefined && entries.length > 0) await this.#process(entries);
  }

  /**
   * Starts reading the next batch of new entries while the current one is processed. Its
   * entries are delivered (pending, this consumer's) at once: they join the lease as soon as
   * they arrive, and a stop processes them before it returns. It never blocks: when nothing is
   * waiting it returns empty and the loop's next read waits as usual.
   */
  #readAhead(): void {
    if (this.#ahead.started || this.#pendingCursor !== null || this.#reclaimer.isDue()) return;
    const { reader, options } = this.#deps;
    this.#ahead.start(() => reader.readNew(options.batchSize, 0));
  }

  /** The next entries: own pending ones first, reclaimed ones when due, else new ones. */
  async #read(): Promise<StreamEntry[] | undefined> {
    const { reader, options, observer } = this.#deps;
    this.#reading = true;
    try {
      // Whatever else is due, the entries already delivered come first.
      let entries = await this.#ahead.take();
      if (entries === undefined) {
        if (this.#pendingCursor !== null) {
          entries = await this.#readOwnPending(this.#pendingCursor);
        } else if (this.#reclaimer.isDue()) {
          entries = await this.#reclaimer.claimPage();
        } else {
          entries = await reader.readNew(options.batchSize, this.#blockTime());
        }
      }
      this.#recovery.ok();
      observer?.readCompleted?.();
      return entries;
    } catch (error) {
      if (this.stopping) return undefined;
      this.#pendingCursor = "0";
      await this.#recovery.recover(error);
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
    const parked = this.#settler.parked;
    const entries = page.filter((e) => !this.#retries.has(e.id) && !parked.has(e.id));
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
    const { batch, byId, deletedIds } = await decodeRead(entries, options, (entry) =>
      this.#withBytes(entry),
    );
    if (deletedIds.length > 0) {
      this.#deletedInHand += deletedIds.length;
      logger.warn(
        { entry_ids: deletedIds },
        "Pending entries were deleted from the stream before they were processed; acknowledging them",
      );
    }
    const started = performance.now();
    const results = batch.length > 0 ? await this.#commits.commit(batch) : [];
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
    for (const letter of plan.deadLetters) this.#retries.remove(letter.originalId);
    await this.#settler.settle(plan);
    this.#deps.observer?.batchSettled?.(results, (performance.now() - started) / 1000);
  }

  /**
   * An entry whose strings may have lost bytes that were not UTF-8 is read again as bytes, so
   * the signature is checked over what arrived and its dead letter keeps it exactly. Rare: only
   * entries holding U+FFFD pay this round trip.
   */
  async #withBytes(entry: StreamEntry): Promise<StreamEntry> {
    const bytes = await this.#deps.reader.bytesOf(entry.id).catch(() => undefined);
    return bytes === undefined ? entry : { ...entry, bytes };
  }

  /** A clean stop with nothing pending removes the consumer name, so names do not pile up. */
  async #leaveGroupIfIdle(): Promise<void> {
    if (this.#retries.size > 0 || this.#settler.parked.size > 0) return;
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
      this.#settler.parked.nextAttemptAt(),
    );
    const untilDue = Math.ceil(next - Date.now());
    return Math.max(1, Math.min(this.#deps.options.blockMs, untilDue));
  }

  #backoff() {
    return { baseMs: this.#deps.options.retryBaseMs, maxMs: this.#deps.options.retryMaxMs };
  }
}
