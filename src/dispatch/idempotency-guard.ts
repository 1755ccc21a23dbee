import { sql } from "drizzle-orm";
import type { Tx } from "../db/database.ts";
import type { DispatchedEvent } from "./subscriber.ts";

export interface ClaimResult {
  claimed: DispatchedEvent[];
  /** trace_id → stored payload hash, for events some earlier batch already processed. */
  alreadyProcessed: Map<string, string>;
}

/**
 * Claims the events' trace_ids for one subscriber with one multi-row
 * `INSERT … ON CONFLICT DO NOTHING RETURNING`, inside the caller's transaction, so the claim
 * commits with the subscriber's effect or not at all. `events` must hold each trace_id once.
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
  const rows = JSON.stringify(
    events.map(({ event, entryId, payloadHash }) => [
      event.trace_id,
      event.event_type,
      entryId,
      payloadHash,
    ]),
  );
  // `WHERE true` keeps SQLite from reading ON CONFLICT as part of the SELECT's join.
  const inserted = await tx.all<{ trace_id: string }>(sql`
    INSERT INTO processed_events (subscriber_name, trace_id, event_type, stream_entry_id,
      payload_hash, outcome, processed_at)
    SELECT ${subscriberName}, value ->> 0, value ->> 1, value ->> 2, value ->> 3, 'applied', ${now}
    FROM json_each(${rows}) WHERE true
    ON CONFLICT DO NOTHING
    RETURNING trace_id`);
  const claimedIds = new Set(inserted.map((row) => row.trace_id));
  const claimed: DispatchedEvent[] = [];
  const others: DispatchedEvent[] = [];
  for (const item of events) (claimedIds.has(item.event.trace_id) ? claimed : others).push(item);
  return { claimed, alreadyProcessed: await storedHashes(tx, subscriberName, others) };
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
