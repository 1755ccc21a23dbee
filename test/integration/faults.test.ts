import { afterAll, describe, expect, test } from "bun:test";
import Redis from "ioredis";
import { encodeDataForm } from "../../src/contract/wire-format.ts";
import { crashAndRecover } from "../support/crash-run.ts";
import { restartableRedis } from "../support/fixtures.ts";
import {
  capturingLogger,
  countRows,
  killSpawnedWorkers,
  paymentEnvelope,
  publishPayment,
  startTestWorker,
  streamState,
  testConfig,
  testRedis,
  waitFor,
  waitUntilDrained,
} from "../support/worker-harness.ts";

const redis = testRedis();
afterAll(() => {
  killSpawnedWorkers();
  redis.disconnect();
});

async function publishMany(client: Redis, stream: string, count: number, prefix: string) {
  const pipeline = client.pipeline();
  for (let i = 0; i < count; i++) {
    const envelope = paymentEnvelope({
      trace_id: `${prefix}_${i}`,
      user_id: `${prefix}_user_${i}`,
    });
    pipeline.xadd(stream, "*", ...encodeDataForm(envelope));
  }
  await pipeline.exec();
}

describe("a worker killed with SIGKILL mid-stream", () => {
  test.each([
    ["restarted under the same consumer name", "victim", {}],
    [
      "replaced by another worker that reclaims its entries",
      "replacement",
      // DATABASE_BUSY_TIMEOUT_MS below CLAIM_IDLE_MS/3, or start-up is refused.
      { CLAIM_IDLE_MS: "1000", DATABASE_BUSY_TIMEOUT_MS: "300" },
    ],
  ])(
    "%s: every payment applied exactly once",
    async (_name, secondConsumer, extraEnv) => {
      const config = testConfig({ BATCH_SIZE: "50", CONSUMER_NAME: "victim" });
      await publishMany(redis, config.eventStream, 6000, "evt_kill");
      const database = await crashAndRecover({
        redis,
        config,
        appliedBeforeKill: 300,
        secondConsumer,
        env: { BATCH_SIZE: "50" },
        secondEnv: extraEnv,
      });
      try {
        expect(await countRows(database, "SELECT count(*) FROM course_enrollments")).toBe(6000);
        expect(
          await countRows(database, "SELECT count(DISTINCT trace_id) FROM course_enrollments"),
        ).toBe(6000);
        expect(await countRows(database, "SELECT count(*) FROM processed_events")).toBe(6000);
        expect(await streamState(redis, config)).toMatchObject({
          pending: 0,
          lag: 0,
          deadLetters: 0,
        });
      } finally {
        database.close();
      }
    },
    60_000,
  );
});

describe("Redis outages", () => {
  test("connections cut mid-stream: the worker reconnects and applies everything once", async () => {
    const config = testConfig({ BATCH_SIZE: "20" });
    const worker = await startTestWorker(config);
    try {
      for (let round = 0; round < 5; round++) {
        await publishMany(redis, config.eventStream, 200, `evt_cut_${round}`);
        await Bun.sleep(30);
        await redis.client("KILL", "TYPE", "normal", "SKIPME", "yes");
      }
      await waitUntilDrained(redis, config);
      expect(await countRows(worker.database, "SELECT count(*) FROM processed_events")).toBe(1000);
      expect(await countRows(worker.database, "SELECT count(*) FROM course_enrollments")).toBe(
        1000,
      );
      expect((await streamState(redis, config)).deadLetters).toBe(0);
    } finally {
      await worker.stop();
    }
  }, 30_000);

  test("Redis restarts empty: the outage is logged once, the group is recreated loudly, new payments are applied", async () => {
    const server = await restartableRedis();
    const config = testConfig({ REDIS_URL: server.url, GROUP_START_ID: "0" });
    const { logger, lines } = capturingLogger();
    const worker = await startTestWorker(config, logger);
    const client = new Redis(server.url, { maxRetriesPerRequest: 1, lazyConnect: true });
    try {
      await client.connect();
      await publishPayment(client, config.eventStream, { trace_id: "evt_before" });
      await waitUntilDrained(client, config);
      client.disconnect();

      await server.stop();
      await Bun.sleep(1_500); // several reconnect attempts while Redis is gone
      await server.start();
      await client.connect();
      await publishPayment(client, config.eventStream, { trace_id: "evt_after", user_id: "u2" });
      await waitFor(
        "the group to be recreated and the payment applied",
        async () =>
          (await countRows(worker.database, "SELECT count(*) FROM processed_events")) === 2,
      );
      const messages = lines().map((line) => String(line.msg));
      const lost = messages.filter((msg) => msg === "Redis connection lost; reconnecting");
      expect(lost.length).toBeGreaterThanOrEqual(1);
      expect(lost.length).toBeLessThanOrEqual(2); // once per connection (reads, commands)
      expect(messages.some((msg) => msg.includes("NOGROUP"))).toBe(true);
    } finally {
      client.disconnect();
      await worker.stop();
      await server.stop();
    }
  }, 30_000);
});
