/**
 * What to do with each entry of a batch once the dispatcher has decided its outcome: ACK it,
 * dead-letter it (and then ACK it), or leave it pending for an in-place retry. A pure function
 * of the results and the retry state, so every rule is tested without Redis.
 */
import type { EntryResult } from "../dispatch/dispatcher.ts";
import { type BackoffOptions, backoffDelay } from "./backoff.ts";
import { type DeadLetter, deadLetterFor } from "./dead-letters.ts";
import type { StreamEntry } from "./stream-reader.ts";

export interface PlannedRetry {
  entry: StreamEntry;
  /** In-place retries done once this one has run. */
  retries: number;
  nextAttemptAt: number;
}

export interface SettlePlan {
  /** ACKed as they are: their outcome is durable (applied, duplicate, ignored) or they are gone. */
  ackIds: string[];
  /** Written to the dead-letter stream; each entry is ACKed once its dead letter is confirmed. */
  deadLetters: DeadLetter[];
  /** Left pending, unacknowledged, and retried in place later. */
  retries: PlannedRetry[];
}

export interface SettleRules {
  /** MAX_DELIVERIES: attempts (deliveries + in-place retries) before a failing event is dead-lettered. */
  maxDeliveries: number;
  backoff: BackoffOptions;
  now: number;
  /** In-place retries already done for an entry (0 when it is not waiting for one). */
  retriesDone(id: string): number;
  random?: () => number;
}

export function planSettlement(
  results: readonly EntryResult[],
  entries: ReadonlyMap<string, StreamEntry>,
  deletedIds: readonly string[],
  rules: SettleRules,
): SettlePlan {
  const plan: SettlePlan = { ackIds: [...deletedIds], deadLetters: [], retries: [] };
  for (const result of results) {
    const id = result.entry.id;
    const entry = entries.get(id);
    if (entry === undefined) throw new Error(`settle: entry ${id} is not in the batch`);
    const retriesDone = rules.retriesDone(id);
    const attempts = entry.deliveries + retriesDone;
    if (result.disposition.kind === "retry" && attempts < rules.maxDeliveries) {
      const delay = backoffDelay(retriesDone + 1, rules.backoff, rules.random);
      plan.retries.push({ entry, retries: retriesDone + 1, nextAttemptAt: rules.now + delay });
      continue;
    }
    const letter = deadLetterFor(result, entry, attempts);
    if (letter === undefined) plan.ackIds.push(id);
    else plan.deadLetters.push(letter);
  }
  return plan;
}
