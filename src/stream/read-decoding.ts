import { type DecodeOptions, decodeEntry, mayHaveLostBytes, tooLarge } from "../contract/decode.ts";
import type { BatchEntry } from "../dispatch/dispatcher.ts";
import type { StreamEntry } from "./stream-reader.ts";

/** A read, decoded into the batch the dispatcher takes. */
export interface DecodedRead {
  readonly batch: BatchEntry[];
  /** The entries as read (with their bytes when they were fetched), by id. */
  readonly byId: Map<string, StreamEntry>;
  /** Entries still pending but deleted from the stream: nothing to process, only to ACK. */
  readonly deletedIds: string[];
}

/**
 * Decodes every entry of a read. An entry whose strings may have lost bytes that were not
 * UTF-8 is first read again as bytes (`withBytes`), so its signature is checked over what
 * arrived; an oversized one is never parsed.
 */
export async function decodeRead(
  entries: readonly StreamEntry[],
  options: DecodeOptions,
  withBytes: (entry: StreamEntry) => Promise<StreamEntry>,
): Promise<DecodedRead> {
  const byId = new Map<string, StreamEntry>();
  const batch: BatchEntry[] = [];
  const deletedIds: string[] = [];
  for (const read of entries) {
    if (read.fields === null) {
      deletedIds.push(read.id);
      continue;
    }
    const entry = read.oversized || !mayHaveLostBytes(read.fields) ? read : await withBytes(read);
    byId.set(entry.id, entry);
    const decoded = entry.oversized
      ? tooLarge(entry.oversized.bytes, options.maxEventBytes)
      : decodeEntry(read.fields, options, entry.bytes);
    batch.push({ id: entry.id, fields: read.fields, decoded });
  }
  return { batch, byId, deletedIds };
}
