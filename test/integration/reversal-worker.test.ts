import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { decodeEntry } from "../../src/contract/decode.ts";
import { encodeDataForm } from "../../src/contract/wire-format.ts";
import { silentLogger } from "../../src/observe/logger.ts";
import { WorkerMetrics } from "../../src/observe/metrics.ts";
import { PaycoreSimulator } from "../../src/simulator/paycore-simulator.ts";
import { startWorker, type StartedWorker as Worker } from "../../src/worker.ts";
import { chargebackEnvelope, encodeFlatForm, refundEnvelope } from "../support/course-events.ts";
import { testRedisUrl, uniqueName } from "../support/fixtures.ts";
import { runCoursepay } from "../support/run-coursepay.ts";
import {
  countRows,
  publishFields,
  publishPayment,
  readDeadLetters,
  startTestWorker,
  testConfig,
  testRedis,
  waitUntilDrained,
} from "../support/worker-harness.ts";

const redis = testRedis();
const running: Worker[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((worker) => worker.stop()));
});
afterAll(() => redis.disconnect());

const statusOf = (worker: Worker, user: string) =>
  worker.database.client
    .execute({
      sql: "SELECT status FROM course_enrollments WHERE tenant_id = 'test_tenant' AND user_id = ?",
      args: [user],
    })
    .then((r) => r.rows[0]?.status);

describe("reversals through the worker", () => {
  test("both wire forms revoke; a mismatched refund is dead-lettered as conflict with its detail", async () => {
    const config = testConfig();
    const worker = await startTestWorker(config);
    running.push(worker);
    await publishPayment(redis, config.eventStream, { trace_id: "evt_p1", user_id: "u1" });
    await publishPayment(redis, config.eventStream, { trace_id: "evt_p2", user_id: "u2" });
    await publishPayment(redis, config.eventStream, { trace_id: "evt_p3", user_id: "u3" });
    // The flat form, as redis-cli writes it.
    await publishFields(
      redis,
      config.eventStream,
      encodeFlatForm(
        refundEnvelope({ trace_id: "evt_r1", payment_trace_id: "evt_p1", user_id: "u1" }),
      ),
    );
    await publishFields(
      redis,
      config.eventStream,
      encodeDataForm(
        chargebackEnvelope({ trace_id: "evt_r2", payment_trace_id: "evt_p2", user_id: "u2" }),
      ),
    );
    const wrong = await publishFields(
      redis,
      config.eventStream,
      encodeDataForm(
        refundEnvelope({ trace_id: "evt_r3", payment_trace_id: "evt_p3", user_id: "u1" }),
      ),
    );
    await waitUntilDrained(redis, config);

    expect(await statusOf(worker, "u1")).toBe("revoked");
    expect(await statusOf(worker, "u2")).toBe("revoked");
    expect(await statusOf(worker, "u3")).toBe("active");
    const [deadLetter, ...others] = await readDeadLetters(redis, config);
    expect(others).toEqual([]);
    expect(deadLetter).toMatchObject({
      original_id: wrong,
      reason: "conflict",
      subscriber: "course_payment_subscriber",
      trace_id: "evt_r3",
      event_type: "paycore.payment_refunded",
      detail:
        'refund evt_r3 does not match payment evt_p3: user_id "u1" where the payment has "u3"',
    });
    expect(worker.consumer?.counts).toMatchObject({ applied: 5, conflict: 1 });
    expect(await countRows(worker.database, "SELECT count(*) FROM processed_events")).toBe(5);
  });

  test("signed like every other event: a signed refund revokes, an unsigned one is refused", async () => {
    const config = testConfig({ PAYCORE_SIGNING_SECRET: "k1" });
    const worker = await startTestWorker(config);
    running.push(worker);
    const simulator = new PaycoreSimulator(redis, config.eventStream, "k1");
    const key = { tenantId: "test_tenant", userId: "u1", courseId: "course_001" };
    const paymentTraceId = await simulator.publishPaymentSucceeded(key);
    await simulator.publishPaymentRefunded({ ...key, paymentTraceId });
    const unsignedPayment = await simulator.publishPaymentSucceeded({ ...key, userId: "u2" });
    await publishFields(
      redis,
      config.eventStream,
      encodeDataForm(
        chargebackEnvelope({ trace_id: "evt_x", payment_trace_id: unsignedPayment, user_id: "u2" }),
      ),
    );
    await waitUntilDrained(redis, config);
    expect(await statusOf(worker, "u1")).toBe("revoked");
    expect(await statusOf(worker, "u2")).toBe("active");
    const deadLetters = await readDeadLetters(redis, config);
    expect(deadLetters.map((d) => d.reason)).toEqual(["unauthenticated"]);
  });
});

describe("metrics", () => {
  test("outcomes are counted per event type", async () => {
    const config = testConfig();
    let worker: Worker | undefined;
    const metrics = new WorkerMetrics({
      stream: config.eventStream,
      group: config.consumerGroup,
      redis: () => worker?.redis,
      database: () => worker?.database,
    });
    worker = await startWorker(config, silentLogger(), metrics);
    running.push(worker);
    await publishPayment(redis, config.eventStream, { trace_id: "evt_p1" });
    for (const envelope of [
      refundEnvelope({ trace_id: "evt_r1", payment_trace_id: "evt_p1" }),
      refundEnvelope({ trace_id: "evt_r1", payment_trace_id: "evt_p1" }),
      chargebackEnvelope({ trace_id: "evt_c1", payment_trace_id: "evt_p1", course_id: "other" }),
    ]) {
      await publishFields(redis, config.eventStream, encodeDataForm(envelope));
    }
    await waitUntilDrained(redis, config);
    let text = "";
    for (let i = 0; i < 50 && !text.includes("coursepay_batch_size_sum 4"); i++) {
      text = (await metrics.render()).body;
      await Bun.sleep(20);
    }
    const outcomes = text
      .split("\n")
      .filter((line) => line.startsWith("coursepay_event_outcomes_total"))
      .sort();
    const line = (type: string, outcome: string, n: number) =>
      `coursepay_event_outcomes_total{event_type="paycore.${type}",subscriber="course_payment_subscriber",outcome="${outcome}"} ${n}`;
    expect(outcomes).toEqual([
      line("payment_charged_back", "conflict", 1),
      line("payment_refunded", "applied", 1),
      line("payment_refunded", "duplicate", 1),
      line("payment_succeeded", "applied", 1),
    ]);
  });
});

describe("coursepay simulate payment-refunded / payment-charged-back", () => {
  const simulate = (stream: string, args: string[]) =>
    runCoursepay(["simulate", ...args], { REDIS_URL: testRedisUrl(), EVENT_STREAM: stream });

  test("publish a reversal of the payment named, and print its trace_id", async () => {
    const stream = uniqueName("sim");
    const key = ["--tenant", "t1", "--user", "u1", "--course", "c1"];
    const refund = await simulate(stream, [
      "payment-refunded",
      "--payment-trace-id",
      "evt_p",
      ...key,
    ]);
    const chargeback = await simulate(stream, [
      "payment-charged-back",
      "--payment-trace-id",
      "evt_p",
      "--trace-id",
      "evt_cb",
      ...key,
    ]);
    expect(refund.stderr).toBe("");
    expect(refund.code).toBe(0);
    expect(chargeback.stdout).toBe("evt_cb\n");
    const events = (await redis.xrange(stream, "-", "+")).map(([, fields]) => {
      const decoded = decodeEntry(fields, { maxEventBytes: 65_536 });
      return decoded.ok ? decoded.event : decoded;
    });
    expect(events).toEqual([
      {
        event_type: "paycore.payment_refunded",
        trace_id: refund.stdout.trim(),
        tenant_id: "t1",
        user_id: "u1",
        occurred_at: expect.any(String),
        metadata: { course_id: "c1", payment_trace_id: "evt_p" },
      },
      {
        event_type: "paycore.payment_charged_back",
        trace_id: "evt_cb",
        tenant_id: "t1",
        user_id: "u1",
        occurred_at: expect.any(String),
        metadata: { course_id: "c1", payment_trace_id: "evt_p" },
      },
    ]);
  });

  test("bad usage exits 2 and publishes nothing", async () => {
    const stream = uniqueName("sim");
    const key = ["--tenant", "t1", "--user", "u1", "--course", "c1"];
    for (const [args, message] of [
      [["payment-refunded", ...key], "--payment-trace-id is required"],
      [["payment-refunded", "--payment-trace-id", "e", "--language", "de", ...key], "--language"],
      [["payment-succeeded", "--payment-trace-id", "e", ...key], "--payment-trace-id"],
      [
        ["payment-charged-back", "--payment-trace-id", "e", "--trace-id", "e", ...key],
        "must differ",
      ],
      [["payment-reversed", ...key], "simulate: unknown command 'payment-reversed'"],
      [
        ["payment-succeeded", "--langauge", "de", ...key],
        "simulate payment-succeeded: unknown option '--langauge' (did you mean --language?)",
      ],
    ] as const) {
      const run = await simulate(stream, [...args]);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(message);
    }
    expect(await redis.exists(stream)).toBe(0);
  });
});
