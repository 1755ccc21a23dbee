import type { PaycoreEnvelope } from "../contract/event-schema.ts";
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
 * A subscriber handles a batch: the events of one read that it has newly claimed in the
 * idempotency table. It writes only through `tx`, with one multi-row statement per table, and
 * throws PermanentError for an event that can never succeed.
 */
export interface Subscriber<E extends PaycoreEnvelope = PaycoreEnvelope> {
  readonly name: string;
  readonly eventTypes: readonly string[];
  handle(events: readonly DispatchedEvent<E>[], tx: Tx, context: HandleContext): Promise<void>;
}
