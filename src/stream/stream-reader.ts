import { entrySize } from "../contract/wire-format.ts";
import { type Oversized, oversizedEntry, sha256OfFields } from "./oversized-entry.ts";
import type { RedisClient } from "./redis-connection.ts";
import { untilReady } from "./redis-connection.ts";
import { type GuardedReply, withScripts } from "./stream-scripts.ts";

export interface StreamEntry {
  readonly id: string;
  /**
   * null when the entry is still pending but was deleted from the stream (XDEL, trimming). For
   * an oversized entry, only a prefix of its fields (see `oversized`).
   */
  readonly fields: readonly string[] | null;
  /** How many times Redis has delivered it, this delivery included. */
  readonly deliveries: number;
  /** Set when the entry is over MAX_EVENT_BYTES: it was never read whole into this process. */
  readonly oversized?: Oversized;
  /**
   * Its names and values exactly as they are in Redis, read again for an entry whose strings
   * may have lost bytes that were not UTF-8 (see decode's mayHaveLostBytes).
   */
  readonly bytes?: readonly Buffer[];
}

export interface AutoClaimResult {
  /** "0-0" once the whole pending list has been scanned. */
  cursor: string;
  entries: StreamEntry[];
  deletedIds: string[];
}

export interface StreamReaderOptions {
  stream: string;
  group: string;
  consumer: string;
  /** MAX_EVENT_BYTES: larger entries come back as a prefix, their size and (later) SHA-256. */
  maxEventBytes: number;
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

type RawEntry = [id: string, fields: string[] | null];
type XReadGroupReply = [stream: string, entries: RawEntry[]][] | null;

/**
 * XREADGROUP and XAUTOCLAIM for one consumer. Every read that may return many entries runs
 * through a script that cuts entries over MAX_EVENT_BYTES down to a prefix inside Redis, so a
 * batch never brings more than BATCH_SIZE × MAX_EVENT_BYTES into this process. Only the idle
 * wait is a plain blocking XREADGROUP, for one entry (scripts cannot block).
 *
 * Reads go through `blocking`, a connection of their own that `interrupt()` may close to end a
 * blocked read at shutdown; everything else goes through `commands`.
 */
export class StreamReader {
  readonly #stream: string;
  readonly #group: string;
  readonly #consumer: string;
  readonly #maxEventBytes: number;

  constructor(
    private readonly blocking: RedisClient,
    private readonly commands: RedisClient,
    options: StreamReaderOptions,
  ) {
    this.#stream = options.stream;
    this.#group = options.group;
    this.#consumer = options.consumer;
    this.#maxEventBytes = options.maxEventBytes;
  }

  get stream(): string {
    return this.#stream;
  }

  get group(): string {
    return this.#group;
  }

  /** New entries: up to `count` at once when there are any, else waits up to `blockMs` for one. */
  async readNew(count: number, blockMs: number): Promise<StreamEntry[]> {
    const ready = await this.#guarded("new", ">", count);
    if (ready.entries.length > 0 || blockMs <= 0) return ready.entries;
    const reply = (await this.blocking.xreadgroup(
      "GROUP",
      this.#group,
      this.#consumer,
      "COUNT",
      1,
      "BLOCK",
      blockMs,
      "STREAMS",
      this.#stream,
      ">",
    )) as XReadGroupReply;
    return (reply?.[0]?.[1] ?? []).map(([id, fields]) => this.#whole(id, fields, 1));
  }

  /** This consumer's pending entries with ids above `cursor` (its history), with delivery counts. */
  async readPending(cursor: string, count: number): Promise<StreamEntry[]> {
    return (await this.#guarded("pending", cursor, count)).entries;
  }

  /**
   * Takes over entries that other consumers (dead workers) left pending for `minIdleMs` or more.
   * Entries already deleted from the stream come back as `deletedIds` (Redis ≥ 7.0 drops them
   * from the pending list).
   */
  async autoClaim(minIdleMs: number, cursor: string, count: number): Promise<AutoClaimResult> {
    const reply = await this.#guarded("claim", cursor, count, minIdleMs);
    return { cursor: reply.cursor, entries: reply.entries, deletedIds: reply.deletedIds };
  }

  /** The names and values of entry `id` as bytes; undefined when it is no longer in the stream. */
  async bytesOf(id: string): Promise<Buffer[] | undefined> {
    const [entry] = (await this.commands.xrangeBuffer(this.#stream, id, id)) as [
      Buffer,
      Buffer[] | null,
    ][];
    return entry?.[1] ?? undefined;
  }

  /**
   * The SHA-256 of an oversized entry, read whole on its own (one such entry in memory at a
   * time) and dropped; undefined when it is no longer in the stream.
   */
  async sha256Of(id: string): Promise<string | undefined> {
    // As bytes: hashed as they are, never decoded into strings.
    const [entry] = (await this.commands.xrangeBuffer(this.#stream, id, id)) as [
      Buffer,
      Buffer[] | null,
    ][];
    const fields = entry?.[1];
    return fields === undefined || fields === null ? undefined : sha256OfFields(fields);
  }

  /**
   * Resets the idle time of entries this consumer still owns, so a long batch is not reclaimed
   * from under it. Atomic (a script), so an entry another consumer has claimed meanwhile is
   * left alone; JUSTID keeps delivery counts unchanged. Safe to run twice.
   */
  async touch(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.commands.eval(TOUCH_SCRIPT, 1, this.#stream, this.#group, this.#consumer, ...ids);
  }

  /** Removes this consumer's name from the group if it owns no pending entry; true if removed. */
  async removeConsumerIfIdle(): Promise<boolean> {
    const removed = await this.commands.eval(
      DELETE_IF_IDLE_SCRIPT,
      1,
      this.#stream,
      this.#group,
      this.#consumer,
    );
    return removed === 1;
  }

  /** XACK; acknowledging an entry twice is harmless. */
  async ack(ids: readonly string[]): Promise<void> {
    if (ids.length > 0) await this.commands.xack(this.#stream, this.#group, ...ids);
  }

  /**
   * Resolves once both connections are ready again, or when `signal` aborts. One that still
   * looks ready gets a PING first: when the whole path went silent, a connection that was idle
   * then has not noticed (nothing was owed on it), and would be found dead only by the next
   * command sent after the other one came back, a whole timeout later. The PING finds out now,
   * within REDIS_TIMEOUT_MS, so both reconnect meanwhile.
   */
  async untilConnected(signal: AbortSignal): Promise<void> {
    for (const connection of [this.blocking, this.commands]) {
      if (connection.status === "ready") connection.ping().catch(() => {});
    }
    await untilReady(this.blocking, signal);
    await untilReady(this.commands, signal);
  }

  /** True when both connections are ready now. */
  get connected(): boolean {
    return this.blocking.status === "ready" && this.commands.status === "ready";
  }

  /**
   * Calls `listener` each time either connection is ready again after it was lost: whatever
   * was in flight then may have been delivered or claimed without this consumer hearing of it.
   */
  onReconnected(listener: () => void): void {
    for (const connection of [this.blocking, this.commands]) {
      let lost = false;
      connection.on("close", () => {
        lost = true;
      });
      connection.on("ready", () => {
        if (lost) listener();
        lost = false;
      });
    }
  }

  /** Ends a blocked read now; what Redis had delivered stays pending, read again on restart. */
  interrupt(): void {
    this.blocking.disconnect();
  }

  async #guarded(
    mode: "new" | "pending" | "claim",
    cursor: string,
    count: number,
    minIdleMs = 0,
  ): Promise<{ entries: StreamEntry[]; cursor: string; deletedIds: string[] }> {
    const reply = (await withScripts(this.blocking).coursepayRead(
      this.#stream,
      mode,
      this.#group,
      this.#consumer,
      count,
      this.#maxEventBytes,
      cursor,
      minIdleMs,
    )) as GuardedReply;
    const [raw, sizes, deliveries, next, deletedIds] = reply;
    const entries = raw.map(([id, fields], i) => {
      const size = sizes[i] ?? 0;
      const delivered = mode === "new" ? 1 : (deliveries[i] ?? 1);
      if (fields === null || size <= this.#maxEventBytes)
        return { id, fields, deliveries: delivered };
      return { id, fields, deliveries: delivered, oversized: oversizedEntry(fields, size, false) };
    });
    return { entries, cursor: next ?? "0-0", deletedIds: deletedIds ?? [] };
  }

  /** An entry read whole (the idle wait): an oversized one is cut down here, hashed on the way. */
  #whole(id: string, fields: string[] | null, deliveries: number): StreamEntry {
    if (fields === null) return { id, fields, deliveries };
    const size = entrySize(fields);
    if (size <= this.#maxEventBytes) return { id, fields, deliveries };
    const oversized = oversizedEntry(fields, size, true);
    return { id, fields: oversized.prefix, deliveries, oversized };
  }
}
