import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Config } from "../../src/config/config.ts";
import { startHttpServer } from "../../src/observe/http-server.ts";
import { silentLogger } from "../../src/observe/logger.ts";
import { WorkerMetrics } from "../../src/observe/metrics.ts";
import { deadLetterStreamName } from "../../src/stream/dead-letters.ts";
import { freePort, tempDatabaseUrl, uniqueName } from "../support/fixtures.ts";
import { runCoursepay } from "../support/run-coursepay.ts";
import {
  publishPayment,
  startTestWorker,
  testConfig,
  testRedis,
  waitUntilDrained,
} from "../support/worker-harness.ts";

const redis = testRedis();
afterAll(() => redis.disconnect());

/** `bun src/main.ts status …` with the configuration's Redis, stream, group and database. */
function status(config: Config, args: string[] = [], env: Record<string, string> = {}) {
  return runCoursepay(["status", ...args], {
    REDIS_URL: config.redisUrl,
    DATABASE_URL: config.databaseUrl,
    EVENT_STREAM: config.eventStream,
    CONSUMER_GROUP: config.consumerGroup,
    ...env,
  });
}

describe("coursepay status", () => {
  let config: Config;
  const lastApplied = uniqueName("evt-last");

  // Two payments applied by a worker, then two more published of which a consumer "alice" has
  // read one without ACKing it (pending 1, lag 1), and two dead letters.
  beforeAll(async () => {
    config = testConfig();
    const worker = await startTestWorker(config);
    try {
      await publishPayment(redis, config.eventStream, {
        trace_id: uniqueName("evt"),
        user_id: "u1",
      });
      await publishPayment(redis, config.eventStream, { trace_id: lastApplied, user_id: "u2" });
      await waitUntilDrained(redis, config);
    } finally {
      await worker.stop();
    }
    await publishPayment(redis, config.eventStream, { trace_id: uniqueName("evt"), user_id: "u3" });
    await publishPayment(redis, config.eventStream, { trace_id: uniqueName("evt"), user_id: "u4" });
    await redis.xreadgroup(
      "GROUP",
      config.consumerGroup,
      "alice",
      "COUNT",
      1,
      "STREAMS",
      config.eventStream,
      ">",
    );
    const deadLetters = deadLetterStreamName(config.eventStream);
    await redis.xadd(deadLetters, "*", "reason", "invalid_json", "detail", "test");
    await redis.xadd(deadLetters, "*", "reason", "conflict", "detail", "test");
  });

  test("--json reports the stream, the group with its pending entry and consumer, and the database", async () => {
    const run = await status(config, ["--json"]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.stream).toEqual({
      name: config.eventStream,
      exists: true,
      length: 4,
      dead_letter_stream: `${config.eventStream}.dlq`,
      dead_letters: 2,
    });
    expect(report.redis_topology).toEqual({ kind: "standalone", url: config.redisUrl });
    expect(report.configured_group).toBe(config.consumerGroup);
    expect(report.groups).toHaveLength(1);
    const [group] = report.groups;
    expect(group).toMatchObject({
      name: config.consumerGroup,
      lag: 1,
      entries_read: 3,
      pending: 1,
    });
    expect(group.oldest_pending_idle_ms).toBeGreaterThanOrEqual(0);
    // The age counts from publication, so it is at least the idle time since delivery.
    expect(group.oldest_pending_age_ms).toBeGreaterThanOrEqual(group.oldest_pending_idle_ms);
    expect(group.consumers).toHaveLength(1);
    expect(group.consumers[0]).toMatchObject({ name: "alice", pending: 1 });
    expect(group.consumers[0].idle_ms).toBeGreaterThanOrEqual(0);
    expect(report.database).toMatchObject({
      location: config.databaseFilePath,
      enrollments: 2,
      active_enrollments: 2,
      revoked_enrollments: 0,
      processed_events: 2,
      last_processed: {
        trace_id: lastApplied,
        event_type: "paycore.payment_succeeded",
        subscriber: "course_payment_subscriber",
        outcome: "applied",
      },
    });
    expect(Date.parse(report.database.last_processed.processed_at)).toBeGreaterThan(0);
  });

  test("the table shows the same figures, the configured group starred", async () => {
    const run = await status(config);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const lines = run.stdout.split("\n");
    expect(lines).toContain(`Redis      standalone ${config.redisUrl}`);
    expect(lines).toContain("  length        4");
    expect(lines).toContain(`  dead letters  2 in ${config.eventStream}.dlq`);
    expect(lines).toContainEqual(
      expect.stringMatching(new RegExp(`^\\* ${config.consumerGroup}\\s+1\\s+1\\s+\\S+`)),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(new RegExp(`^${config.consumerGroup}\\s+alice\\s+1\\s+`)),
    );
    expect(lines).toContain("  enrollments       2 (2 active, 0 revoked)");
    expect(lines).toContain("  processed events  2");
    expect(lines).toContainEqual(
      expect.stringContaining(`${lastApplied} paycore.payment_succeeded`),
    );
  });

  test("a missing group exits 1 with one line naming it and the groups there are", async () => {
    const run = await status(config, [], { CONSUMER_GROUP: "no_such_group" });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("");
    expect(run.stderr.trim().split("\n")).toEqual([
      `coursepay: consumer group "no_such_group" not found on stream "${config.eventStream}"; its groups: ${config.consumerGroup}`,
    ]);
  });

  test("a stream that does not exist exits 1", async () => {
    const run = await status(config, ["--json"], { EVENT_STREAM: uniqueName("absent") });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("the stream does not exist");
  });

  test("unreachable Redis exits 1 with one line, without secrets", async () => {
    const url = `redis://:s3cret@127.0.0.1:${await freePort()}`;
    const run = await status(config, [], { REDIS_URL: url });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("");
    const lines = run.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toStartWith("coursepay: Redis at redis://:***@127.0.0.1:");
    expect(lines[0]).toContain("is unreachable");
    expect(run.stderr).not.toContain("s3cret");
  });

  test("a database file that does not exist exits 1 and is not created", async () => {
    const missing = tempDatabaseUrl();
    const run = await status(config, [], { DATABASE_URL: missing.url });
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toBe(
      `coursepay: database ${missing.path} does not exist (check DATABASE_URL, or run migrate)`,
    );
    expect(await Bun.file(missing.path).exists()).toBe(false);
  });

  test("--help explains the command", async () => {
    const run = await status(config, ["--help"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toStartWith("Usage: coursepay status [--json]");
  });
});

describe("coursepay status with HTTP_PORT", () => {
  test("shows this host's worker: last read, last commit, failed commits and readiness", async () => {
    const config = testConfig();
    const worker = await startTestWorker(config);
    const metrics = new WorkerMetrics({
      stream: config.eventStream,
      group: config.consumerGroup,
      redis: () => worker.redis,
      database: () => worker.database,
      progress: () => worker.progress,
    });
    const server = startHttpServer({
      hostname: "127.0.0.1",
      port: 0,
      metrics,
      worker: () => worker,
      logger: silentLogger(),
    });
    try {
      await publishPayment(redis, config.eventStream, { trace_id: uniqueName("evt") });
      await waitUntilDrained(redis, config);
      const env = { HTTP_PORT: server.url.port, HTTP_HOST: "127.0.0.1" };
      const text = await status(config, [], env);
      expect(text.code).toBe(0);
      expect(text.stdout).toContain(`Worker     http://127.0.0.1:${server.url.port}`);
      expect(text.stdout).toMatch(/ {2}last read {9}\d+ ms ago/);
      expect(text.stdout).toContain("  failed commits    0");
      expect(text.stdout).toContain("  readiness         ready");
      const json = JSON.parse((await status(config, ["--json"], env)).stdout);
      expect(json.worker).toMatchObject({
        commit_failures: 0,
        readiness: "ready",
        unreachable: null,
      });
      expect(json.worker.seconds_since_last_commit).toBeLessThan(30);
    } finally {
      await server.stop();
      await worker.stop();
    }
  });
});

describe("coursepay status and rows from before the ':' rule", () => {
  test("warns about enrollments whose tenant_id holds a ':' (an ambiguous actor_id)", async () => {
    const config = testConfig();
    const worker = await startTestWorker(config);
    try {
      await redis
        .xgroup("CREATE", config.eventStream, config.consumerGroup, "0", "MKSTREAM")
        .catch(() => {});
      await worker.database.client.execute(
        `INSERT INTO course_enrollments (tenant_id, user_id, actor_id, course_id, status, trace_id, granted_at)
         VALUES ('acme:eu', 'bob', 'acme:eu:bob', 'c1', 'active', 'evt_old', 1)`,
      );
    } finally {
      await worker.stop();
    }
    const run = await status(config);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("WARNING           1 enrollments have a ':' in tenant_id");
    expect(JSON.parse((await status(config, ["--json"])).stdout).database.ambiguous_actor_ids).toBe(
      1,
    );
  });
});
