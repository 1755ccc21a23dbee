/**
 * Contender (b): the one-event-at-a-time loop. XREADGROUP COUNT 1 BLOCK, decode with the
 * project's `decodeEntry`, one write transaction per event (claim, then the enrollment), COMMIT,
 * XACK. An invalid event is dead-lettered (coursepay's dead-letter writer, confirmed by Redis)
 * and then ACKed. Same schema, same client settings (`createRedis`), same database opening.
 *
 * Run by the bench: `bun test/bench/contenders/one-at-a-time.ts` with the environment in
 * shared.ts.
 */
import { decodeEntry } from "../../../src/contract/decode.ts";
import { isCoursePaymentEvent } from "../../../src/course/payment-facts.ts";
import { DeadLetterWriter, deadLetterStreamName } from "../../../src/stream/dead-letters.ts";
import { createRedis } from "../../../src/stream/redis-connection.ts";
import {
  announceReady,
  applyPayment,
  contenderEnv,
  MAX_EVENT_BYTES,
  openBenchDatabase,
  readNewEntries,
  stopSignal,
  writeStats,
} from "./shared.ts";

const env = contenderEnv();
if (env.databaseUrl === undefined) throw new Error("DATABASE_URL is not set");
const { database, synchronous } = await openBenchDatabase(env.databaseUrl);
const blocking = createRedis(env.redisUrl, { connectionName: `bench-b:${env.consumer}:read` });
const commands = createRedis(env.redisUrl, { connectionName: `bench-b:${env.consumer}` });
await Promise.all([blocking.connect(), commands.connect()]);
const deadLetters = new DeadLetterWriter(commands, deadLetterStreamName(env.stream));
const signal = stopSignal();
const counts = { applied: 0, duplicate: 0, conflict: 0, invalid: 0, ignored: 0 };

announceReady({ synchronous });
signal.promise.then(() => blocking.disconnect());

while (!signal.stopped) {
  const entry = (await readNewEntries(blocking, env, 1, signal))?.[0];
  if (signal.stopped) break;
  if (entry === undefined) continue;
  const [id, fields] = entry;
  const decoded = decodeEntry(fields, { maxEventBytes: MAX_EVENT_BYTES });
  if (!decoded.ok) {
    counts.invalid++;
    await deadLetters.write([
      {
        originalId: id,
        originalFields: fields,
        reason: decoded.reason,
        detail: decoded.detail,
        attempts: 1,
        traceId: decoded.traceId,
        eventType: decoded.eventType,
      },
    ]);
  } else if (isCoursePaymentEvent(decoded.event)) {
    const outcome = await applyPayment(database.client, {
      event: decoded.event,
      entryId: id,
      payloadHash: decoded.payloadHash,
    });
    counts[outcome]++;
    if (outcome === "conflict") {
      await deadLetters.write([
        {
          originalId: id,
          originalFields: fields,
          reason: "conflict",
          detail: "trace_id already processed with another payload",
          attempts: 1,
          traceId: decoded.event.trace_id,
          eventType: decoded.event.event_type,
        },
      ]);
    }
  } else {
    counts.ignored++;
  }
  await commands.xack(env.stream, env.group, id);
}

writeStats(env.statsFile, { counts, synchronous });
await commands.quit().catch(() => commands.disconnect());
database.close();
process.exit(0);
