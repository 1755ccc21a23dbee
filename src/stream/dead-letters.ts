import { isUtf8 } from "node:buffer";
import type { DeadLetterReason } from "../contract/decode.ts";
import type { EntryResult } from "../dispatch/dispatcher.ts";
import { type Oversized, prefixOf, sha256OfFields } from "./oversized-entry.ts";
import type { RedisClient } from "./redis-connection.ts";
import type { StreamEntry } from "./stream-reader.ts";
import { withScripts } from "./stream-scripts.ts";

export interface DeadLetter {
  originalId: string;
  /**
   * The original entry's field/value pairs, so a replay republishes it exactly; for an
   * oversized entry, only its prefix (see `oversized`).
   */
  originalFields: readonly string[];
  /** Set for an entry over MAX_EVENT_BYTES: its dead letter keeps a prefix, size and SHA-256. */
  oversized?: Oversized | undefined;
  /**
   * The original's exact bytes, for an entry that was not UTF-8: its `original` is then kept as
   * base64 (`original_encoding: base64`), so a replay puts the very same bytes back.
   */
  originalBytes?: readonly Uint8Array[] | undefined;
  reason: DeadLetterReason;
  detail: string;
  subscriber?: string | undefined;
  attempts: number;
  traceId?: string | undefined;
  eventType?: string | undefined;
}

/** `<stream>.dlq`, or `{<stream>}.dlq` in a cluster (see redis-topology.ts). */
export { deadLetterStreamName } from "../config/redis-topology.ts";

/**
 * The dead letter for an entry the dispatcher rejected, or whose retries ran out
 * (`max_deliveries`, with its last error). Undefined when the entry is to be ACKed as it is.
 */
export function deadLetterFor(
  result: EntryResult,
  entry: Pick<StreamEntry, "fields" | "oversized" | "bytes">,
  attempts: number,
): DeadLetter | undefined {
  const { disposition } = result;
  if (disposition.kind === "ack") return undefined;
  const decoded = result.entry.decoded;
  const bytes = entry.bytes?.some((field) => !isUtf8(field)) ? entry.bytes : undefined;
  const common = {
    originalId: result.entry.id,
    originalFields: entry.fields ?? [],
    oversized: entry.oversized,
    originalBytes: bytes,
    attempts,
    traceId: decoded.ok ? decoded.event.trace_id : decoded.traceId,
    eventType: decoded.ok ? decoded.event.event_type : decoded.eventType,
  };
  if (disposition.kind === "retry") {
    const message =
      disposition.error instanceof Error ? disposition.error.message : String(disposition.error);
    return {
      ...common,
      reason: "max_deliveries",
      detail: `failed ${attempts} times; last error: ${message}`,
      subscriber: disposition.subscriber,
    };
  }
  return {
    ...common,
    reason: disposition.reason,
    detail: disposition.detail,
    subscriber: disposition.subscriber,
  };
}

/** Writes dead letters to the dead-letter stream (Config.deadLetterStream), confirmed by Redis before the entries are ACKed. */
export class DeadLetterWriter {
  constructor(
    private readonly redis: RedisClient,
    readonly streamName: string,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Writes dead letters (tools and tests); resolves only once Redis has confirmed every one. */
  async write(letters: readonly DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    const failedAt = new Date(this.clock()).toISOString();
    const pipeline = this.redis.pipeline();
    for (const letter of letters)
      pipeline.xadd(this.streamName, "*", ...deadLetterFields(letter, failedAt));
    const replies = (await pipeline.exec()) ?? [];
    const failure = replies.find(([error]) => error !== null)?.[0];
    if (failure) throw failure;
  }

  /**
   * ACKs `ackIds`, then writes each dead letter and ACKs its entry, in one round trip (a
   * script, see SETTLE_SCRIPT): an entry is never ACKed before its dead letter is written, and a
   * dead letter is written only while its entry is still pending, so sending this twice (a lost
   * reply, a resend) writes nothing twice. Resolves with the dead letters written by this call.
   */
  async settle(
    stream: string,
    group: string,
    ackIds: readonly string[],
    letters: readonly DeadLetter[],
  ): Promise<DeadLetter[]> {
    const failedAt = new Date(this.clock()).toISOString();
    const writtenIds = new Set<string>();
    const settle = async (args: (string | number)[]) => {
      const ids = await withScripts(this.redis).coursepaySettle(this.streamName, stream, ...args);
      for (const id of ids as string[]) writtenIds.add(id);
    };
    let args: (string | number)[] = [group, ackIds.length, ...ackIds];
    let chars = 0;
    // In calls of at most SETTLE_CALL_CHARS: a batch of large dead letters never builds one
    // huge command (each call is idempotent on its own, so a cut between calls is harmless).
    for (const [index, letter] of letters.entries()) {
      const fields = deadLetterFields(letter, failedAt);
      args.push(letter.originalId, fields.length, ...fields);
      chars += fields.reduce((sum, field) => sum + field.length, 0);
      if (chars >= SETTLE_CALL_CHARS || index === letters.length - 1) {
        await settle(args);
        args = [group, 0];
        chars = 0;
      }
    }
    if (letters.length === 0) await settle(args);
    return writtenIds.size === 0
      ? []
      : letters.filter((letter) => writtenIds.has(letter.originalId));
  }
}

/** The most dead-letter text one settle call carries (about 4 MB). */
const SETTLE_CALL_CHARS = 4 * 1024 * 1024;

/**
 * The longest `original` a dead letter carries as JSON; past it, only a prefix, the size and
 * the SHA-256 are kept. Far below the 1 MB of a Redis with `proto-max-bulk-len 1mb`, whatever
 * MAX_EVENT_BYTES allows.
 */
export const MAX_ORIGINAL_JSON_CHARS = 256 * 1024;
/** The longest `detail` (an error message, a list of schema issues) a dead letter keeps. */
export const MAX_DETAIL_CHARS = 4096;

/** `original`, or for an oversized entry `original_prefix`, `original_bytes`, `original_sha256`. */
function originalFields(letter: DeadLetter): string[] {
  const { oversized, originalFields: fields, originalBytes } = letter;
  if (originalBytes !== undefined && oversized === undefined) {
    const encoded = originalBytes.map((field) => Buffer.from(field).toString("base64"));
    const text = JSON.stringify(encoded);
    if (text.length <= MAX_ORIGINAL_JSON_CHARS) {
      return ["original", text, "original_encoding", "base64"];
    }
  }
  if (oversized === undefined) {
    // JSON escaping makes a character at most 6 long, so this never builds more than 1.5 MB.
    const chars = fields.reduce((sum, field) => sum + field.length, 0);
    const text = chars <= MAX_ORIGINAL_JSON_CHARS ? JSON.stringify(fields) : undefined;
    if (text !== undefined && text.length <= MAX_ORIGINAL_JSON_CHARS) return ["original", text];
    const bytes = fields.reduce((sum, field) => sum + Buffer.byteLength(field), 0);
    return truncatedOriginal(prefixOf(fields), bytes, sha256OfFields(fields));
  }
  return truncatedOriginal(prefixOf(oversized.prefix), oversized.bytes, oversized.sha256);
}

function truncatedOriginal(
  prefix: readonly string[],
  bytes: number,
  sha256: string | undefined,
): string[] {
  const fields = ["original_prefix", JSON.stringify(prefix), "original_bytes", String(bytes)];
  if (sha256 !== undefined) fields.push("original_sha256", sha256);
  return fields;
}

/**
 * A dead letter as XADD field/value pairs, the layout `coursepay dlq` and operators read. Bounded
 * whatever the entry held: `original` (or its prefix), `detail` and the hints are capped.
 */
export function deadLetterFields(letter: DeadLetter, failedAt: string): string[] {
  const detail =
    letter.detail.length > MAX_DETAIL_CHARS
      ? `${letter.detail.slice(0, MAX_DETAIL_CHARS)}… (${letter.detail.length} characters)`
      : letter.detail;
  const fields = [
    "original_id",
    letter.originalId,
    ...originalFields(letter),
    "reason",
    letter.reason,
    "detail",
    detail,
    "attempts",
    String(letter.attempts),
    "failed_at",
    failedAt,
  ];
  if (letter.subscriber !== undefined) fields.push("subscriber", letter.subscriber);
  if (letter.traceId !== undefined) fields.push("trace_id", letter.traceId);
  if (letter.eventType !== undefined) fields.push("event_type", letter.eventType);
  return fields;
}
