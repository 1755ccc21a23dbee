import { afterAll, describe, expect, test } from "bun:test";
import Redis from "ioredis";
import { restartableRedis } from "../support/fixtures.ts";
import {
  countRows,
  killSpawnedWorkers,
  openTestDatabase,
  publishPayment,
  spawnWorker,
  streamState,
  testConfig,
  waitFor,
} from "../support/worker-harness.ts";

// A Redis of these tests' own: CLIENT PAUSE must not stall the other tests.
const server = await restartableRedis();
const redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
afterAll(async () => {
  killSpawnedWorkers();
  redis.disconnect();
  await server.stop();
});

async function startedWorker(env: Record<string, string> = {}) {
  const config = testConfig({ REDIS_URL: server.url });
  const worker = spawnWorker(config, { LOG_LEVEL: "info", ...env });
  await waitFor("the consumer to start", () => worker.output().includes("Event consumer started"));
  return { config, worker };
}

async function consumerNames(stream: string, group: string): Promise<string[]> {
  const rows = (await redis.xinfo("CONSUMERS", stream, group)) as unknown[][];
  return rows.map((row) => String(row[1]));
}

describe("graceful shutdown", () => {
  test("SIGTERM: the payment in hand is applied and ACKed, the name leaves the group, exit 0", async () => {
    const { config, worker } = await startedWorker();
    await publishPayment(redis, config.eventStream, { trace_id: "evt_shutdown" });
    await waitFor(
      "the payment to be read",
      async () => (await streamState(redis, config)).lag === 0,
    );
    worker.child.kill("SIGTERM");
    expect(await worker.child.exited).toBe(0);
    expect(await streamState(redis, config)).toMatchObject({ pending: 0, lag: 0 });
    const database = await openTestDatabase(config);
    expect(await countRows(database, "SELECT count(*) FROM processed_events")).toBe(1);
    database.close();
    expect(await consumerNames(config.eventStream, config.consumerGroup)).toEqual([]);
    expect(worker.output()).toContain("Stopped");
  });

  test("past SHUTDOWN_TIMEOUT_MS the worker exits 1", async () => {
    // DATABASE_BUSY_TIMEOUT_MS below SHUTDOWN_TIMEOUT_MS, or start-up is refused.
    const { worker } = await startedWorker({
      SHUTDOWN_TIMEOUT_MS: "300",
      DATABASE_BUSY_TIMEOUT_MS: "200",
    });
    await redis.client("PAUSE", 3_000, "ALL"); // Redis stops answering: closing cannot finish
    try {
      const started = Date.now();
      worker.child.kill("SIGTERM");
      expect(await worker.child.exited).toBe(1);
      expect(Date.now() - started).toBeLessThan(2_500);
      expect(worker.output()).toContain("Shutdown timed out");
    } finally {
      await redis.client("UNPAUSE");
    }
  });

  test("SIGTERM during start-up, before the consumer runs, exits 0", async () => {
    const config = testConfig({ REDIS_URL: server.url });
    // Redis answers nothing for a while, so start-up is still connecting when the signal comes.
    await redis.client("PAUSE", 1_500, "ALL");
    try {
      const worker = spawnWorker(config, { LOG_LEVEL: "info" });
      await waitFor("serve to start", () => worker.output().includes("Starting coursepay"));
      worker.child.kill("SIGTERM");
      expect(await worker.child.exited).toBe(0);
      expect(worker.output()).not.toContain("Event consumer started");
    } finally {
      await redis.client("UNPAUSE");
    }
  });

  test("a second signal exits at once with 130", async () => {
    const { worker } = await startedWorker({ SHUTDOWN_TIMEOUT_MS: "10000" });
    await redis.client("PAUSE", 3_000, "ALL");
    try {
      worker.child.kill("SIGTERM");
      await Bun.sleep(200);
      worker.child.kill("SIGINT");
      expect(await worker.child.exited).toBe(130);
    } finally {
      await redis.client("UNPAUSE");
    }
  });
});
