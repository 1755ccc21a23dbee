import { afterAll, afterEach, describe, expect, test } from "bun:test";
import type { StartedWorker as Worker } from "../../src/worker.ts";
import {
  countRows,
  publishPayment,
  startTestWorker,
  streamState,
  testConfig,
  testRedis,
  waitFor,
  waitUntilDrained,
} from "../support/worker-harness.ts";
import { holdWriteLock } from "../support/write-lock.ts";

const redis = testRedis();
const running: Worker[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((worker) => worker.stop()));
});
afterAll(() => redis.disconnect());

async function consumers(stream: string, group: string): Promise<Map<string, number>> {
  const rows = (await redis.xinfo("CONSUMERS", stream, group)) as unknown[][];
  const result = new Map<string, number>();
  for (const row of rows) {
    const record: Record<string, unknown> = {};
    for (let i = 0; i + 1 < row.length; i += 2) record[String(row[i])] = row[i + 1];
    result.set(String(record.name), Number(record.pending));
  }
  return result;
}

describe("entries abandoned by a dead worker", () => {
  test("are reclaimed with XAUTOCLAIM after CLAIM_IDLE_MS and applied once; deleted ones are counted", async () => {
    const config = testConfig({
      CLAIM_IDLE_MS: "1000",
      DATABASE_BUSY_TIMEOUT_MS: "300", // below CLAIM_IDLE_MS/3, or start-up is refused
      CONSUMER_NAME: "survivor",
    });
    await redis.xgroup("CREATE", config.eventStream, config.consumerGroup, "0", "MKSTREAM");
    for (let i = 0; i < 5; i++) {
      await publishPayment(redis, config.eventStream, {
        trace_id: `evt_abandoned_${i}`,
        user_id: `u${i}`,
      });
    }
    // A worker that read them and died: they sit in its pending list.
    await redis.xreadgroup(
      "GROUP",
      config.consumerGroup,
      "dead-worker",
      "COUNT",
      10,
      "STREAMS",
      config.eventStream,
      ">",
    );
    const oldest = (await redis.xrange(config.eventStream, "-", "+", "COUNT", 1))[0];
    await redis.xdel(config.eventStream, oldest?.[0] as string);

    const worker = await startTestWorker(config);
    running.push(worker);
    await waitUntilDrained(redis, config);
    expect(await countRows(worker.database, "SELECT count(*) FROM course_enrollments")).toBe(4);
    expect(worker.consumer?.reclaimed).toBe(4);
    expect(worker.consumer?.deletedEntries).toBe(1);
    expect((await consumers(config.eventStream, config.consumerGroup)).get("dead-worker")).toBe(0);
  });

  test("a live worker's slow batch is never reclaimed from under it", async () => {
    const config = testConfig({
      CLAIM_IDLE_MS: "1000",
      CONSUMER_NAME: "slow",
      DATABASE_BUSY_TIMEOUT_MS: "50",
    });
    const slow = await startTestWorker(config);
    running.push(slow);
    // A second worker of the same group on the same database, eager to reclaim.
    const other = await startTestWorker({ ...config, consumerName: "eager" });
    running.push(other);
    const lock = await holdWriteLock(config.databaseFilePath as string);
    await publishPayment(redis, config.eventStream, { trace_id: "evt_slow" });
    await waitFor(
      "the entry to be read",
      async () => (await streamState(redis, config)).pending === 1,
    );
    await Bun.sleep(3_000); // three times CLAIM_IDLE_MS with the batch stuck on the lock
    await lock.release();
    await waitUntilDrained(redis, config);
    expect((slow.consumer?.reclaimed ?? 0) + (other.consumer?.reclaimed ?? 0)).toBe(0);
    expect(await countRows(slow.database, "SELECT count(*) FROM processed_events")).toBe(1);
  });
});

describe("a clean stop", () => {
  test("with nothing pending removes the consumer name from the group", async () => {
    const config = testConfig({ CONSUMER_NAME: "short-lived" });
    const worker = await startTestWorker(config);
    await publishPayment(redis, config.eventStream, { trace_id: "evt_short" });
    await waitUntilDrained(redis, config);
    expect((await consumers(config.eventStream, config.consumerGroup)).has("short-lived")).toBe(
      true,
    );
    await worker.stop();
    expect((await consumers(config.eventStream, config.consumerGroup)).has("short-lived")).toBe(
      false,
    );
  });
});
