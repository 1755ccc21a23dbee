import { afterAll, describe, expect, test } from "bun:test";
import { EnrollmentForecast } from "../../src/simulator/enrollment-forecast.ts";
import { generateLoad } from "../../src/simulator/load-generator.ts";
import { publishLoad } from "../../src/simulator/load-publisher.ts";
import {
  countRows,
  killSpawnedWorkers,
  openTestDatabase,
  spawnWorker,
  streamState,
  testConfig,
  testRedis,
  waitFor,
} from "../support/worker-harness.ts";
import { startWriteLocker } from "../support/write-lock.ts";

const redis = testRedis();
afterAll(() => {
  killSpawnedWorkers();
  redis.disconnect();
});

describe("a worker killed with SIGKILL mid-stream, with refunds and chargebacks in the mix", () => {
  test.each([
    ["restarted under the same consumer name", "victim", 1, {}],
    [
      "replaced by another worker that reclaims its entries",
      "replacement",
      2,
      // DATABASE_BUSY_TIMEOUT_MS below CLAIM_IDLE_MS/3, or start-up is refused.
      { CLAIM_IDLE_MS: "1000", DATABASE_BUSY_TIMEOUT_MS: "300" },
    ],
  ])(
    "%s: every event applied exactly once, the active enrollments exact",
    async (_name, secondConsumer, seed, extraEnv) => {
      const config = testConfig({ BATCH_SIZE: "50", CONSUMER_NAME: "victim" });
      // 6,000 entries: 5,400 payments, 600 reversals (300 before their payment), over 3 × 1,000 ×
      // 10 possible enrollments.
      const forecast = new EnrollmentForecast();
      const summary = await publishLoad({
        redis,
        stream: config.eventStream,
        entries: generateLoad({
          count: 6000,
          duplicates: 0,
          invalid: 0,
          refunds: 0.1,
          users: 1000,
          seed,
        }),
        forecast,
      });
      expect(summary).toMatchObject({ valid: 5400, reversals: 600, reversalsBeforePayment: 300 });

      const lock = await startWriteLocker(config.databaseFilePath as string);
      const first = spawnWorker(config, { BATCH_SIZE: "50" });
      const database = await openTestDatabase(config);
      try {
        await waitFor(
          "part of the stream to be applied",
          async () => {
            try {
              return (await countRows(database, "SELECT count(*) FROM processed_events")) >= 1000;
            } catch {
              return false; // tables not migrated yet
            }
          },
          20_000,
        );
        // Catch it with a batch in hand: the next commit waits on a lock held elsewhere.
        await lock.lock();
        // The same pending range twice, 300 ms apart: a batch that cannot commit, not one whose
        // ACK was still in flight when the lock was taken.
        let seen = "";
        await waitFor("a batch to be in hand", async () => {
          const [count, first, last] = (await redis.xpending(
            config.eventStream,
            config.consumerGroup,
          )) as [number, string | null, string | null];
          const range = count > 0 ? `${first}..${last}` : "";
          const stable = range !== "" && range === seen;
          seen = range;
          if (!stable) await Bun.sleep(300);
          return stable;
        });
        first.child.kill("SIGKILL");
        expect(await first.child.exited).not.toBe(0);
        await lock.release();
        const left = await streamState(redis, config);
        expect(left.pending).toBeGreaterThan(0);
        expect(left.lag).toBeGreaterThan(0);

        const second = spawnWorker(
          { ...config, consumerName: secondConsumer },
          { BATCH_SIZE: "50", ...extraEnv },
        );
        try {
          await waitFor(
            "the stream to be drained",
            async () => {
              const state = await streamState(redis, config);
              return state.pending === 0 && state.lag === 0;
            },
            30_000,
          );
        } finally {
          second.child.kill("SIGTERM");
          expect(await second.child.exited).toBe(0);
        }
        const count = (sql: string) => countRows(database, sql);
        expect(await count("SELECT count(*) FROM processed_events")).toBe(6000);
        expect(await count("SELECT count(*) FROM course_payments")).toBe(5400);
        expect(await count("SELECT count(*) FROM course_payments WHERE state <> 'succeeded'")).toBe(
          600,
        );
        expect(await count("SELECT count(*) FROM course_enrollments")).toBe(forecast.enrollments);
        expect(await count("SELECT count(*) FROM course_enrollments WHERE status = 'active'")).toBe(
          forecast.active,
        );
        expect(forecast.active).toBeLessThan(forecast.enrollments);
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
