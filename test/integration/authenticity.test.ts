import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { signData } from "../../src/contract/signature.ts";
import { PaycoreSimulator } from "../../src/simulator/paycore-simulator.ts";
import type { StartedWorker as Worker } from "../../src/worker.ts";
import {
  countRows,
  paymentEnvelope,
  publishFields,
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

describe("signed events (PAYCORE_SIGNING_SECRET)", () => {
  test("only entries signed with a current secret are applied; forged ones are dead-lettered", async () => {
    const config = testConfig({ PAYCORE_SIGNING_SECRET: "new-key, old-key" });
    const worker = await startTestWorker(config);
    running.push(worker);
    const simulator = new PaycoreSimulator(redis, config.eventStream, "new-key");
    const data = (traceId: string, userId: string) =>
      JSON.stringify(paymentEnvelope({ trace_id: traceId, user_id: userId }));

    await simulator.publishPaymentSucceeded({ tenantId: "t1", userId: "u1", courseId: "c1" });
    const oldKeyData = data("evt_old_key", "u2");
    await publishFields(redis, config.eventStream, [
      "data",
      oldKeyData,
      "signature",
      signData(oldKeyData, "old-key"),
    ]);
    const unsigned = await publishFields(redis, config.eventStream, [
      "data",
      data("evt_unsigned", "u3"),
    ]);
    const forgedData = data("evt_forged", "u4");
    const forged = await publishFields(redis, config.eventStream, [
      "data",
      forgedData,
      "signature",
      signData(forgedData, "guess"),
    ]);
    const flat = await publishFields(redis, config.eventStream, [
      "event_type",
      "paycore.payment_succeeded",
      "trace_id",
      "evt_flat",
      "tenant_id",
      "t1",
      "user_id",
      "u5",
      "metadata",
      '{"course_id":"c1"}',
    ]);
    await waitUntilDrained(redis, config);

    expect(await countRows(worker.database, "SELECT count(*) FROM course_enrollments")).toBe(2);
    const letters = await readDeadLetters(redis, config);
    expect(letters.map((letter) => [letter.original_id, letter.reason])).toEqual([
      [unsigned, "unauthenticated"],
      [forged, "unauthenticated"],
      [flat, "unauthenticated"],
    ]);
    expect(worker.consumer?.counts).toMatchObject({ applied: 2, unauthenticated: 3 });
  });
});

describe("simulated events", () => {
  test("a worker with APP_ENV=production never applies a simulated event", async () => {
    const config = testConfig({ APP_ENV: "production" });
    const worker = await startTestWorker(config);
    running.push(worker);
    const simulator = new PaycoreSimulator(redis, config.eventStream);
    const traceId = await simulator.publishPaymentSucceeded({
      tenantId: "t1",
      userId: "u1",
      courseId: "c1",
    });
    await waitUntilDrained(redis, config);
    expect(await countRows(worker.database, "SELECT count(*) FROM course_enrollments")).toBe(0);
    const letters = await readDeadLetters(redis, config);
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ reason: "simulated", trace_id: traceId });
  });

  test("coursepay simulate refuses to run with APP_ENV=production (exit 2)", async () => {
    const child = Bun.spawn(
      [
        process.execPath,
        "src/main.ts",
        "simulate",
        "payment-succeeded",
        "--tenant",
        "t",
        "--user",
        "u",
        "--course",
        "c",
      ],
      { env: { ...process.env, APP_ENV: "production" }, stdout: "pipe", stderr: "pipe" },
    );
    expect(await child.exited).toBe(2);
    const stderr = await new Response(child.stderr).text();
    expect(stderr).toContain("APP_ENV=production");
    expect(stderr).not.toMatch(/^\s+at /m);
  });

  test("serve refuses ENABLE_SIMULATOR=true with APP_ENV=production (exit 2)", async () => {
    const child = Bun.spawn([process.execPath, "src/main.ts", "serve"], {
      env: { ...process.env, APP_ENV: "production", ENABLE_SIMULATOR: "true" },
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(await child.exited).toBe(2);
    expect(await new Response(child.stderr).text()).toContain("ENABLE_SIMULATOR");
  });
});
