/**
 * Commands a client may send twice after a lost reply change nothing the second time, and a
 * group recreated after NOGROUP starts at 0, whatever GROUP_START_ID said.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { encodeDataForm } from "../../src/contract/wire-format.ts";
import { StreamReader } from "../../src/stream/stream-reader.ts";
import { trimStreamOnce } from "../../src/stream/stream-retention.ts";
import {
  capturingLogger,
  countRows,
  paymentEnvelope,
  publishPayment,
  startTestWorker,
  testConfig,
  testRedis,
  waitFor,
} from "../support/worker-harness.ts";

const redis = testRedis();
afterAll(() => redis.disconnect());

describe("sent twice, changed once", () => {
  test("a heartbeat (touch) resent changes neither owner nor delivery count", async () => {
    const config = testConfig();
    await redis.xgroup("CREATE", config.eventStream, config.consumerGroup, "0", "MKSTREAM");
    const id = await publishPayment(redis, config.eventStream, { trace_id: "evt_touch" });
    await redis.xreadgroup("GROUP", config.consumerGroup, "me", "STREAMS", config.eventStream, ">");
    const reader = new StreamReader(redis, redis, {
      stream: config.eventStream,
      group: config.consumerGroup,
      consumer: "me",
      maxEventBytes: 65536,
    });
    const pending = async () =>
      (await redis.xpending(config.eventStream, config.consumerGroup, "-", "+", 10)) as [
        string,
        string,
        number,
        number,
      ][];
    await reader.touch([id]);
    const once = await pending();
    await reader.touch([id]);
    const twice = await pending();
    expect(twice.map(([entry, owner, , deliveries]) => [entry, owner, deliveries])).toEqual(
      once.map(([entry, owner, , deliveries]) => [entry, owner, deliveries]),
    );
    expect(twice[0]?.[3]).toBe(1);
  });

  test("a trim resent removes nothing more", async () => {
    const config = testConfig();
    await redis.xgroup("CREATE", config.eventStream, config.consumerGroup, "0", "MKSTREAM");
    for (let i = 0; i < 5; i++) {
      await redis.xadd(config.eventStream, `${1_000 + i}-0`, "data", "{}");
    }
    await redis.xreadgroup("GROUP", config.consumerGroup, "me", "STREAMS", config.eventStream, ">");
    await redis.xack(config.eventStream, config.consumerGroup, "1000-0", "1001-0", "1002-0");
    await trimStreamOnce(redis, config.eventStream, 60_000);
    const once = await redis.xlen(config.eventStream);
    await trimStreamOnce(redis, config.eventStream, 60_000);
    expect(await redis.xlen(config.eventStream)).toBe(once);
    expect(once).toBeLessThan(5);
  });
});

describe("a group recreated after NOGROUP", () => {
  test("starts at 0 even with GROUP_START_ID=$, so payments published right after the stream was deleted are applied", async () => {
    const config = testConfig({ GROUP_START_ID: "$" });
    const { logger, lines } = capturingLogger();
    const worker = await startTestWorker(config, logger);
    try {
      await publishPayment(redis, config.eventStream, { trace_id: "evt_before_delete" });
      await waitFor(
        "the first payment",
        async () =>
          (await countRows(worker.database, "SELECT count(*) FROM processed_events")) === 1,
      );
      // The stream is deleted (and with it the group); a payment arrives at once, before the
      // worker has noticed: it recreates the stream with that first entry.
      // In one transaction, so the worker cannot recreate the group in between.
      await redis
        .multi()
        .del(config.eventStream)
        .xadd(
          config.eventStream,
          "*",
          ...encodeDataForm(paymentEnvelope({ trace_id: "evt_right_after", user_id: "u2" })),
        )
        .exec();
      await waitFor(
        "the payment published right after the deletion to be applied",
        async () =>
          (await countRows(worker.database, "SELECT count(*) FROM processed_events")) === 2,
      );
    } finally {
      await worker.stop();
    }
    expect(lines().some((line) => String(line.msg).includes("recreating the group at 0"))).toBe(
      true,
    );
    expect(
      lines().find((line) => line.msg === "Consumer group created" && line.start === "0"),
    ).toBeDefined();
  });
});
