/**
 * Lost replies between the compiled worker and Redis, under a steady load of 3,000 events (new
 * payments, replays, bad entries): the fault proxy cuts or swallows the reply of one command,
 * the one that read entries, claimed them, wrote a dead letter or ACKed. Each test bounds how
 * long the entries concerned take to be settled after the fault, and ends with the exact counts.
 * Plus an entry far over MAX_EVENT_BYTES against a Redis with `proto-max-bulk-len 1mb`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ensureBinaryBuilt } from "../support/binary.ts";
import {
  BLOCK_MS,
  FaultRun,
  failNextReply,
  isRead,
  isSettle,
  killFaultRunProcesses,
  RECONNECT_MS,
  REDIS_TIMEOUT_MS,
  SLACK_MS,
  settleAckIds,
  settleLetterIds,
  sha256OfFieldsWithNul,
} from "../support/fault-run.ts";
import { type RedisServer, startRedisOnFreePort, tempDir } from "../support/fixtures.ts";

let server: RedisServer;
let target: { host: string; port: number };

beforeAll(async () => {
  ensureBinaryBuilt();
  // A Redis of this file's own, configured as production ones often are.
  server = await startRedisOnFreePort(tempDir("redis"), ["--proto-max-bulk-len", "1mb"]);
  target = { host: "127.0.0.1", port: server.port };
}, 180_000);

afterAll(async () => {
  killFaultRunProcesses();
  await server?.stop();
});

/** A cut reply: the connection drops at once, and is back after one reconnect delay. */
const CUT_BOUND_MS = RECONNECT_MS + SLACK_MS;
const CUT_BOUND = "the reconnect delay (1 s) + 2 s";
/** A swallowed reply: found dead after BLOCK_MS + REDIS_TIMEOUT_MS at most (a read's budget). */
const SWALLOW_BOUND_MS = BLOCK_MS + REDIS_TIMEOUT_MS + SLACK_MS;
const SWALLOW_BOUND = "BLOCK_MS + REDIS_TIMEOUT_MS + 2 s";

function boundFor(action: string): number {
  return action === "swallow" ? SWALLOW_BOUND_MS : CUT_BOUND_MS;
}

const LOAD = { total: 3_000, perSecond: 1_000 };

async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function reprocessedPending(run: FaultRun, worker = 0): number {
  return (run.workers[worker]?.logs() ?? [])
    .filter((line) => line.msg === "Re-processing entries left pending")
    .reduce((sum, line) => sum + Number(line.entries), 0);
}

describe("a lost reply, compiled binary behind the fault proxy, under a steady load", () => {
  test.each([
    ["cut-after-start", CUT_BOUND],
    ["swallow", SWALLOW_BOUND],
  ] as const)(
    "a read reply is lost (%s): the entries it delivered are applied once, within %s of the loss",
    async (action, _bound) => {
      const run = await FaultRun.start({ redis: target });
      try {
        await run.startWorker();
        run.load.start(LOAD);
        await run.waitFor("the load to flow", () => run.processedCount() >= 300);
        const { fired } = failNextReply(run.proxy, isRead("new"), action);
        const burst = await run.load.burst(200);
        const { at } = await within(fired, 5_000, "a read after the burst");
        await run.recovery(`read reply lost (${action}): its entries`, at, boundFor(action), () => {
          return run.processedOf(burst) === burst.length;
        });
        await run.expectExactCounts();
        // The lost reply did deliver entries: the consumer found them in its own pending list.
        expect(reprocessedPending(run)).toBeGreaterThan(0);
      } finally {
        await run.close();
      }
    },
    30_000,
  );

  test(`an XAUTOCLAIM reply is lost (swallow): the claimed entries are applied within ${SWALLOW_BOUND} of the loss, not CLAIM_IDLE_MS (60 s) later`, async () => {
    const run = await FaultRun.start({ redis: target });
    try {
      // A dead worker's leftovers: 300 entries delivered to "victim", never ACKed, idle long ago.
      const left = await run.load.burst(300);
      await run.redis.xgroup("CREATE", run.stream, run.group, "0");
      const delivered = (await run.redis.xreadgroup(
        "GROUP",
        run.group,
        "victim",
        "COUNT",
        300,
        "STREAMS",
        run.stream,
        ">",
      )) as [string, [string, string[]][]][];
      const ids = delivered[0]?.[1].map(([id]) => id) ?? [];
      expect(ids).toHaveLength(300);
      await run.redis.xclaim(run.stream, run.group, "victim", 0, ...ids, "IDLE", 120_000, "JUSTID");

      const { fired } = failNextReply(run.proxy, isRead("claim"), "swallow");
      await run.startWorker({ CONSUMER_NAME: "rescuer", CLAIM_IDLE_MS: "60000" });
      run.load.start(LOAD);
      const { at } = await within(fired, 10_000, "the rescuer's first XAUTOCLAIM");
      // With the reply lost, the old design left them to the next XAUTOCLAIM pass once idle
      // CLAIM_IDLE_MS again (60 s); the rescuer re-reads its own pending entries instead.
      await run.recovery(
        "XAUTOCLAIM reply lost (swallow): the claimed entries",
        at,
        SWALLOW_BOUND_MS,
        () => run.processedOf(left) === left.length,
      );
      expect(reprocessedPending(run)).toBeGreaterThanOrEqual(300);
      await run.expectExactCounts();
      const consumers = (await run.redis.xinfo("CONSUMERS", run.stream, run.group)) as unknown[][];
      const victim = consumers.find((fields) => fields[1] === "victim");
      expect(victim?.[3]).toBe(0); // pending
    } finally {
      await run.close();
    }
  }, 30_000);

  test.each([
    ["cut-before", CUT_BOUND],
    ["cut-after-start", CUT_BOUND],
  ] as const)(
    "a dead-letter reply is lost (%s): the dead letter is written once, its entry ACKed, and a payment sent after it applied within %s",
    async (action, _bound) => {
      const run = await FaultRun.start({ redis: target });
      try {
        await run.startWorker();
        run.load.start(LOAD);
        await run.waitFor("the load to flow", () => run.processedCount() >= 300);
        const { fired } = failNextReply(
          run.proxy,
          (command) => isSettle(command) && settleLetterIds(command).length > 0,
          action,
        );
        await run.load.publishBad(["data", "{not json either"]);
        const { command, at } = await within(fired, 5_000, "a settle with dead letters");
        const letterIds = settleLetterIds(command);
        const marker = await run.load.marker();
        // Redis ran the script (only its reply was lost): the worker must settle again, find
        // nothing left to write, and go on.
        await run.recovery(
          `dead-letter reply lost (${action}): settled, and a payment sent after it applied`,
          at,
          boundFor(action),
          async () => run.caughtUpTo(marker) && (await run.noneOfPending(letterIds)),
        );
        await run.expectExactCounts();
        const letters = await run.deadLetters();
        for (const id of letterIds) {
          expect(letters.filter((letter) => letter.original_id === id)).toHaveLength(1);
        }
      } finally {
        await run.close();
      }
    },
    30_000,
  );

  test.each([
    ["cut-after-start", CUT_BOUND],
    ["swallow", SWALLOW_BOUND],
  ] as const)(
    "an XACK reply is lost (%s): the committed entries are ACKed, never applied twice, and a payment sent after it applied within %s",
    async (action, _bound) => {
      const run = await FaultRun.start({ redis: target });
      try {
        await run.startWorker();
        run.load.start(LOAD);
        await run.waitFor("the load to flow", () => run.processedCount() >= 300);
        const { fired } = failNextReply(
          run.proxy,
          (command) =>
            isSettle(command) &&
            settleLetterIds(command).length === 0 &&
            settleAckIds(command).length > 0,
          action,
        );
        const { command, at } = await within(fired, 5_000, "a settle with ACKs only");
        const ackIds = settleAckIds(command);
        const marker = await run.load.marker();
        await run.recovery(
          `XACK reply lost (${action}): settled, and a payment sent after it applied`,
          at,
          boundFor(action),
          async () => run.caughtUpTo(marker) && (await run.noneOfPending(ackIds)),
        );
        await run.expectExactCounts();
      } finally {
        await run.close();
      }
    },
    30_000,
  );

  test("an entry of 900 KB with control bytes, against proto-max-bulk-len 1mb: one too_large dead letter of a few KB within 2 s, the rest applied", async () => {
    const run = await FaultRun.start({ redis: target });
    try {
      await run.startWorker();
      run.load.start(LOAD);
      await run.waitFor("the load to flow", () => run.processedCount() >= 300);
      const chunk = 'ctl\u0000\u0001\u0007\u001b[31m\r\n"\\é€😀';
      const value = `{"event_type":"paycore.payment_succeeded","pad":"${chunk.repeat(Math.ceil(900_000 / Buffer.byteLength(chunk)))}"}`;
      const fields = ["data", value];
      const bytes = fields.reduce((sum, field) => sum + Buffer.byteLength(field), 0);
      expect(bytes).toBeGreaterThan(900_000);
      expect(bytes).toBeLessThan(1024 * 1024);
      const id = await run.load.publishBad(fields);
      const at = performance.now();
      await run.recovery(
        "900 KB entry: dead-lettered and ACKed",
        at,
        SLACK_MS,
        async () =>
          (await run.deadLetters()).some((letter) => letter.original_id === id) &&
          (await run.noneOfPending([id])),
      );
      await run.expectExactCounts();
      const letter = (await run.deadLetters()).find((l) => l.original_id === id);
      expect(letter?.reason).toBe("too_large");
      expect(letter?.original).toBeUndefined();
      expect(Number(letter?.original_bytes)).toBe(bytes);
      expect(letter?.original_sha256).toBe(sha256OfFieldsWithNul(fields));
      const prefix = JSON.parse(letter?.original_prefix ?? "[]") as string[];
      expect(prefix[0]).toBe("data");
      expect(value.startsWith((prefix[1] ?? "x").replace(/\uFFFD+$/, ""))).toBe(true);
      const size = Object.entries(letter ?? {}).reduce(
        (sum, [key, v]) => sum + Buffer.byteLength(key) + Buffer.byteLength(v),
        0,
      );
      expect(size).toBeLessThan(16 * 1024);
    } finally {
      await run.close();
    }
  }, 30_000);
});
