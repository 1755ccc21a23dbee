/**
 * Operations on the dead-letter stream (`<stream>.dlq`, `{<stream>}.dlq` in a cluster): read it, put dead letters back on the main
 * stream exactly as they arrived (replay) and remove them (purge). No printing: `src/cli/dlq.ts`
 * turns the results into output.
 */

import {
  compareEntryIds,
  ENTRY_ID,
  parseDeadLetter,
  type StoredDeadLetter,
} from "./dead-letter-entry.ts";
import { deadLetterStreamName } from "./dead-letters.ts";
import type { RedisClient } from "./redis-connection.ts";
import { redisErrorMessage } from "./redis-errors.ts";

export interface Replayed {
  /** The dead letter's id (now deleted). */
  id: string;
  /**
   * The id of the entry XADDed to the main stream; undefined when the reply was lost and the
   * resent call found the dead letter already replayed.
   */
  newId: string | undefined;
  traceId?: string | undefined;
}

export interface ReplayResult {
  /** Ids asked for but not in the dead-letter stream; when any, nothing was replayed. */
  missing: string[];
  /** In the order they were replayed. */
  replayed: Replayed[];
  /** The replay that failed; that dead letter and every later one stay where they are. */
  failed?: { id: string; message: string } | undefined;
  /** How many dead letters were not tried because an earlier one failed. */
  notAttempted: number;
}

export interface PurgeResult {
  /** Ids asked for but not in the dead-letter stream; when any, nothing was removed. */
  missing: string[];
  removed: number;
}

export interface DeadLetterStoreOptions {
  /**
   * The dead-letter stream; Config.deadLetterStream (`{<stream>}.dlq` in a cluster).
   * @defaultValue `<stream>.dlq`
   */
  deadLetterStream?: string | undefined;
  /**
   * Entries read per XRANGE by replayAll and purgeAll.
   * @defaultValue 500
   */
  pageSize?: number;
}

/**
 * KEYS[1] dead-letter stream, KEYS[2] stream; ARGV[1] the dead letter's id, then its original
 * fields. XADDs them only while the dead letter is still there, then deletes it: one script, so
 * a call resent after a lost reply finds it gone and puts nothing on the stream twice. A failing
 * XADD stops before the XDEL, so the dead letter stays. Reply: the new entry id, or nil. In a
 * cluster both keys share a slot (the dead-letter stream's hash tag), as one script needs.
 */
const REPLAY_SCRIPT = `
if #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 0 then return false end
local id = redis.call('XADD', KEYS[2], '*', unpack(ARGV, 2))
redis.call('XDEL', KEYS[1], ARGV[1])
return id`;

export class DeadLetterStore {
  readonly deadLetterStream: string;
  readonly #pageSize: number;

  constructor(
    private readonly redis: RedisClient,
    /** The main stream (EVENT_STREAM) replays go to. */
    readonly stream: string,
    options: DeadLetterStoreOptions = {},
  ) {
    this.deadLetterStream = options.deadLetterStream ?? deadLetterStreamName(stream);
    this.#pageSize = options.pageSize ?? 500;
  }

  /** How many dead letters there are (XLEN). */
  async count(): Promise<number> {
    return this.redis.xlen(this.deadLetterStream);
  }

  /** The newest `limit` dead letters, oldest first (newest last). */
  async list(limit: number): Promise<StoredDeadLetter[]> {
    const entries = await this.redis.xrevrange(this.deadLetterStream, "+", "-", "COUNT", limit);
    return entries.reverse().map(([id, fields]) => parseDeadLetter(id, fields));
  }

  /** The dead letters with these ids, in stream order, and the ids not found. */
  async get(ids: readonly string[]): Promise<{ found: StoredDeadLetter[]; missing: string[] }> {
    const unique = [...new Set(ids)];
    const wellFormed = unique.filter((id) => ENTRY_ID.test(id));
    const pipeline = this.redis.pipeline();
    for (const id of wellFormed) pipeline.xrange(this.deadLetterStream, id, id);
    const replies = wellFormed.length === 0 ? [] : ((await pipeline.exec()) ?? []);
    const found: StoredDeadLetter[] = [];
    const foundIds = new Set<string>();
    for (const [index, [error, reply]] of replies.entries()) {
      if (error) throw error;
      const entry = (reply as [string, string[]][])[0];
      if (entry === undefined) continue;
      found.push(parseDeadLetter(entry[0], entry[1]));
      foundIds.add(wellFormed[index] as string);
    }
    found.sort((a, b) => compareEntryIds(a.id, b.id));
    return { found, missing: unique.filter((id) => !foundIds.has(id)) };
  }

  /**
   * Replays these dead letters in stream order, provided all of them exist (otherwise nothing is
   * replayed and `missing` names the others). Stops at the first failure.
   */
  async replay(
    ids: readonly string[],
    onReplayed?: (replayed: Replayed) => void,
  ): Promise<ReplayResult> {
    const { found, missing } = await this.get(ids);
    if (missing.length > 0) return { missing, replayed: [], notAttempted: 0 };
    const result: ReplayResult = { missing: [], replayed: [], notAttempted: 0 };
    await this.#replayEach(found, result, onReplayed);
    return result;
  }

  /**
   * Replays every dead letter present when it starts, oldest first, a page at a time. Dead
   * letters written meanwhile (a replayed event failing again, say) are left for the next run.
   */
  async replayAll(
    onReplayed?: (replayed: Replayed) => void,
    /** Only the dead letters it accepts (`dlq replay --reason R`); the others stay. */
    only: (letter: StoredDeadLetter) => boolean = () => true,
  ): Promise<ReplayResult> {
    const result: ReplayResult = { missing: [], replayed: [], notAttempted: 0 };
    const end = await this.#newestId();
    if (end === undefined) return result;
    const select = (page: [string, string[]][]) =>
      page.map(([id, fields]) => parseDeadLetter(id, fields)).filter(only);
    for await (const page of this.#pages(end)) {
      const letters = select(page);
      if (!(await this.#replayEach(letters, result, onReplayed))) {
        // #replayEach counted the rest of this page; add the pages after it.
        for await (const rest of this.#pages(end, page.at(-1)?.[0])) {
          result.notAttempted += select(rest).length;
        }
        break;
      }
    }
    return result;
  }

  /** Deletes these dead letters, provided all of them exist (otherwise none). */
  async purge(ids: readonly string[]): Promise<PurgeResult> {
    const { found, missing } = await this.get(ids);
    if (missing.length > 0) return { missing, removed: 0 };
    if (found.length === 0) return { missing: [], removed: 0 };
    const removed = await this.redis.xdel(this.deadLetterStream, ...found.map((l) => l.id));
    return { missing: [], removed };
  }

  /**
   * Deletes every dead letter present when it starts, a page at a time. The key itself stays, so
   * dead letters written meanwhile are kept.
   */
  async purgeAll(): Promise<number> {
    let removed = 0;
    const end = await this.#newestId();
    if (end === undefined) return removed;
    for await (const page of this.#pages(end)) {
      removed += await this.redis.xdel(this.deadLetterStream, ...page.map(([id]) => id));
    }
    return removed;
  }

  /** XADD then XDEL, one dead letter at a time; false once one has failed. */
  async #replayEach(
    letters: readonly StoredDeadLetter[],
    result: ReplayResult,
    onReplayed: ((replayed: Replayed) => void) | undefined,
  ): Promise<boolean> {
    for (const [index, letter] of letters.entries()) {
      const failure = await this.#replayOne(letter, result, onReplayed);
      if (failure !== undefined) {
        result.failed = { id: letter.id, message: failure };
        result.notAttempted += letters.length - index - 1;
        return false;
      }
    }
    return true;
  }

  /** Replays one dead letter; the reason it failed, or undefined. */
  async #replayOne(
    letter: StoredDeadLetter,
    result: ReplayResult,
    onReplayed: ((replayed: Replayed) => void) | undefined,
  ): Promise<string | undefined> {
    if (letter.truncated !== undefined) {
      return `its original (${letter.truncated.bytes} bytes) was too large to keep; only a prefix is stored, so it cannot be replayed`;
    }
    if (letter.original === undefined) {
      return "its original is not a JSON array of field/value pairs";
    }
    let newId: string | undefined;
    try {
      const reply = await this.redis.eval(
        REPLAY_SCRIPT,
        2,
        this.deadLetterStream,
        this.stream,
        letter.id,
        ...(letter.originalEncoding === "base64"
          ? letter.original.map((field) => Buffer.from(field, "base64"))
          : letter.original),
      );
      newId = typeof reply === "string" ? reply : undefined;
    } catch (error) {
      return `XADD ${this.stream} failed: ${messageOf(error)}`;
    }
    const replayed = { id: letter.id, newId, traceId: letter.traceId };
    result.replayed.push(replayed);
    onReplayed?.(replayed);
    return undefined;
  }

  /** The id of the newest dead letter, undefined when there is none. */
  async #newestId(): Promise<string | undefined> {
    const newest = await this.redis.xrevrange(this.deadLetterStream, "+", "-", "COUNT", 1);
    return newest[0]?.[0];
  }

  /**
   * Pages of the dead letters up to `end`, from after `afterId` (or the start). Each page is
   * read once the previous one was handled, so deleting what was read is fine.
   */
  async *#pages(end: string, afterId?: string): AsyncGenerator<[id: string, fields: string[]][]> {
    let start = afterId === undefined ? "-" : `(${afterId}`;
    for (;;) {
      const page = await this.redis.xrange(
        this.deadLetterStream,
        start,
        end,
        "COUNT",
        this.#pageSize,
      );
      if (page.length === 0) return;
      yield page;
      const last = page.at(-1)?.[0] as string;
      if (last === end || page.length < this.#pageSize) return;
      start = `(${last}`;
    }
  }
}

function messageOf(error: unknown): string {
  return redisErrorMessage(error);
}
