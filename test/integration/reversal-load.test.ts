import { afterAll, describe, expect, test } from "bun:test";
import { runCoursepay } from "../support/run-coursepay.ts";
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

const redis = testRedis();
afterAll(() => {
  killSpawnedWorkers();
  redis.disconnect();
});

describe("two workers drain 20,000 payments and 2,000 refunds and chargebacks", () => {
  test("the number of active enrollments is exactly the one simulate load predicts", async () => {
    const config = testConfig();
    // 22,000 entries, 2,000 of them reversals (every other one published before its payment),
    // over 3 × 2,000 × 10 possible enrollments, so most courses have one payment, some two.
    const published = await runCoursepay(
      [
        "simulate",
        "load",
        "--count",
        "22000",
        "--duplicates",
        "0",
        "--invalid",
        "0",
        "--refunds",
        String(2000 / 22000),
        "--users",
        "2000",
        "--seed",
        "20261202",
      ],
      { REDIS_URL: config.redisUrl, EVENT_STREAM: config.eventStream },
    );
    expect(published.stderr).toBe("");
    expect(published.code).toBe(0);
    expect(published.stdout).toMatch(/^ {2}valid +20000 {2}new trace_ids$/m);
    expect(published.stdout).toMatch(
      /^ {2}reversals +2000 {2}refunds and chargebacks, 1000 before their payment$/m,
    );
    const forecast = /ends with (\d+) active enrollments \((\d+) in all, (\d+) revoked\)/.exec(
      published.stdout,
    );
    expect(forecast).not.toBeNull();
    const [active, all, revoked] = (forecast ?? []).slice(1).map(Number) as [
      number,
      number,
      number,
    ];
    expect(revoked).toBeGreaterThan(1000);

    const workers = ["worker-a", "worker-b"].map((name) =>
      spawnWorker({ ...config, consumerName: name }, { BATCH_SIZE: "200", LOG_LEVEL: "info" }),
    );
    const database = await openTestDatabase(config);
    try {
      await waitFor(
        "both workers to drain the stream",
        async () => {
          const state = await streamState(redis, config).catch(() => undefined);
          return state?.lag === 0 && state.pending === 0;
        },
        90_000,
      );
      for (const { child } of workers) child.kill("SIGTERM");
      for (const { child } of workers) expect(await child.exited).toBe(0);
      // Both took part: each logged grants of its own.
      for (const { output } of workers) {
        expect(output()).toContain("[CoursePayment] Course access granted successfully");
      }

      const count = (sql: string) => countRows(database, sql);
      expect(await count("SELECT count(*) FROM course_enrollments WHERE status = 'active'")).toBe(
        active,
      );
      expect(await count("SELECT count(*) FROM course_enrollments")).toBe(all);
      expect(await count("SELECT count(*) FROM course_enrollments WHERE status = 'revoked'")).toBe(
        revoked,
      );
      expect(await count("SELECT count(*) FROM processed_events")).toBe(22_000);
      expect(await count("SELECT count(*) FROM course_payments")).toBe(20_000);
      expect(await count("SELECT count(*) FROM course_payments WHERE state <> 'succeeded'")).toBe(
        2_000,
      );
      expect(await count("SELECT count(*) FROM course_payments WHERE paid_at IS NULL")).toBe(0);
      expect((await streamState(redis, config)).deadLetters).toBe(0);
    } finally {
      database.close();
    }
  }, 120_000);
});
