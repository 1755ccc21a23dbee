/**
 * Opt-in retention of the event stream (TRIM_STREAM): drops entries that every consumer group
 * has delivered AND acknowledged and that are older than STREAM_RETENTION_MS, so nothing a group
 * has not read, or has read but not settled, is ever removed. The dead-letter stream is never
 * passed here: dead letters are only removed by `coursepay dlq`.
 */
import type { RedisClient } from "./redis-connection.ts";

/** Where one consumer group stands, from XINFO GROUPS and the XPENDING summary. */
export interface GroupPosition {
  name: string;
  /** The last entry delivered to the group's consumers (`0-0` when none yet). */
  lastDeliveredId: string;
  /** The group's oldest delivered but unacknowledged entry; undefined when nothing is pending. */
  oldestPendingId: string | undefined;
}

/** A stream id as two exact decimal parts (bigint: the sequence may exceed 2^53). */
interface ParsedId {
  ms: bigint;
  seq: bigint;
}

const STREAM_ID = /^(\d+)-(\d+)$/;

function parseId(id: string): ParsedId {
  const match = STREAM_ID.exec(id);
  if (match === null) throw new TypeError(`not a stream entry id: ${JSON.stringify(id)}`);
  return { ms: BigInt(match[1] as string), seq: BigInt(match[2] as string) };
}

/** Negative, zero or positive as `a` is older than, equal to or newer than `b`. */
export function compareStreamIds(a: string, b: string): number {
  const left = parseId(a);
  const right = parseId(b);
  if (left.ms !== right.ms) return left.ms < right.ms ? -1 : 1;
  if (left.seq !== right.seq) return left.seq < right.seq ? -1 : 1;
  return 0;
}

/**
 * The MINID for `XTRIM <stream> MINID <id>` (which removes the entries BELOW it and keeps the
 * ones at or above it), or undefined when nothing may be trimmed. It is the lowest of:
 * - each group's last-delivered-id: later entries have not reached that group yet (that entry
 *   itself stays too, which costs one entry and keeps the rule simple);
 * - each group's oldest pending id: from there on, an entry may still be unacknowledged;
 * - `<nowMs − retentionMs>-0`: newer entries are kept for the retention period anyway.
 * With no group at all, nobody's progress is known, so nothing is trimmed.
 */
export function safeTrimId(
  groups: readonly GroupPosition[],
  nowMs: number,
  retentionMs: number,
): string | undefined {
  if (groups.length === 0) return undefined;
  let lowest = `${Math.max(0, Math.floor(nowMs - retentionMs))}-0`;
  for (const group of groups) {
    for (const id of [group.lastDeliveredId, group.oldestPendingId]) {
      if (id !== undefined && compareStreamIds(id, lowest) < 0) lowest = id;
    }
  }
  return lowest === "0-0" ? undefined : lowest;
}

/**
 * KEYS[1] stream; ARGV[1] minid. Checks again, atomically, that no group has its
 * last-delivered-id or its oldest pending entry below minid (a group created or moved back with
 * XGROUP SETID since the positions were read), and only then trims. -1: not safe any more.
 * Ids are compared as decimal strings (length, then text), which is exact at any size.
 */
const GUARDED_TRIM_SCRIPT = `
local function lessNumber(a, b)
  if #a ~= #b then return #a < #b end
  return a < b
end
local function lessId(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  if am ~= bm then return lessNumber(am, bm) end
  return lessNumber(as, bs)
end
local minid = ARGV[1]
local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
if #groups == 0 then return -1 end
for _, group in ipairs(groups) do
  local fields = {}
  for i = 1, #group, 2 do fields[group[i]] = group[i + 1] end
  if lessId(fields['last-delivered-id'], minid) then return -1 end
  if fields['pending'] > 0 then
    local oldest = redis.call('XPENDING', KEYS[1], fields['name'])[2]
    if lessId(oldest, minid) then return -1 end
  end
end
return redis.call('XTRIM', KEYS[1], 'MINID', minid)`;

export interface TrimResult {
  /** The MINID used; undefined when nothing was safe to trim. */
  minId: string | undefined;
  /** Entries removed. */
  trimmed: number;
  /** True when a group moved back between reading the positions and trimming: try next time. */
  skipped: boolean;
}

/** Reads every group's position on the stream; none when the stream does not exist. */
export async function readGroupPositions(
  redis: RedisClient,
  stream: string,
): Promise<GroupPosition[]> {
  let reply: unknown[][];
  try {
    reply = (await redis.xinfo("GROUPS", stream)) as unknown[][];
  } catch (error) {
    if (error instanceof Error && /no such key/i.test(error.message)) return [];
    throw error;
  }
  const positions: GroupPosition[] = [];
  for (const fields of reply) {
    const record = new Map<string, unknown>();
    for (let i = 0; i + 1 < fields.length; i += 2) record.set(String(fields[i]), fields[i + 1]);
    const name = String(record.get("name"));
    let oldestPendingId: string | undefined;
    if (Number(record.get("pending")) > 0) {
      // The summary form: [count, smallest id, greatest id, [[consumer, count], …]].
      const summary = (await redis.xpending(stream, name)) as [number, string | null, ...unknown[]];
      oldestPendingId = summary[1] ?? undefined;
    }
    positions.push({
      name,
      lastDeliveredId: String(record.get("last-delivered-id")),
      oldestPendingId,
    });
  }
  return positions;
}

/** XTRIM MINID `minId`, unless a group now stands below it (see GUARDED_TRIM_SCRIPT). */
export async function trimBelow(
  redis: RedisClient,
  stream: string,
  minId: string,
): Promise<TrimResult> {
  let removed: number;
  try {
    removed = Number(await redis.eval(GUARDED_TRIM_SCRIPT, 1, stream, minId));
  } catch (error) {
    if (error instanceof Error && /no such key/i.test(error.message)) {
      return { minId, trimmed: 0, skipped: true };
    }
    throw error;
  }
  return removed < 0
    ? { minId, trimmed: 0, skipped: true }
    : { minId, trimmed: removed, skipped: false };
}

/** One retention pass: read the groups, compute the safe MINID, trim below it. */
export async function trimStreamOnce(
  redis: RedisClient,
  stream: string,
  retentionMs: number,
): Promise<TrimResult> {
  // Entry ids carry Redis' clock, so the cutoff is measured on it too, not on this host's.
  const [seconds, micros] = await redis.time();
  const nowMs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  const minId = safeTrimId(await readGroupPositions(redis, stream), nowMs, retentionMs);
  if (minId === undefined) return { minId, trimmed: 0, skipped: false };
  return trimBelow(redis, stream, minId);
}

export interface RetentionLogger {
  info(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface StreamRetentionOptions {
  redis: RedisClient;
  stream: string;
  retentionMs: number;
  logger: RetentionLogger;
  /** How often to trim. @defaultValue 60000 */
  intervalMs?: number;
}

export interface StreamRetention {
  /** Stops the timer; a pass in flight finishes or fails on its own (its errors are logged). */
  stop(): void;
}

export const DEFAULT_TRIM_INTERVAL_MS = 60_000;

/** Trims now and then every `intervalMs`; one pass at a time; failures are logged and retried. */
export function startStreamRetention(options: StreamRetentionOptions): StreamRetention {
  const { redis, stream, retentionMs, logger } = options;
  let running = false;
  let stopped = false;
  const pass = async () => {
    if (running || stopped) return;
    running = true;
    try {
      const result = await trimStreamOnce(redis, stream, retentionMs);
      const fields = { stream, min_id: result.minId, trimmed: result.trimmed };
      if (result.trimmed > 0) logger.info(fields, "Stream trimmed");
      else if (result.skipped) logger.debug(fields, "Stream trim skipped: a group moved back");
      else logger.debug(fields, "Stream trim: nothing to remove");
    } catch (error) {
      if (!stopped) logger.warn({ stream, err: error }, "Stream trim failed; trying again later");
    } finally {
      running = false;
    }
  };
  const intervalMs = options.intervalMs ?? DEFAULT_TRIM_INTERVAL_MS;
  logger.info(
    { stream, retention_ms: retentionMs, interval_ms: intervalMs },
    "Stream retention on: trimming entries every group has acknowledged",
  );
  void pass();
  const timer = setInterval(pass, intervalMs);
  timer.unref?.();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
