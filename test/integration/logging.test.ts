import { afterAll, describe, expect, test } from "bun:test";
import { signData } from "../../src/contract/signature.ts";
import { formatLine } from "../../src/observe/pretty-log-destination.ts";
import {
  killSpawnedWorkers,
  paymentEnvelope,
  publishFields,
  spawnWorker,
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

describe("logs", () => {
  test("are JSON lines with the event's ids, and never carry secrets or payloads", async () => {
    const secret = "s3cret-signing-key";
    const config = testConfig({ PAYCORE_SIGNING_SECRET: secret });
    const worker = spawnWorker(config, {
      LOG_LEVEL: "info",
      LOG_FORMAT: "json",
      PAYCORE_SIGNING_SECRET: secret,
      DATABASE_AUTH_TOKEN: "token-that-must-not-leak",
    });
    await waitFor("the consumer to start", () =>
      worker.output().includes("Event consumer started"),
    );
    const data = JSON.stringify(paymentEnvelope({ trace_id: "evt_logged", tenant_id: "t_log" }));
    const entryId = await publishFields(redis, config.eventStream, [
      "data",
      data,
      "signature",
      signData(data, secret),
    ]);
    await publishFields(redis, config.eventStream, ["data", data]); // unsigned: dead-lettered
    await waitUntilDrained(redis, config);
    worker.child.kill("SIGTERM");
    expect(await worker.child.exited).toBe(0);

    const lines = worker.output().trim().split("\n");
    const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    for (const record of records) {
      expect(typeof record.level).toBe("string");
      expect(Date.parse(String(record.time))).not.toBeNaN();
      expect(typeof record.msg).toBe("string");
    }
    const granted = records.find(
      (r) => r.msg === "[CoursePayment] Course access granted successfully",
    );
    expect(granted).toMatchObject({
      level: "info",
      trace_id: "evt_logged",
      tenant_id: "t_log",
      entry_id: entryId,
      subscriber: "course_payment_subscriber",
    });
    expect(records.some((r) => r.msg === "[CoursePayment] Granting course access")).toBe(true);
    expect(records.some((r) => r.msg === "Event moved to the dead-letter stream")).toBe(true);
    const everything = worker.output();
    expect(everything).not.toContain(secret);
    expect(everything).not.toContain("token-that-must-not-leak");
    expect(everything).not.toContain('"data"'); // no payload at info level
    expect(everything).not.toContain('course_001\\"'); // nor the envelope's JSON
  });

  test("the terminal format is one readable line per record", () => {
    const line = JSON.stringify({
      level: "info",
      time: "2026-11-26T08:00:01.234Z",
      msg: "[CoursePayment] Granting course access",
      tenant_id: "t1",
      trace_id: "evt_1",
    });
    const pretty = formatLine(line);
    expect(pretty).toBe(
      "[2026-11-26 08:00:01.234Z] INFO: [CoursePayment] Granting course access  tenant_id=t1 trace_id=evt_1",
    );
    expect(pretty).not.toContain("\n");
  });
});
