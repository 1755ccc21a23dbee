/**
 * What happens to an event inside a batch, decided without side effects: a repeat of a
 * processed trace_id is a duplicate or a conflict, a subscriber's failure is retried or (when
 * permanent) dead-lettered, and an entry's dispositions across subscribers combine into one.
 */
import type { DeadLetterReason } from "../contract/decode.ts";
import type { Outcome } from "./outcome.ts";
import { isPermanentError } from "./permanent-error.ts";
import type { DispatchedEvent } from "./subscriber.ts";

/** What the consumer must do with the entry once the batch's transaction has committed. */
export type Disposition =
  | { kind: "ack" }
  | { kind: "dead_letter"; reason: DeadLetterReason; detail: string; subscriber?: string }
  | { kind: "retry"; subscriber: string; error: unknown };

/** One subscriber's verdict on one event. */
export interface ItemResult {
  outcome: Outcome;
  disposition: Disposition;
  /** The payload hash processed_events holds for this trace_id after the claim, when known. */
  storedHash?: string | undefined;
}

/** An event whose trace_id `subscriber` already processed, with `storedHash` on record. */
export function repeatResult(
  subscriber: string,
  dispatched: DispatchedEvent,
  storedHash: string | undefined,
): ItemResult {
  const { event, payloadHash } = dispatched;
  if (storedHash === payloadHash) return { outcome: "duplicate", disposition: { kind: "ack" } };
  return {
    outcome: "conflict",
    disposition: {
      kind: "dead_letter",
      reason: "conflict",
      subscriber,
      detail: `trace_id ${event.trace_id} was already processed by ${subscriber} with payload hash ${storedHash}; this event's hash is ${payloadHash}`,
    },
  };
}

/** An event the subscriber refused as contradicting the store (it says why in `detail`). */
export function refusedResult(subscriber: string, detail: string): ItemResult {
  return {
    outcome: "conflict",
    disposition: { kind: "dead_letter", reason: "conflict", subscriber, detail },
  };
}

/** A subscriber that threw on one event: dead-lettered when permanent, else retried. */
export function failureResult(subscriber: string, error: unknown): ItemResult {
  if (isPermanentError(error)) {
    const detail = error instanceof Error ? error.message : String(error);
    return {
      outcome: "failed",
      disposition: { kind: "dead_letter", reason: "permanent_error", subscriber, detail },
    };
  }
  return { outcome: "failed", disposition: { kind: "retry", subscriber, error } };
}

/** Retry wins over a dead letter, which wins over an ACK: an entry leaves only when all is durable. */
export function combine(dispositions: readonly Disposition[]): Disposition {
  return (
    dispositions.find((d) => d.kind === "retry") ??
    dispositions.find((d) => d.kind === "dead_letter") ?? { kind: "ack" }
  );
}
