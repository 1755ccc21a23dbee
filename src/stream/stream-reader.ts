import type Redis from "ioredis";
import type { DeadLetter, DeadLetterWriter } from "./dead-letters.ts";

export interface StreamEntry {
  readonly id: string;
  /** null when the entry is still pending but was deleted from the stream (XDEL, trimming). */
  readonly fields: readonly string[] | null;
  /** How many times Redis has delivered it, this delivery included. */
  readonly deliveries: number;
}

export interface AutoClaimResult {
  /** "0-0" once the whole pending list has been scanned. */
  cursor: string;
  entries: StreamEntry[];
  deletedIds: string[];
}

/** KEYS[1] stream; ARGV group, consumer, ids…: XCLAIM (idle 0, JUSTID) the ids still ours. */
const TOUCH_SCRIPT = `
local group, consumer = ARGV[1], ARGV[2]
for i = 3, #ARGV do
  local entry = redis.call('XPENDING', KEYS[1], group, ARGV[i], ARGV[i], 1)[1]
  if entry and entry[2] == consumer then
    redis.call('XCLAIM', KEYS[1], group, consumer, 0, ARGV[i], 'JUSTID')
  end
end
return 1`;

/** KEYS[1] stream; ARGV group, consumer: XGROUP DELCONSUMER only when it has nothing pending. */
const DELETE_IF_IDLE_SCRIPT = `
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) > 0 then return 0 end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1`;

type XReadGroupReply = [stream: string, entries: [id: string, fields: string[] | null][]][] | null;

/**
 * XREADGROUP for one consumer: its own pending entries after `cursor`, or new ones with ">".
 * Reads go through `blocking`, a connection of their own that `interrupt()` may close to end a
 * blocked read at shutdown; everything else goes through `commands`.
 */
export class StreamReader {
  constructor(
    private readonly blocking: Redis,
    private readonly commands: Redis,
    private readonly stream: string,
    private readonly group: string,
    private readonly consumer: string,
  ) {}

  /** New entries, waiting up to `blockMs` for the first. */
  async readNew(count: number, blockMs: number): Promise<StreamEntry[]> {
    const reply = (await this.blocking.xreadgroup(
      "GROUP",
      this.group,
      this.consumer,
      "COUNT",
      count,
      "BLOCK",
      blockMs,
      "STREAMS",
      this.stream,
      ">",
    )) as XReadGroupReply;
    return (reply?.[0]?.[1] ?? []).map(([id, fields]) => ({ id, fields, deliveries: 1 }));
  }

  /**
   * This consumer's pending entries with ids above `cursor` (its history). Their delivery
   * counts come from XPENDING, which this read has just raised by one.
   */
  async readPending(cursor: string, count: number): Promise<StreamEntry[]> {
    const reply = (await this.blocking.xreadgroup(
      "GROUP",
      this.group,
      this.consumer,
      "COUNT",
      count,
      "STREAMS",
      this.stream,
      cursor,
    )) as XReadGroupReply;
    return this.#withDeliveries(reply?.[0]?.[1] ?? []);
  }

  /**
   * Takes over entries that other consumers (dead workers) left pending for `minIdleMs` or more.
   * Entries already deleted from the stream come back as `deletedIds` (Redis ≥ 7.0 drops them
   * from the pending list).
   */
  async autoClaim(minIdleMs: number, cursor: string, count: number): Promise<AutoClaimResult> {
    const [next, claimed, deletedIds] = (await this.commands.xautoclaim(
      this.stream,
      this.group,
      this.consumer,
      minIdleMs,
      cursor,
      "COUNT",
      count,
    )) as [string, [id: string, fields: string[] | null][], string[]];
    const live = claimed.filter((entry) => entry[0] !== undefined);
    return {
      cursor: next,
      entries: await this.#withDeliveries(live),
      deletedIds: deletedIds ?? [],
    };
  }

  /**
   * Resets the idle time of entries this consumer still owns, so a long batch is not reclaimed
   * from under it. Atomic (a script), so an entry another consumer has claimed meanwhile is
   * left alone; JUSTID keeps delivery counts unchanged.
   */
  async touch(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.commands.eval(TOUCH_SCRIPT, 1, this.stream, this.group, this.consumer, ...ids);
  }

  /** Removes this consumer's name from the group if it owns no pending entry; true if removed. */
  async removeConsumerIfIdle(): Promise<boolean> {
    const removed = await this.commands.eval(
      DELETE_IF_IDLE_SCRIPT,
      1,
      this.stream,
      this.group,
      this.consumer,
    );
    return removed === 1;
  }

  async #withDeliveries(entries: [id: string, fields: string[] | null][]): Promise<StreamEntry[]> {
    const first = entries[0];
    const last = entries.at(-1);
    if (first === undefined || last === undefined) return [];
    const pending = (await this.commands.xpending(
      this.stream,
      this.group,
      first[0],
      last[0],
      entries.length,
      this.consumer,
    )) as [id: string, consumer: string, idleMs: number, deliveries: number][];
    const deliveries = new Map(pending.map(([id, , , count]) => [id, count]));
    return entries.map(([id, fields]) => ({ id, fields, deliveries: deliveries.get(id) ?? 1 }));
  }

  async ack(ids: readonly string[]): Promise<void> {
    if (ids.length > 0) await this.commands.xack(this.stream, this.group, ...ids);
  }

  /** Writes `letters` with `writer`, then ACKs `ids`, in one round trip (see writeThenAck). */
  async deadLetterThenAck(
    writer: DeadLetterWriter,
    letters: readonly DeadLetter[],
    ids: readonly string[],
  ): Promise<void> {
    await writer.writeThenAck(letters, this.stream, this.group, ids);
  }

  /** Ends a blocked read now; what Redis had delivered stays pending, read again on restart. */
  interrupt(): void {
    this.blocking.disconnect();
  }
}
