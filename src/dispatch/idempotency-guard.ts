import { and, eq, inArray } from "drizzle-orm";
import type { Tx } from "../db/database.ts";
import { processedEvents } from "../db/schema.ts";
import type { DispatchedEvent } from "./subscriber.ts";

/** SQLite allows 32,766 bound parameters a statement; 7 columns a row leaves room for 4,000. */
const ROWS_PER_STATEMENT = 4_000;

export interface ClaimResult {
  claimed: DispatchedEvent[];
  /** trace_id → stored payload hash, for events some earlier batch already processed. */
  alreadyProcessed: Map<string, string>;
}

/**
 * Claims the events' trace_ids for one subscriber with one multi-row
 * `INSERT … ON CONFLICT DO NOTHING RETURNING`, inside the caller's transaction, so the claim
 * commits with the subscriber's effect or not at all. `events` must hold each trace_id once.
 */
export async function claimEvents(
  tx: Tx,
  subscriberName: string,
  events: readonly DispatchedEvent[],
  now: number,
): Promise<ClaimResult> {
  const claimedIds = new Set<string>();
  for (let start = 0; start < events.length; start += ROWS_PER_STATEMENT) {
    const rows = events.slice(start, start + ROWS_PER_STATEMENT).map((item) => ({
      subscriberName,
      traceId: item.event.trace_id,
      eventType: item.event.event_type,
      streamEntryId: item.entryId,
      payloadHash: item.payloadHash,
      outcome: "applied",
      processedAt: now,
    }));
    const inserted = await tx
      .insert(processedEvents)
      .values(rows)
      .onConflictDoNothing()
      .returning({ traceId: processedEvents.traceId });
    for (const row of inserted) claimedIds.add(row.traceId);
  }
  const claimed = events.filter((item) => claimedIds.has(item.event.trace_id));
  const others = events.filter((item) => !claimedIds.has(item.event.trace_id));
  return { claimed, alreadyProcessed: await storedHashes(tx, subscriberName, others) };
}

async function storedHashes(
  tx: Tx,
  subscriberName: string,
  events: readonly DispatchedEvent[],
): Promise<Map<string, string>> {
  const hashes = new Map<string, string>();
  for (let start = 0; start < events.length; start += ROWS_PER_STATEMENT) {
    const traceIds = events.slice(start, start + ROWS_PER_STATEMENT).map((e) => e.event.trace_id);
    const rows = await tx
      .select({ traceId: processedEvents.traceId, payloadHash: processedEvents.payloadHash })
      .from(processedEvents)
      .where(
        and(
          eq(processedEvents.subscriberName, subscriberName),
          inArray(processedEvents.traceId, traceIds),
        ),
      );
    for (const row of rows) hashes.set(row.traceId, row.payloadHash);
  }
  return hashes;
}
