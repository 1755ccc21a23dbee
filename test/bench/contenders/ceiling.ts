/**
 * Contender (c): the ceiling. XREADGROUP COUNT 500 BLOCK, decode every entry with the project's
 * `decodeEntry`, then one pipeline with the dead letters of the invalid ones and one XACK for the
 * whole batch. No database: what Redis, the client and decoding allow on this machine.
 *
 * With LATENCY_FILE set it records, for each valid unique payment (first occurrence), the time
 * from its `published_at_us` to the reply of the XACK that settled it: pairs (event index, ms)
 * as little-endian float64s, appended to the file after every batch (nothing kept in memory but
 * a one-byte-per-event "seen" map, so the recording barely shows in this process's RSS).
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { decodeEntry } from "../../../src/contract/decode.ts";
import {
  type DeadLetter,
  DeadLetterWriter,
  deadLetterFields,
  deadLetterStreamName,
} from "../../../src/stream/dead-letters.ts";
import { createRedis } from "../../../src/stream/redis-connection.ts";
import { indexOfTraceId, nowUs } from "../events.ts";
import {
  announceReady,
  contenderEnv,
  MAX_EVENT_BYTES,
  readNewEntries,
  stopSignal,
  writeStats,
} from "./shared.ts";

const BATCH = 500;
const PUBLISHED_AT = /"published_at_us":(\d+)/;

const env = contenderEnv();
const blocking = createRedis(env.redisUrl, { connectionName: `bench-c:${env.consumer}:read` });
const commands = createRedis(env.redisUrl, { connectionName: `bench-c:${env.consumer}` });
await Promise.all([blocking.connect(), commands.connect()]);
// Only its stream name and field layout are used: the dead letters go into the ACK pipeline.
const dlq = new DeadLetterWriter(commands, deadLetterStreamName(env.stream));
const signal = stopSignal();
const counts = { valid: 0, invalid: 0 };
const latencyFd = env.latencyFile === undefined ? undefined : openSync(env.latencyFile, "w");
let seen = new Uint8Array(1 << 16);
function firstTime(index: number): boolean {
  if (index >= seen.length) {
    let size = seen.length;
    while (size <= index) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(seen);
    seen = grown;
  }
  if (seen[index] === 1) return false;
  seen[index] = 1;
  return true;
}

announceReady({ synchronous: "n/a (no database)" });
signal.promise.then(() => blocking.disconnect());

while (!signal.stopped) {
  const entries = await readNewEntries(blocking, env, BATCH, signal);
  if (entries === undefined) break;
  if (entries.length === 0) continue;
  const letters: DeadLetter[] = [];
  const published: number[] = [];
  for (const [id, fields] of entries) {
    const decoded = decodeEntry(fields, { maxEventBytes: MAX_EVENT_BYTES });
    if (!decoded.ok) {
      counts.invalid++;
      letters.push({
        originalId: id,
        originalFields: fields,
        reason: decoded.reason,
        detail: decoded.detail,
        attempts: 1,
        traceId: decoded.traceId,
        eventType: decoded.eventType,
      });
      continue;
    }
    counts.valid++;
    if (latencyFd !== undefined) {
      const index = indexOfTraceId(decoded.event.trace_id);
      const stamp = PUBLISHED_AT.exec(decoded.data ?? "")?.[1];
      if (index >= 0 && stamp !== undefined && firstTime(index)) {
        published.push(index, Number(stamp));
      }
    }
  }
  const pipeline = commands.pipeline();
  for (const letter of letters)
    pipeline.xadd(dlq.streamName, "*", ...deadLetterFields(letter, new Date().toISOString()));
  pipeline.xack(env.stream, env.group, ...entries.map(([id]) => id));
  const replies = (await pipeline.exec()) ?? [];
  const failure = replies.find(([error]) => error !== null)?.[0];
  if (failure) throw failure;
  const ackedUs = nowUs();
  if (latencyFd !== undefined && published.length > 0) {
    const pairs = new Float64Array(published.length);
    for (let k = 0; k < published.length; k += 2) {
      pairs[k] = published[k] as number;
      pairs[k + 1] = (ackedUs - (published[k + 1] as number)) / 1000;
    }
    writeSync(latencyFd, new Uint8Array(pairs.buffer));
  }
}

if (latencyFd !== undefined) closeSync(latencyFd);
writeStats(env.statsFile, { counts });
await commands.quit().catch(() => commands.disconnect());
process.exit(0);
