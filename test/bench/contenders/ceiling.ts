/**
 * Contender (c): the ceiling. XREADGROUP COUNT 500 BLOCK, decode every entry with the project's
 * `decodeEntry`, then one pipeline with the dead letters of the invalid ones and one XACK for the
 * whole batch. No database: what Redis, the client and decoding allow on this machine.
 *
 * With LATENCY_FILE set it records, for each valid unique payment, the time from its
 * `published_at_us` to the reply of the XACK that settled it (ms), written at exit as float64s.
 */
import { writeFileSync } from "node:fs";
import { decodeEntry } from "../../../src/contract/decode.ts";
import {
  type DeadLetter,
  DeadLetterWriter,
  deadLetterStreamName,
} from "../../../src/stream/dead-letters.ts";
import { createRedis } from "../../../src/stream/redis-connection.ts";
import { nowUs } from "../events.ts";
import { announceReady, contenderEnv, MAX_EVENT_BYTES, stopSignal, writeStats } from "./shared.ts";

type Reply = [string, [string, string[]][]][] | null;
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
const seen = new Set<string>();
let latencies = new Float64Array(1 << 16);
let latencyCount = 0;

announceReady({ synchronous: "n/a (no database)" });
signal.promise.then(() => blocking.disconnect());

while (!signal.stopped) {
  let reply: Reply;
  try {
    reply = (await blocking.xreadgroup(
      "GROUP",
      env.group,
      env.consumer,
      "COUNT",
      BATCH,
      "BLOCK",
      1000,
      "STREAMS",
      env.stream,
      ">",
    )) as Reply;
  } catch (error) {
    if (signal.stopped) break;
    throw error;
  }
  const entries = reply?.[0]?.[1] ?? [];
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
    if (env.latencyFile !== undefined && !seen.has(decoded.event.trace_id)) {
      seen.add(decoded.event.trace_id);
      const stamp = PUBLISHED_AT.exec(decoded.data ?? "")?.[1];
      if (stamp !== undefined) published.push(Number(stamp));
    }
  }
  const pipeline = commands.pipeline();
  for (const letter of letters) pipeline.xadd(dlq.streamName, "*", ...deadLetterFields(letter));
  pipeline.xack(env.stream, env.group, ...entries.map(([id]) => id));
  const replies = (await pipeline.exec()) ?? [];
  const failure = replies.find(([error]) => error !== null)?.[0];
  if (failure) throw failure;
  const ackedUs = nowUs();
  for (const stamp of published) {
    if (latencyCount === latencies.length) {
      const grown = new Float64Array(latencies.length * 2);
      grown.set(latencies);
      latencies = grown;
    }
    latencies[latencyCount++] = (ackedUs - stamp) / 1000;
  }
}

if (env.latencyFile !== undefined) {
  writeFileSync(env.latencyFile, new Uint8Array(latencies.buffer, 0, latencyCount * 8));
}
writeStats(env.statsFile, { counts });
await commands.quit().catch(() => commands.disconnect());
process.exit(0);

/** The same fields coursepay's DeadLetterWriter writes. */
function deadLetterFields(letter: DeadLetter): string[] {
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
    new Date().toISOString(),
  ];
  if (letter.traceId !== undefined) fields.push("trace_id", letter.traceId);
  if (letter.eventType !== undefined) fields.push("event_type", letter.eventType);
  return fields;
}
