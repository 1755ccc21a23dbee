/**
 * Bytes that are not UTF-8: the Redis client turns them into U+FFFD, so the worker reads such
 * entries again as bytes. The signature is checked over what arrived, the entry is dead-lettered
 * with those exact bytes, and a replay puts the very same bytes back.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { DeadLetterStore } from "../../src/stream/dead-letter-store.ts";
import { deadLetterStreamName } from "../../src/stream/dead-letters.ts";
import {
  countRows,
  readDeadLetters,
  startTestWorker,
  testConfig,
  testRedis,
  waitUntilDrained,
} from "../support/worker-harness.ts";

const redis = testRedis();
afterAll(() => redis.disconnect());

/** A payment whose user_id holds the byte 0xFF, which is never UTF-8. */
const BAD_DATA = Buffer.concat([
  Buffer.from(
    '{"event_type":"paycore.payment_succeeded","trace_id":"evt_bytes","tenant_id":"t1","user_id":"u',
  ),
  Buffer.from([0xff, 0xfe]),
  Buffer.from('","metadata":{"course_id":"c1"}}'),
]);

describe("entries that are not UTF-8", () => {
  test("data form: invalid_json, the original kept byte for byte, and a replay puts the same bytes back", async () => {
    const config = testConfig();
    const worker = await startTestWorker(config);
    try {
      await redis.xadd(config.eventStream, "*", Buffer.from("data"), BAD_DATA);
      // A legitimate U+FFFD in valid UTF-8 is applied as usual (read again, found fine).
      await redis.xadd(
        config.eventStream,
        "*",
        "data",
        '{"event_type":"paycore.payment_succeeded","trace_id":"evt_fffd","tenant_id":"t1","user_id":"u\uFFFD","metadata":{"course_id":"c1"}}',
      );
      await waitUntilDrained(redis, config);
      expect(await countRows(worker.database, "SELECT count(*) FROM course_enrollments")).toBe(1);
    } finally {
      await worker.stop();
    }
    const [letter] = await readDeadLetters(redis, config);
    expect(letter).toMatchObject({ reason: "invalid_json", original_encoding: "base64" });
    expect(letter?.detail).toContain("data is not valid UTF-8");
    const original = JSON.parse(String(letter?.original)) as string[];
    expect(Buffer.from(original[1] as string, "base64").equals(BAD_DATA)).toBe(true);

    const store = new DeadLetterStore(redis, config.eventStream);
    const result = await store.replay([String(letter?.id)]);
    expect(result.failed).toBeUndefined();
    const [id] = result.replayed.map((r) => r.newId);
    const [entry] = (await redis.xrangeBuffer(config.eventStream, String(id), String(id))) as [
      Buffer,
      Buffer[],
    ][];
    expect(entry?.[1][1]?.equals(BAD_DATA)).toBe(true);
    expect(await redis.xlen(deadLetterStreamName(config.eventStream))).toBe(0);
  });

  test("flat form: a field that is not UTF-8 is an invalid_event naming the field", async () => {
    const config = testConfig();
    const worker = await startTestWorker(config);
    try {
      await redis.xadd(
        config.eventStream,
        "*",
        "event_type",
        "paycore.payment_succeeded",
        "trace_id",
        "evt_flat_bytes",
        "tenant_id",
        "t1",
        "user_id",
        Buffer.from([0x75, 0xc3]), // "u" and a lone lead byte
        "metadata",
        '{"course_id":"c1"}',
      );
      await waitUntilDrained(redis, config);
    } finally {
      await worker.stop();
    }
    const [letter] = await readDeadLetters(redis, config);
    expect(letter).toMatchObject({ reason: "invalid_event", original_encoding: "base64" });
    expect(letter?.detail).toContain("field user_id is not valid UTF-8");
  });

  test("signed: the HMAC is checked over the bytes as received, before their encoding", async () => {
    const secret = "k1";
    const config = testConfig({ PAYCORE_SIGNING_SECRET: secret });
    const worker = await startTestWorker(config);
    try {
      const good = createHmac("sha256", secret).update(BAD_DATA).digest("hex");
      const forged = createHmac("sha256", "other").update(BAD_DATA).digest("hex");
      await redis.xadd(config.eventStream, "*", Buffer.from("data"), BAD_DATA, "signature", good);
      await redis.xadd(config.eventStream, "*", Buffer.from("data"), BAD_DATA, "signature", forged);
      await waitUntilDrained(redis, config);
    } finally {
      await worker.stop();
    }
    const reasons = (await readDeadLetters(redis, config)).map((letter) => letter.reason);
    // Signed by PayCore, then found not to be UTF-8; the other one was never signed by PayCore.
    expect(reasons).toEqual(["invalid_json", "unauthenticated"]);
  });
});
