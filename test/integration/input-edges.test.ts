/**
 * Event data that could forge a log line or drive a terminal, event types nobody handles, and
 * repeats of a trace_id inside one batch, through a real worker, Redis and database.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { Writable } from "node:stream";
import pino from "pino";
import { encodeDataForm } from "../../src/contract/wire-format.ts";
import { prettyLogDestination } from "../../src/observe/pretty-log-destination.ts";
import { runCoursepay } from "../support/run-coursepay.ts";
import {
  capturingLogger,
  countRows,
  paymentEnvelope,
  publishFields,
  publishPayment,
  readDeadLetters,
  startTestWorker,
  testConfig,
  testRedis,
  waitUntilDrained,
} from "../support/worker-harness.ts";

const redis = testRedis();
afterAll(() => redis.disconnect());

const FORGED = "evt\u001b[2J\r\nINFO  [CoursePayment] Course access granted successfully\u009b2J";
/** What no printed line may hold: ESC, CR, the C1 CSI, a bidi override. */
const RAW_CONTROL = new RegExp("[\\u001b\\r\\u009b\\u202e]");
/** The pretty logger's own colours (pino-pretty's, around level and message), the only escapes it may print. */
const LEVEL_COLOURS = new RegExp("\\u001b\\[(?:3[0-9]|9[0-7]|4[0-7]|0|1|22)m", "g");

describe("event data never reaches a terminal raw", () => {
  test("pretty logs, dlq list, status and enrollments print escapes and one line per record", async () => {
    const config = testConfig();
    const written: string[] = [];
    const logger = pino(
      { level: "info", base: undefined, formatters: { level: (label) => ({ level: label }) } },
      prettyLogDestination(
        new Writable({
          write(chunk, _encoding, done) {
            written.push(String(chunk));
            done();
          },
        }),
        { colour: true },
      ),
    );
    const worker = await startTestWorker(config, logger);
    try {
      const bad = { event_type: "x\u202egnp.exe", trace_id: FORGED, tenant_id: 1 };
      await publishFields(redis, config.eventStream, encodeDataForm(bad));
      await publishFields(redis, config.eventStream, ["data", `{"trace_id":"${"\\u001b"}]`]);
      await waitUntilDrained(redis, config);
      // A row an older release (or a hand) wrote with control characters in it.
      await worker.database.client.execute({
        sql: `INSERT INTO course_enrollments (tenant_id, user_id, actor_id, course_id, language,
                status, trace_id, granted_at) VALUES ('t_esc', ?, 'x', 'c1', NULL, 'active', ?, 1)`,
        args: ["u\u001b[2Jbob", FORGED],
      });
      await worker.database.client.execute({
        sql: `INSERT INTO processed_events VALUES ('course_payment_subscriber', ?, 'paycore.x\u001b', '9-9', 'h', 'applied', ?)`,
        args: [FORGED, Date.now()],
      });
    } finally {
      await worker.stop();
    }
    expect(written.length).toBeGreaterThan(2);
    for (const chunk of written) {
      expect(chunk.replace(LEVEL_COLOURS, "")).not.toMatch(RAW_CONTROL);
      expect(chunk.indexOf("\n")).toBe(chunk.length - 1); // one record, one line
    }
    expect(written.join("")).toContain("evt\\u001b[2J\\u000d\\u000aINFO");

    const env = {
      REDIS_URL: config.redisUrl,
      DATABASE_URL: config.databaseUrl,
      EVENT_STREAM: config.eventStream,
      CONSUMER_GROUP: config.consumerGroup,
    };
    const list = await runCoursepay(["dlq", "list"], env);
    const status = await runCoursepay(["status"], env);
    const enrollments = await runCoursepay(["enrollments", "--tenant", "t_esc"], env);
    for (const run of [list, status, enrollments]) {
      expect(run.code).toBe(0);
      expect(run.stdout).not.toMatch(RAW_CONTROL);
      expect(run.stdout).not.toContain("INFO  [CoursePayment]\n");
    }
    expect(list.stdout).toContain("evt\\u001b[2J");
    expect(status.stdout).toContain("evt\\u001b[2J\\u000d\\u000aINFO");
    expect(enrollments.stdout).toContain("u\\u001b[2Jbob");
  }, 20_000);
});

describe("event types no subscriber handles", () => {
  test("the first of each type is logged at info with a hint; later ones are only counted", async () => {
    const config = testConfig();
    const { logger, lines } = capturingLogger();
    const worker = await startTestWorker(config, logger);
    try {
      for (const type of [
        "paycore.Payment_succeeded",
        "paycore.Payment_succeeded",
        "paycore.other",
      ]) {
        const envelope = {
          ...paymentEnvelope({ trace_id: crypto.randomUUID() }),
          event_type: type,
        };
        await publishFields(redis, config.eventStream, encodeDataForm(envelope));
      }
      await waitUntilDrained(redis, config);
      expect(worker.consumer?.counts.ignored).toBe(3);
    } finally {
      await worker.stop();
    }
    const ignored = lines().filter(
      (line) => line.msg === "Event type has no subscriber; ignoring it",
    );
    expect(ignored.map((line) => [line.level, line.event_type])).toEqual([
      ["info", "paycore.Payment_succeeded"],
      ["info", "paycore.other"],
    ]);
    expect(String(ignored[0]?.hint)).toContain("no subscriber is registered");
  });
});

describe("repeats of a trace_id in one batch", () => {
  test("each entry gets its own outcome: an exact redelivery is a duplicate beside a conflict", async () => {
    const config = testConfig();
    const first = await startTestWorker(config);
    await publishPayment(redis, config.eventStream, { trace_id: "evt_rep", course_id: "c1" });
    await waitUntilDrained(redis, config);
    await first.stop();
    // One batch: the same trace_id with another course (a conflict), then the exact original.
    await publishPayment(redis, config.eventStream, { trace_id: "evt_rep", course_id: "c2" });
    await publishPayment(redis, config.eventStream, { trace_id: "evt_rep", course_id: "c1" });
    const worker = await startTestWorker(config);
    try {
      await waitUntilDrained(redis, config);
      expect(worker.consumer?.counts).toMatchObject({ conflict: 1, duplicate: 1, applied: 0 });
      const letters = await readDeadLetters(redis, config);
      expect(letters.map((letter) => letter.reason)).toEqual(["conflict"]);
      expect(await countRows(worker.database, "SELECT count(*) FROM course_enrollments")).toBe(1);
    } finally {
      await worker.stop();
    }
  });
});
