import type Redis from "ioredis";

export interface StreamEntry {
  readonly id: string;
  /** null when the entry is still pending but was deleted from the stream (XDEL, trimming). */
  readonly fields: readonly string[] | null;
  /** How many times Redis has delivered it, this delivery included. */
  readonly deliveries: number;
}

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
    const entries = reply?.[0]?.[1] ?? [];
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

  /** Ends a blocked read now; what Redis had delivered stays pending, read again on restart. */
  interrupt(): void {
    this.blocking.disconnect();
  }
}
