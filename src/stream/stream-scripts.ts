/**
 * Lua run by Redis for the consumer. Each one is safe to run twice: ioredis, or the consumer
 * itself after a lost reply, may send it again.
 */

import { OVERSIZED_PREFIX_BYTES } from "./oversized-entry.ts";
import type { RedisClient } from "./redis-connection.ts";

/**
 * KEYS[1] stream; ARGV mode (`new` | `pending` | `claim`), group, consumer, count, max bytes,
 * cursor (`>`, an id for `pending`, the XAUTOCLAIM cursor for `claim`), min idle (`claim`).
 * XREADGROUP or XAUTOCLAIM, with every entry over `max bytes` cut down to a prefix here, so the
 * reply is bounded by count × max bytes. For `pending` and `claim`, each entry's delivery count
 * (XPENDING) in the same round trip.
 * Reply: entries ([id, fields | nil]), their sizes, their delivery counts, next cursor, deleted ids.
 */
export const GUARDED_READ_SCRIPT = `
local stream = KEYS[1]
local mode, group, consumer = ARGV[1], ARGV[2], ARGV[3]
local count, max = tonumber(ARGV[4]), tonumber(ARGV[5])
local entries, cursor, deleted = {}, '0-0', {}
if mode == 'claim' then
  local reply = redis.call('XAUTOCLAIM', stream, group, consumer, ARGV[7], ARGV[6], 'COUNT', count)
  cursor, deleted = reply[1], reply[3] or {}
  for _, entry in ipairs(reply[2]) do
    if type(entry) == 'table' and entry[1] then entries[#entries + 1] = entry end
  end
else
  local reply = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', count, 'STREAMS', stream, ARGV[6])
  if reply then entries = reply[1][2] end
end
local sizes, deliveries = {}, {}
for i, entry in ipairs(entries) do
  local fields, size = entry[2], 0
  if fields then
    for j = 1, #fields do size = size + #fields[j] end
    if size > max then
      local prefix, left = {}, ${OVERSIZED_PREFIX_BYTES}
      for j = 1, #fields do
        if left <= 0 then break end
        prefix[j] = string.sub(fields[j], 1, left)
        left = left - #prefix[j]
      end
      entry[2] = prefix
    end
  end
  sizes[i] = size
end
if mode ~= 'new' and #entries > 0 then
  local first, last = entries[1][1], entries[#entries][1]
  local byId = {}
  for _, p in ipairs(redis.call('XPENDING', stream, group, first, last, #entries, consumer)) do
    byId[p[1]] = p[4]
  end
  for i, entry in ipairs(entries) do deliveries[i] = byId[entry[1]] or 1 end
end
return {entries, sizes, deliveries, cursor, deleted}`;

export type GuardedReply = [
  entries: [id: string, fields: string[] | null][],
  sizes: number[],
  deliveries: number[],
  cursor: string,
  deletedIds: string[],
];

/**
 * KEYS[1] dead-letter stream, KEYS[2] stream; ARGV group, n, then n ids to ACK, then per dead
 * letter: its entry id, its field count and its fields.
 * The plain ACKs first (their outcome is already durable). Then each dead letter on its own:
 * written and its entry ACKed only while that entry is still pending in the group, so a resent
 * or retried call writes nothing twice. A failing XADD stops the script before that entry's ACK
 * (scripts do not roll back, so each letter is one XADD followed by one XACK).
 * Reply: the entry ids whose dead letters were written (an empty table when none).
 */
export const SETTLE_SCRIPT = `
local dlq, stream, group = KEYS[1], KEYS[2], ARGV[1]
local acks = tonumber(ARGV[2])
local i = 3
while i < 3 + acks do
  local last = math.min(i + 999, 2 + acks)
  redis.call('XACK', stream, group, unpack(ARGV, i, last))
  i = last + 1
end
local written = {}
while i <= #ARGV do
  local id, n = ARGV[i], tonumber(ARGV[i + 1])
  if #redis.call('XPENDING', stream, group, id, id, 1) > 0 then
    redis.call('XADD', dlq, '*', unpack(ARGV, i + 2, i + 1 + n))
    redis.call('XACK', stream, group, id)
    written[#written + 1] = id
  end
  i = i + 2 + n
end
return written`;

/** A connection with the scripts above registered (EVALSHA, falling back to EVAL once). */
export interface ScriptedRedis {
  coursepayRead(...keysAndArgs: (string | number)[]): Promise<unknown>;
  coursepaySettle(...keysAndArgs: (string | number)[]): Promise<unknown>;
}

export function withScripts(redis: RedisClient): ScriptedRedis {
  const scripted = redis as unknown as Partial<ScriptedRedis> & RedisClient;
  if (scripted.coursepayRead === undefined) {
    redis.defineCommand("coursepayRead", { numberOfKeys: 1, lua: GUARDED_READ_SCRIPT });
    redis.defineCommand("coursepaySettle", { numberOfKeys: 2, lua: SETTLE_SCRIPT });
  }
  return scripted as unknown as ScriptedRedis;
}
