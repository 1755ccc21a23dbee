import { afterAll, describe, expect, test } from "bun:test";
import { EnrollmentForecast } from "../../src/simulator/enrollment-forecast.ts";
import { generateLoad } from "../../src/simulator/load-generator.ts";
import { publishLoad } from "../../src/simulator/load-publisher.ts";
import { crashAndRecover } from "../support/crash-run.ts";
import {
  countRows,
  killSpawnedWorkers,
  streamState,
  testConfig,
  testRedis,
} from "../support/worker-harness.ts";

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

      const database = await crashAndRecover({
        redis,
        config,
        appliedBeforeKill: 1000,
        secondConsumer,
        env: { BATCH_SIZE: "50" },
        secondEnv: extraEnv,
      });
      try {
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
