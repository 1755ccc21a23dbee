import { afterAll, describe, expect, test } from "bun:test";
import { deadLetterStreamName } from "../../src/stream/dead-letters.ts";
import { trimBelow, trimStreamOnce } from "../../src/stream/stream-retention.ts";
import { uniqueName } from "../support/fixtures.ts";
import { startTestWorker, testConfig, testRedis, waitFor } from "../support/worker-harness.ts";

const redis = testRedis();
afterAll(() => redis.disconnect());

const HOUR_MS = 3_600_000;

type Reply = [string, [string, string[] | null][]][] | null;

/** Reads for `group` as consumer "c": new entries with ">", its own pending ones with "0". */
async function read(stream: string, group: string, from: ">" | "0", count = 1000) {
  const reply = (await redis.xreadgroup(
    "GROUP",
    group,
    "c",
    "COUNT",
    count,
    "STREAMS",
    stream,
    from,
  )) as Reply;
  return reply?.[0]?.[1] ?? [];
}

/**
 * Ten entries from 1970 (far older than any retention) then two written now; group "fast" reads
 * and acknowledges everything; group "slow" reads the first six and acknowledges three.
 */
async function seed() {
  const stream = uniqueName("retention");
  const oldIds: string[] = [];
  for (let i = 1; i <= 10; i++) {
    oldIds.push((await redis.xadd(stream, `1000-${i}`, "n", String(i))) as string);
  }
  const recentIds = [
    (await redis.xadd(stream, "*", "n", "11")) as string,
    (await redis.xadd(stream, "*", "n", "12")) as string,
  ];
  await redis.xgroup("CREATE", stream, "fast", "0");
  await redis.xgroup("CREATE", stream, "slow", "0");
  const fast = await read(stream, "fast", ">");
  await redis.xack(stream, "fast", ...fast.map(([id]) => id));
  const slow = await read(stream, "slow", ">", 6);
  await redis.xack(stream, "slow", ...slow.slice(0, 3).map(([id]) => id));
  return { stream, oldIds, recentIds };
}

describe("stream retention", () => {
  test("a lagging group loses nothing: only entries both groups acknowledged are trimmed", async () => {
    const { stream, oldIds } = await seed();

    const result = await trimStreamOnce(redis, stream, HOUR_MS);

    // The slow group's oldest pending entry (the 4th) is the MINID: entries 1–3 go.
    expect(result).toEqual({ minId: oldIds[3] as string, trimmed: 3, skipped: false });
    expect(await redis.xlen(stream)).toBe(9);
    const pending = await read(stream, "slow", "0");
    expect(pending.map(([id]) => id)).toEqual(oldIds.slice(3, 6));
    expect(pending.map(([, fields]) => fields)).toEqual([
      ["n", "4"],
      ["n", "5"],
      ["n", "6"],
    ]);
    const unread = await read(stream, "slow", ">");
    expect(unread.map(([, fields]) => fields?.[1])).toEqual(["7", "8", "9", "10", "11", "12"]);
  });

  test("once every group has acknowledged, entries older than the retention go and newer ones stay", async () => {
    const { stream, recentIds } = await seed();
    const rest = await read(stream, "slow", ">");
    const pending = await read(stream, "slow", "0");
    await redis.xack(stream, "slow", ...[...pending, ...rest].map(([id]) => id));

    const result = await trimStreamOnce(redis, stream, HOUR_MS);

    expect(result.trimmed).toBe(10);
    expect((await redis.xrange(stream, "-", "+")).map(([id]) => id)).toEqual(recentIds);
    expect(await trimStreamOnce(redis, stream, HOUR_MS)).toMatchObject({ trimmed: 0 });
  });

  test("the dead-letter stream is never trimmed", async () => {
    const { stream } = await seed();
    const deadLetters = deadLetterStreamName(stream);
    await redis.xadd(deadLetters, "1000-1", "reason", "invalid_json");
    await redis.xadd(deadLetters, "1000-2", "reason", "invalid_event");
    await read(stream, "slow", ">");
    await redis.xack(stream, "slow", ...(await read(stream, "slow", "0")).map(([id]) => id));

    expect((await trimStreamOnce(redis, stream, HOUR_MS)).trimmed).toBe(10);
    expect(await redis.xlen(deadLetters)).toBe(2);
  });

  test("a group created after the positions were read stops the trim", async () => {
    const { stream, oldIds } = await seed();
    // A MINID computed before "late" existed: trimming below it would take entries from "late".
    await redis.xgroup("CREATE", stream, "late", "0");
    expect(await trimBelow(redis, stream, oldIds[3] as string)).toEqual({
      minId: oldIds[3] as string,
      trimmed: 0,
      skipped: true,
    });
    expect(await redis.xlen(stream)).toBe(12);
  });

  test("a stream without groups, or without the stream at all, is left alone", async () => {
    const stream = uniqueName("retention");
    expect(await trimStreamOnce(redis, stream, HOUR_MS)).toEqual({
      minId: undefined,
      trimmed: 0,
      skipped: false,
    });
    await redis.xadd(stream, "1000-1", "n", "1");
    expect((await trimStreamOnce(redis, stream, HOUR_MS)).trimmed).toBe(0);
    expect(await redis.xlen(stream)).toBe(1);
  });

  test("serve with TRIM_STREAM=true trims what its group has acknowledged", async () => {
    const config = testConfig({ TRIM_STREAM: "true", STREAM_RETENTION_MS: "60000" });
    for (let i = 1; i <= 5; i++) await redis.xadd(config.eventStream, `1000-${i}`, "n", String(i));
    await redis.xgroup("CREATE", config.eventStream, config.consumerGroup, "0");
    const settled = await read(config.eventStream, config.consumerGroup, ">");
    await redis.xack(config.eventStream, config.consumerGroup, ...settled.map(([id]) => id));

    const worker = await startTestWorker(config);
    try {
      // MINID is at most the group's last-delivered-id, so that one entry stays.
      await waitFor("the first trim", async () => (await redis.xlen(config.eventStream)) === 1);
      expect((await redis.xrange(config.eventStream, "-", "+")).map(([id]) => id)).toEqual([
        "1000-5",
      ]);
    } finally {
      await worker.stop();
    }
  });
});
