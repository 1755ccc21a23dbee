import type { EventOf, KnownEventType, PaycoreEnvelope } from "../contract/event-schema.ts";
import type { Tx } from "../db/database.ts";

/** One valid event as a subscriber sees it. */
export interface DispatchedEvent<E extends PaycoreEnvelope = PaycoreEnvelope> {
  readonly event: E;
  /** The Redis stream entry id it arrived in. */
  readonly entryId: string;
  readonly payloadHash: string;
}

export interface HandleContext {
  /** The batch's clock, in milliseconds: subscribers use no other. */
  readonly now: number;
  /** Runs after the batch's transaction has committed (e.g. to log that access was granted). */
  afterCommit(callback: () => void): void;
}

/**
 * What a subscriber may say about single events of the batch it handled. A `conflict` is an
 * event that contradicts what the store already holds (e.g. a refund naming another learner
 * than its payment): the subscriber wrote nothing for it, the dispatcher releases its claim,
 * records the outcome `conflict` and dead-letters it with `detail`.
 */
export interface HandleResult {
  readonly conflicts?: ReadonlyMap<DispatchedEvent, string>;
}

/**
 * A subscriber handles a batch: the events of one read that it has newly claimed in the
 * idempotency table. It writes only through `tx`, with one multi-row statement per table, and
 * throws PermanentError for an event that can never succeed.
 *
 * `T` ties `eventTypes` to what `handle` receives: a subscriber typed for payments cannot list
 * `paycore.payment_refunded`, and only types of EVENT_SCHEMAS can be listed at all. `handle` is
 * a property, not a method, so its parameter is checked contravariantly (strictFunctionTypes).
 */
export interface Subscriber<T extends KnownEventType = KnownEventType> {
  readonly name: string;
  readonly eventTypes: readonly T[];
  readonly handle: (
    events: readonly DispatchedEvent<EventOf<T>>[],
    tx: Tx,
    context: HandleContext,
    // biome-ignore lint/suspicious/noConfusingVoidType: a handle that returns nothing (`async () => {}`) says "no conflicts"
  ) => Promise<HandleResult | undefined | void>;
}

/**
 * Declares a subscriber, inferring `T` from `eventTypes`: `handle` then receives exactly the
 * events of those types, e.g. `PaymentSucceededEvent | PaymentRefundedEvent`.
 */
export function defineSubscriber<const T extends KnownEventType>(
  subscriber: Subscriber<T>,
): Subscriber<T> {
  return subscriber;
}

/**
 * A subscriber as the registry and the dispatcher hold it, its event type erased. Safe because
 * the dispatcher hands it only events whose `event_type` is one of its `eventTypes`, decoded by
 * that type's own schema.
 */
export interface RegisteredSubscriber {
  readonly name: string;
  readonly eventTypes: readonly KnownEventType[];
  readonly handle: (
    events: readonly DispatchedEvent[],
    tx: Tx,
    context: HandleContext,
    // biome-ignore lint/suspicious/noConfusingVoidType: a handle that returns nothing (`async () => {}`) says "no conflicts"
  ) => Promise<HandleResult | undefined | void>;
}
