import type Redis from "ioredis";
import type { DeadLetterReason } from "../contract/decode.ts";
import type { EntryResult } from "../dispatch/dispatcher.ts";

export interface DeadLetter {
  originalId: string;
  /** The original entry's field/value pairs, so a replay republishes it exactly. */
  originalFields: readonly string[];
  reason: DeadLetterReason;
  detail: string;
  subscriber?: string | undefined;
  attempts: number;
  traceId?: string | undefined;
  eventType?: string | undefined;
}

export function deadLetterStreamName(stream: string): string {
  return `${stream}.dlq`;
}

/**
 * The dead letter for an entry the dispatcher rejected, or whose retries ran out
 * (`max_deliveries`, with its last error). Undefined when the entry is to be ACKed as it is.
 */
export function deadLetterFor(
  result: EntryResult,
  originalFields: readonly string[],
  attempts: number,
): DeadLetter | undefined {
  const { disposition, entry } = result;
  if (disposition.kind === "ack") return undefined;
  const decoded = entry.decoded;
  const common = {
    originalId: entry.id,
    originalFields,
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

/** Writes dead letters to `<stream>.dlq` and returns only once Redis has confirmed every one. */
export class DeadLetterWriter {
  constructor(
    private readonly redis: Redis,
    readonly streamName: string,
    private readonly clock: () => number = Date.now,
  ) {}

  async write(letters: readonly DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    const failedAt = new Date(this.clock()).toISOString();
    const pipeline = this.redis.pipeline();
    for (const letter of letters)
      pipeline.xadd(this.streamName, "*", ...toFields(letter, failedAt));
    const replies = (await pipeline.exec()) ?? [];
    const failure = replies.find(([error]) => error !== null)?.[0];
    if (failure) throw failure;
    if (replies.length !== letters.length)
      throw new Error("Redis did not confirm every dead letter");
  }
}

function toFields(letter: DeadLetter, failedAt: string): string[] {
  const fields = [
    "original_id",
    letter.originalId,
    "original",
    JSON.stringify(letter.originalFields),
    "reason",
    letter.reason,
    "detail",
    letter.detail,
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
