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

/** Writes dead letters to `<stream>.dlq`, confirmed by Redis before the entries are ACKed. */
export class DeadLetterWriter {
  constructor(
    private readonly redis: Redis,
    readonly streamName: string,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Writes dead letters; resolves only once Redis has confirmed every one. */
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
   * Writes the dead letters, then ACKs `ackIds` on `stream`, in one round trip. A script, so
   * Redis runs it whole and in order: if any dead letter cannot be written the script stops
   * there and no entry is ACKed (the ACK never travels in an unconfirmed pipeline with the
   * writes it depends on).
   */
  async writeThenAck(
    letters: readonly DeadLetter[],
    stream: string,
    group: string,
    ackIds: readonly string[],
  ): Promise<void> {
    const failedAt = new Date(this.clock()).toISOString();
    const args: (string | number)[] = [group, letters.length];
    for (const letter of letters) {
      const fields = deadLetterFields(letter, failedAt);
      args.push(fields.length, ...fields);
    }
    args.push(...ackIds);
    await this.redis.eval(WRITE_THEN_ACK_SCRIPT, 2, this.streamName, stream, ...args);
  }
}

/**
 * KEYS[1] dead-letter stream, KEYS[2] stream; ARGV: group, letter count, then per letter its
 * field count and fields, then the ids to ACK (in chunks: Lua's unpack is limited to ~8,000).
 */
const WRITE_THEN_ACK_SCRIPT = `
local i = 3
for _ = 1, tonumber(ARGV[2]) do
  local n = tonumber(ARGV[i])
  redis.call('XADD', KEYS[1], '*', unpack(ARGV, i + 1, i + n))
  i = i + 1 + n
end
while i <= #ARGV do
  local last = math.min(i + 999, #ARGV)
  redis.call('XACK', KEYS[2], ARGV[1], unpack(ARGV, i, last))
  i = last + 1
end
return 1`;

/** A dead letter as XADD field/value pairs, the layout `coursepay dlq` and operators read. */
export function deadLetterFields(letter: DeadLetter, failedAt: string): string[] {
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
