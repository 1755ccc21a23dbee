import type { DeadLetterReason, DecodeResult } from "../contract/decode.ts";
import type { Database, Tx } from "../db/database.ts";
import { isBusyError, isTransientDatabaseError } from "../db/database-errors.ts";
import type { Logger } from "../observe/logger.ts";
import { claimEvents, releaseClaims } from "./idempotency-guard.ts";
import type { Outcome } from "./outcome.ts";
import { isPermanentError } from "./permanent-error.ts";
import type { SubscriberRegistry } from "./registry.ts";
import type {
  DispatchedEvent,
  HandleContext,
  RegisteredSubscriber as Subscriber,
} from "./subscriber.ts";

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

/** What the consumer must do with the entry once the batch's transaction has committed. */
export type Disposition =
  | { kind: "ack" }
  | { kind: "dead_letter"; reason: DeadLetterReason; detail: string; subscriber?: string }
  | { kind: "retry"; subscriber: string; error: unknown };

export interface EntryResult {
  readonly entry: BatchEntry;
  readonly outcomes: SubscriberOutcome[];
  readonly disposition: Disposition;
}

interface Item {
  readonly entry: BatchEntry;
  readonly dispatched: DispatchedEvent;
}

interface ItemResult {
  outcome: Outcome;
  disposition: Disposition;
  /** The payload hash processed_events holds for this trace_id after the claim, when known. */
  storedHash?: string | undefined;
}

/** Ignored event types logged once each; past this many, new ones are only counted. */
const MAX_LOGGED_IGNORED_TYPES = 1000;

/**
 * Owns the batch transaction: for each subscriber it claims the batch's trace_ids, runs the
 * subscriber on the newly claimed events and, when the batch fails, re-runs it one event at a
 * time (a savepoint each) to isolate the event at fault. A database failure (busy, I/O,
 * unreachable) aborts the whole batch with an exception: the caller retries it.
 */
export class Dispatcher {
  readonly #ignoredTypes = new Set<string>();

  constructor(
    private readonly registry: SubscriberRegistry,
    private readonly database: Database,
    private readonly logger: Logger,
    private readonly clock: () => number = Date.now,
  ) {}

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
        this.#firstIgnored(decoded.event.event_type, entry.id);
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

  /** The first entry of each event type no subscriber handles is logged; later ones are counted. */
  #firstIgnored(eventType: string, entryId: string): void {
    if (this.#ignoredTypes.has(eventType) || this.#ignoredTypes.size >= MAX_LOGGED_IGNORED_TYPES) {
      return;
    }
    this.#ignoredTypes.add(eventType);
    this.logger.info(
      {
        event_type: eventType,
        entry_id: entryId,
        hint: "no subscriber is registered for this event type: check its spelling with PayCore; later events of this type are only counted (outcome ignored)",
      },
      "Event type has no subscriber; ignoring it",
    );
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
    await tx.transaction(async (savepoint) => {
      const dispatched = items.map((item) => item.dispatched);
      const claim = await claimEvents(savepoint, subscriber.name, dispatched, now);
      const context: HandleContext = { now, afterCommit: (callback) => callbacks.push(callback) };
      const handled =
        claim.claimed.length > 0
          ? await subscriber.handle(claim.claimed, savepoint, context)
          : undefined;
      // Events the subscriber refused as conflicts had no effect: their claims go too.
      const conflicts = handled?.conflicts ?? new Map<DispatchedEvent, string>();
      if (conflicts.size > 0)
        await releaseClaims(savepoint, subscriber.name, [...conflicts.keys()]);
      const claimed = new Set(claim.claimed);
      for (const item of items) {
        const conflict = conflicts.get(item.dispatched);
        if (conflict !== undefined) {
          attempt.set(item, this.#refused(subscriber, conflict));
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
    });
    afterCommit.push(...callbacks);
    for (const [item, result] of attempt) results.set(item, result);
  }

  /** An event whose trace_id was already processed: a replay, or the same id with new data. */
  #compare(subscriber: Subscriber, item: Item, storedHash: string | undefined): ItemResult {
    const { event, payloadHash, entryId } = item.dispatched;
    const logFields = {
      subscriber: subscriber.name,
      trace_id: event.trace_id,
      tenant_id: event.tenant_id,
      entry_id: entryId,
    };
    if (storedHash === payloadHash) {
      this.logger.info(logFields, "Event already processed, skipping (duplicate)");
      return { outcome: "duplicate", disposition: { kind: "ack" } };
    }
    this.logger.error(
      { ...logFields, stored_hash: storedHash, payload_hash: payloadHash },
      "trace_id already processed with a different payload: not applied (conflict)",
    );
    return {
      outcome: "conflict",
      disposition: {
        kind: "dead_letter",
        reason: "conflict",
        subscriber: subscriber.name,
        detail: `trace_id ${event.trace_id} was already processed by ${subscriber.name} with payload hash ${storedHash}; this event's hash is ${payloadHash}`,
      },
    };
  }

  /** An event the subscriber refused as contradicting the store (it logged why). */
  #refused(subscriber: Subscriber, detail: string): ItemResult {
    return {
      outcome: "conflict",
      disposition: { kind: "dead_letter", reason: "conflict", subscriber: subscriber.name, detail },
    };
  }

  #failure(subscriber: Subscriber, item: Item, error: unknown): ItemResult {
    const message = error instanceof Error ? error.message : String(error);
    const logFields = {
      subscriber: subscriber.name,
      trace_id: item.dispatched.event.trace_id,
      entry_id: item.entry.id,
      err: error,
    };
    if (isPermanentError(error)) {
      this.logger.error(logFields, "Subscriber rejected the event permanently");
      return {
        outcome: "failed",
        disposition: {
          kind: "dead_letter",
          reason: "permanent_error",
          subscriber: subscriber.name,
          detail: message,
        },
      };
    }
    this.logger.warn(logFields, "Subscriber failed on the event; it will be retried");
    return {
      outcome: "failed",
      disposition: { kind: "retry", subscriber: subscriber.name, error },
    };
  }
}

/** Retry wins over a dead letter, which wins over an ACK: an entry leaves only when all is durable. */
function combine(dispositions: readonly Disposition[]): Disposition {
  return (
    dispositions.find((d) => d.kind === "retry") ??
    dispositions.find((d) => d.kind === "dead_letter") ?? { kind: "ack" }
  );
}
