import { afterAll, expect, test } from "bun:test";
import { encodeDataForm } from "../../src/contract/wire-format.ts";
import {
  countRows,
  paymentEnvelope,
  startTestWorker,
  streamState,
  testConfig,
  testRedis,
  waitFor,
  waitUntilDrained,
} from "../support/worker-harness.ts";
import { holdWriteLock } from "../support/write-lock.ts";

const redis = testRedis();
afterAll(() => redis.disconnect());

test("a write lock held elsewhere: the worker waits, reopens its client, and applies everything once", async () => {
  const config = testConfig({ DATABASE_BUSY_TIMEOUT_MS: "100" });
  const worker = await startTestWorker(config);
  const clientBefore = worker.database.client;
  try {
    const other = await holdWriteLock(config.databaseFilePath as string);
    const publishing = redis.pipeline();
    for (let i = 0; i < 20; i++) {
      publishing.xadd(
        config.eventStream,
        "*",
        ...encodeDataForm(paymentEnvelope({ trace_id: `evt_lock_${i}`, user_id: `u${i}` })),
      );
    }
    await publishing.exec();
    // The worker has read them and keeps failing on the lock: nothing is ACKed or dead-lettered.
    await waitFor(
      "the batch to be read",
      async () => (await streamState(redis, config)).pending > 0,
    );
    await Bun.sleep(500);
    const held = await streamState(redis, config);
    expect(held.pending + (held.lag ?? 0)).toBe(20);
    expect(held.deadLetters).toBe(0);
    expect(worker.database.client).not.toBe(clientBefore);

    await other.release();
    await waitUntilDrained(redis, config);
    expect(await countRows(worker.database, "SELECT count(*) FROM course_enrollments")).toBe(20);
    expect(await countRows(worker.database, "SELECT count(*) FROM processed_events")).toBe(20);
    expect((await streamState(redis, config)).deadLetters).toBe(0);
  } finally {
    await worker.stop();
  }
});
