import { sql } from "drizzle-orm";
import type { Tx } from "../db/database.ts";
import type { DispatchedEvent } from "./subscriber.ts";

export interface ClaimResult {
  claimed: DispatchedEvent[];
  /** trace_id → stored payload hash, for events some earlier batch already processed. */
  alreadyProcessed: Map<string, string>;
}

/**
 * Claims the events' trace_ids for one subscriber inside the caller's write transaction, so the
 * claim commits with the subscriber's effect or not at all: one read of the trace_ids already
 * claimed (with their payload hashes), then one multi-row insert of the others. The transaction
 * holds the write lock, so nothing can claim in between. `events` must hold each trace_id once.
 *
 * Reading first returns only the few repeats, where `INSERT … RETURNING` returned a row for
 * every new event (~10% of a batch's time went into building those rows).
 *
 * The rows travel as one JSON parameter expanded by `json_each`: the statement text is the same
 * for every batch size and has no parameter limit, where a VALUES list with a placeholder per
 * column made SQLite prepare a new 3,500-placeholder statement for every batch.
 */
export async function claimEvents(
  tx: Tx,
  subscriberName: string,
  events: readonly DispatchedEvent[],
  now: number,
): Promise<ClaimResult> {
  if (events.length === 0) return { claimed: [], alreadyProcessed: new Map() };
  const alreadyProcessed = await storedHashes(tx, subscriberName, events);
  const claimed =
    alreadyProcessed.size === 0
      ? [...events]
      : events.filter((item) => !alreadyProcessed.has(item.event.trace_id));
  if (claimed.length === 0) return { claimed, alreadyProcessed };
  const rows = JSON.stringify(
    claimed.map(({ event, entryId, payloadHash }) => [
      event.trace_id,
      event.event_type,
      entryId,
      payloadHash,
    ]),
  );
  // `WHERE true` keeps SQLite from reading ON CONFLICT as part of the SELECT's join. No row can
  // conflict (the read above, under the write lock); should one, the claim is refused loudly
  // rather than an effect applied twice.
  const result = await tx.run(sql`
    INSERT INTO processed_events (subscriber_name, trace_id, event_type, stream_entry_id,
      payload_hash, outcome, processed_at)
    SELECT ${subscriberName}, value ->> 0, value ->> 1, value ->> 2, value ->> 3, 'applied', ${now}
    FROM json_each(${rows}) WHERE true`);
  if (result.rowsAffected !== claimed.length) {
    throw new Error(`claimed ${result.rowsAffected} of ${claimed.length} trace_ids`);
  }
  return { claimed, alreadyProcessed };
}

/**
 * Undoes claims made earlier in the same transaction, for events the subscriber refused (a
 * conflict): nothing of theirs was applied, so a replay is judged afresh. Rare: only batches
 * holding such an event run it.
 */
export async function releaseClaims(
  tx: Tx,
  subscriberName: string,
  events: readonly DispatchedEvent[],
): Promise<void> {
  if (events.length === 0) return;
  const traceIds = JSON.stringify(events.map(({ event }) => event.trace_id));
  await tx.run(sql`
    DELETE FROM processed_events
    WHERE subscriber_name = ${subscriberName}
      AND trace_id IN (SELECT value FROM json_each(${traceIds}))`);
}

async function storedHashes(
  tx: Tx,
  subscriberName: string,
  events: readonly DispatchedEvent[],
): Promise<Map<string, string>> {
  if (events.length === 0) return new Map();
  const traceIds = JSON.stringify(events.map(({ event }) => event.trace_id));
  const rows = await tx.all<{ trace_id: string; payload_hash: string }>(sql`
    SELECT trace_id, payload_hash FROM processed_events
    WHERE subscriber_name = ${subscriberName}
      AND trace_id IN (SELECT value FROM json_each(${traceIds}))`);
  return new Map(rows.map((row) => [row.trace_id, row.payload_hash]));
}
