/**
 * One entry of the dead-letter stream as read back: its shape, and reading it from the raw
 * field/value pairs without throwing, whatever a producer or an older release wrote there.
 */

import * as v from "valibot";

/** One entry of the dead-letter stream, as read back. */
export interface StoredDeadLetter {
  /** The dead letter's own entry id in `<stream>.dlq`. */
  id: string;
  /** The entry id it had on the main stream. */
  originalId: string;
  /**
   * The original field/value pairs; undefined when `original` is not such a JSON array. Each
   * one base64 when `originalEncoding` is `base64` (an entry that was not UTF-8).
   */
  original: string[] | undefined;
  originalEncoding?: "base64" | undefined;
  /** `original` as stored, for a dead letter whose `original` could not be read. */
  originalText: string;
  /**
   * For an entry too large to keep whole: its size in bytes and SHA-256 (`original_bytes`,
   * `original_sha256`); `originalText` then holds `original_prefix`.
   */
  truncated?: { bytes: number; sha256: string | undefined } | undefined;
  reason: string;
  detail: string;
  /** undefined when the stored value is not a whole number. */
  attempts: number | undefined;
  /** ISO 8601. */
  failedAt: string;
  subscriber?: string | undefined;
  traceId?: string | undefined;
  eventType?: string | undefined;
}

/** A complete stream entry id: `<milliseconds>-<sequence>`. */
export const ENTRY_ID = /^\d{1,20}-\d{1,20}$/;

const OriginalSchema = v.pipe(
  v.array(v.string()),
  v.check((pairs) => pairs.length > 0 && pairs.length % 2 === 0),
);

/** Reads one dead-letter entry without throwing, whatever its fields hold. */
export function parseDeadLetter(id: string, fields: readonly string[]): StoredDeadLetter {
  const values = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) {
    values.set(fields[i] as string, fields[i + 1] as string);
  }
  const prefix = values.get("original_prefix");
  const originalText = values.get("original") ?? prefix ?? "";
  const attempts = values.get("attempts") ?? "";
  const bytes = values.get("original_bytes") ?? "";
  return {
    id,
    originalId: values.get("original_id") ?? "",
    original: prefix === undefined ? parseOriginal(originalText) : undefined,
    originalEncoding: values.get("original_encoding") === "base64" ? "base64" : undefined,
    originalText,
    truncated:
      prefix === undefined
        ? undefined
        : { bytes: Number(bytes) || 0, sha256: values.get("original_sha256") },
    reason: values.get("reason") ?? "",
    detail: values.get("detail") ?? "",
    attempts: /^\d{1,15}$/.test(attempts) ? Number(attempts) : undefined,
    failedAt: values.get("failed_at") ?? "",
    subscriber: values.get("subscriber"),
    traceId: values.get("trace_id"),
    eventType: values.get("event_type"),
  };
}

function parseOriginal(text: string): string[] | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const result = v.safeParse(OriginalSchema, json);
  return result.success ? result.output : undefined;
}

/** Orders `<ms>-<seq>` ids the way Redis does. */
export function compareEntryIds(a: string, b: string): number {
  const [aMs = 0n, aSeq = 0n] = a.split("-").map(BigInt);
  const [bMs = 0n, bSeq = 0n] = b.split("-").map(BigInt);
  if (aMs !== bMs) return aMs < bMs ? -1 : 1;
  return aSeq === bSeq ? 0 : aSeq < bSeq ? -1 : 1;
}
