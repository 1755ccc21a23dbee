import type { DecodeResult } from "../contract/decode.ts";
import type { Database, Tx } from "../db/database.ts";
import { isBusyError, isTransientDatabaseError } from "../db/database-errors.ts";
import { inSavepoint } from "../db/savepoint.ts";
import type { Logger } from "../observe/logger.ts";
import {
  combine,
  type Disposition,
  failureResult,
  type ItemResult,
  refusedResult,
  repeatResult,
} from "./dispositions.ts";
import { claimEvents, releaseClaims } from "./idempotency-guard.ts";
import { IgnoredTypeLog } from "./ignored-type-log.ts";
import type { Outcome } from "./outcome.ts";
import type { SubscriberRegistry } from "./registry.ts";
import type {
  DispatchedEvent,
  HandleContext,
  RegisteredSubscriber as Subscriber,
} from "./subscriber.ts";

export type { Disposition } from "./dispositions.ts";

/** A stream entry as read from Redis, already decoded. */
export interface BatchEntry {
  readonly id: string;
  readonly fields: readonly string[];
  readonly decoded: DecodeResult;
}

export interface SubscriberOutcome {
  /** Undefined for outcomes decided before any subscriber (invalid, ignored). */
  readonly subscriber?: string;
  readonly outcome: Outcome;
}

export interface EntryResult {
  readonly entry: BatchEntry;
  readonly outcomes: SubscriberOutcome[];
  readonly disposition: Disposition;
}

interface Item {
  readonly entry: BatchEntry;
  readonly dispatched: DispatchedEvent;
}

/**
 * Owns the batch transaction: for each subscriber it claims the batch's trace_ids, runs the
 * subscriber on the newly claimed events and, when the batch fails, re-runs it one event at a
 * time (a savepoint each) to isolate the event at fault. A database failure (busy, I/O,
 * unreachable) aborts the whole batch with an exception: the caller retries it.
 */
export class Dispatcher {
  readonly #ignoredTypes: IgnoredTypeLog;

  constructor(
    private readonly registry: SubscriberRegistry,
    private readonly database: Database,
    private readonly logger: Logger,
    private readonly clock: () => number = Date.now,
  ) {
    this.#ignoredTypes = new IgnoredTypeLog(logger);
  }

  async dispatch(entries: readonly BatchEntry[]): Promise<EntryResult[]> {
    const outcomes = new Map<BatchEntry, SubscriberOutcome[]>();
    const dispositions = new Map<BatchEntry, Disposition[]>();
    const work = new Map<Subscriber, Item[]>();
    for (const entry of entries) {
      outcomes.set(entry, []);
      dispositions.set(entry, []);
      const decoded = entry.decoded;
      if (!decoded.ok) {
        const outcome = decoded.reason === "unauthenticated" ? "unauthenticated" : "invalid";
        outcomes.get(entry)?.push({ outcome });
        dispositions.get(entry)?.push({
          kind: "dead_letter",
          reason: decoded.reason,
          detail: decoded.detail,
        });
        continue;
      }
      const subscribers = this.registry.lookup(decoded.event.event_type);
      if (subscribers.length === 0) {
        outcomes.get(entry)?.push({ outcome: "ignored" });
        this.#ignoredTypes.seen(decoded.event.event_type, entry.id);
      }
      for (const subscriber of subscribers) {
        const dispatched = {
          event: decoded.event,
          entryId: entry.id,
          payloadHash: decoded.payloadHash,
        };
        const items = work.get(subscriber) ?? [];
        items.push({ entry, dispatched });
        work.set(subscriber, items);
      }
    }

    if (work.size > 0) {
      const now = this.clock();
      const afterCommit: (() => void)[] = [];
      const itemResults = new Map<Item, ItemResult>();
      await this.database.db.transaction(async (tx) => {
        for (const [subscriber, items] of work) {
          const results = await this.#runSubscriber(subscriber, items, tx, now, afterCommit);
          for (const [item, result] of results) itemResults.set(item, result);
        }
      });
      for (const [subscriber, items] of work) {
        for (const item of items) {
          const result = itemResults.get(item);
          if (result === undefined) continue;
          outcomes.get(item.entry)?.push({ subscriber: subscriber.name, outcome: result.outcome });
          dispositions.get(item.entry)?.push(result.disposition);
        }
      }
      for (const callback of afterCommit) callback();
    }

    return entries.map((entry) => ({
      entry,
      outcomes: outcomes.get(entry) ?? [],
      disposition: combine(dispositions.get(entry) ?? []),
    }));
  }

  /**
   * Called by the consumer after `dispatch` threw, before it retries: after a busy/locked error
   * the client is replaced, since its connections may hold a stale lock (libSQL client 0.18);
   * a client left closed by a reopen that failed is opened again.
   */
  async recoverFrom(error: unknown): Promise<void> {
    if (!isBusyError(error) && !this.database.closed) return;
    this.logger.debug("Reopening the database client before retrying");
    await this.database.reopen();
  }

  async #runSubscriber(
    subscriber: Subscriber,
    items: readonly Item[],
    tx: Tx,
    now: number,
    afterCommit: (() => void)[],
  ): Promise<Map<Item, ItemResult>> {
    const results = new Map<Item, ItemResult>();
    // The same trace_id twice in one batch: the first occurrence stands for both.
    const firstByTraceId = new Map<string, Item>();
    const repeats: Item[] = [];
    for (const item of items) {
      const traceId = item.dispatched.event.trace_id;
      if (firstByTraceId.has(traceId)) repeats.push(item);
      else firstByTraceId.set(traceId, item);
    }
    const firsts = [...firstByTraceId.values()];

    try {
      await this.#claimAndHandle(subscriber, firsts, tx, now, afterCommit, results);
    } catch (batchError) {
      if (isTransientDatabaseError(batchError)) throw batchError;
      const only = firsts.length === 1 ? firsts[0] : undefined;
      if (only !== undefined) {
        results.set(only, this.#failure(subscriber, only, batchError));
      } else {
        this.logger.warn(
          { subscriber: subscriber.name, events: firsts.length, err: batchError },
          "Batch failed in a subscriber; re-running it one event at a time",
        );
        for (const item of firsts) {
          try {
            await this.#claimAndHandle(subscriber, [item], tx, now, afterCommit, results);
          } catch (error) {
            if (isTransientDatabaseError(error)) throw error;
            results.set(item, this.#failure(subscriber, item, error));
          }
        }
      }
    }

    return this.#withRepeats(subscriber, results, firstByTraceId, repeats);
  }

  /**
   * A repeat of a trace_id inside the batch gets its own outcome, against what processed_events
   * holds once the first occurrence was claimed: an exact redelivery of the applied event is a
   * duplicate even when another entry with that trace_id conflicts. When the first occurrence
   * failed, nothing is known yet and the repeat follows it (retried or dead-lettered with it).
   */
  #withRepeats(
    subscriber: Subscriber,
    results: Map<Item, ItemResult>,
    firstByTraceId: ReadonlyMap<string, Item>,
    repeats: readonly Item[],
  ): Map<Item, ItemResult> {
    for (const repeat of repeats) {
      const first = firstByTraceId.get(repeat.dispatched.event.trace_id) as Item;
      const firstResult = results.get(first) as ItemResult;
      results.set(
        repeat,
        firstResult.storedHash === undefined
          ? firstResult
          : this.#compare(subscriber, repeat, firstResult.storedHash),
      );
    }
    return results;
  }

  /** One savepoint: claim, handle; a throw rolls back both and nothing of it is kept. */
  async #claimAndHandle(
    subscriber: Subscriber,
    items: readonly Item[],
    tx: Tx,
    now: number,
    afterCommit: (() => void)[],
    results: Map<Item, ItemResult>,
  ): Promise<void> {
    const callbacks: (() => void)[] = [];
    const attempt = new Map<Item, ItemResult>();
    await inSavepoint(tx, "claim", () =>
      this.#attempt(subscriber, items, tx, now, callbacks, attempt),
    );
    afterCommit.push(...callbacks);
    for (const [item, result] of attempt) results.set(item, result);
  }

  /** The savepoint's body: claim, handle, release the claims of refused events, judge the rest. */
  async #attempt(
    subscriber: Subscriber,
    items: readonly Item[],
    savepoint: Tx,
    now: number,
    callbacks: (() => void)[],
    attempt: Map<Item, ItemResult>,
  ): Promise<void> {
    const dispatched = items.map((item) => item.dispatched);
    const claim = await claimEvents(savepoint, subscriber.name, dispatched, now);
    const context: HandleContext = { now, afterCommit: (callback) => callbacks.push(callback) };
    const handled =
      claim.claimed.length > 0
        ? await subscriber.handle(claim.claimed, savepoint, context)
        : undefined;
    // Events the subscriber refused as conflicts had no effect: their claims go too.
    const conflicts = handled?.conflicts ?? new Map<DispatchedEvent, string>();
    if (conflicts.size > 0) await releaseClaims(savepoint, subscriber.name, [...conflicts.keys()]);
    const claimed = new Set(claim.claimed);
    for (const item of items) {
      const conflict = conflicts.get(item.dispatched);
      if (conflict !== undefined) {
        attempt.set(item, refusedResult(subscriber.name, conflict));
        continue;
      }
      if (claimed.has(item.dispatched)) {
        const storedHash = item.dispatched.payloadHash;
        attempt.set(item, { outcome: "applied", disposition: { kind: "ack" }, storedHash });
        continue;
      }
      const storedHash = claim.alreadyProcessed.get(item.dispatched.event.trace_id);
      attempt.set(item, { ...this.#compare(subscriber, item, storedHash), storedHash });
    }
  }

  /** An event whose trace_id was already processed: a replay, or the same id with new data. */
  #compare(subscriber: Subscriber, item: Item, storedHash: string | undefined): ItemResult {
    const { event, payloadHash, entryId } = item.dispatched;
    const result = repeatResult(subscriber.name, item.dispatched, storedHash);
    const logFields = {
      subscriber: subscriber.name,
      trace_id: event.trace_id,
      tenant_id: event.tenant_id,
      entry_id: entryId,
    };
    if (result.outcome === "duplicate") {
      this.logger.info(logFields, "Event already processed, skipping (duplicate)");
    } else {
      this.logger.error(
        { ...logFields, stored_hash: storedHash, payload_hash: payloadHash },
        "trace_id already processed with a different payload: not applied (conflict)",
      );
    }
    return result;
  }

  #failure(subscriber: Subscriber, item: Item, error: unknown): ItemResult {
    const result = failureResult(subscriber.name, error);
    const logFields = {
      subscriber: subscriber.name,
      trace_id: item.dispatched.event.trace_id,
      entry_id: item.entry.id,
      err: error,
    };
    if (result.disposition.kind === "dead_letter") {
      this.logger.error(logFields, "Subscriber rejected the event permanently");
    } else {
      this.logger.warn(logFields, "Subscriber failed on the event; it will be retried");
    }
    return result;
  }
}
