import { afterAll, afterEach, describe, expect, test } from "bun:test";
import type { Config } from "../../src/config/config.ts";
import { decodeEntry } from "../../src/contract/decode.ts";
import { encodeDataForm } from "../../src/contract/wire-format.ts";
import { Dispatcher } from "../../src/dispatch/dispatcher.ts";
import { SubscriberRegistry } from "../../src/dispatch/registry.ts";
import { silentLogger } from "../../src/observe/logger.ts";
import { EventConsumer } from "../../src/stream/consumer.ts";
import { DeadLetterWriter, deadLetterStreamName } from "../../src/stream/dead-letters.ts";
import { StreamReader } from "../../src/stream/stream-reader.ts";
import { buildRegistry, openStore, type StartedWorker as Worker } from "../../src/worker.ts";
import {
  DATABASE_BACKENDS,
  type DatabaseBackend,
  stopDatabaseServers,
} from "../support/database-backend.ts";
import { README_FLAT_ENTRY } from "../support/wire-examples.ts";
import {
  countRows,
  killSpawnedWorkers,
  openTestDatabase,
  paymentEnvelope,
  publishFields,
  publishPayment,
  readDeadLetters,
  spawnWorker,
  startTestWorker,
  streamState,
  testConfig,
  testRedis,
  waitFor,
  waitUntilDrained,
} from "../support/worker-harness.ts";

const redis = testRedis();
const running: Worker[] = [];

async function start(config: Config): Promise<Worker> {
  const worker = await startTestWorker(config);
  running.push(worker);
  return worker;
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((worker) => worker.stop()));
});
afterAll(async () => {
  killSpawnedWorkers();
  redis.disconnect();
  await stopDatabaseServers();
});

const ENROLLMENTS = "SELECT count(*) FROM course_enrollments";
const PROCESSED =
  "SELECT count(*) FROM processed_events WHERE subscriber_name = 'course_payment_subscriber'";

/**
 * The core scenarios, on a local file and on a remote database over HTTP (the Hrana test
 * server): one suite, run once per backend.
 */
describe.each(DATABASE_BACKENDS.map((backend) => [backend.name, backend] as const))(
  "on a %s database",
  (_name: string, backend: DatabaseBackend) => {
    /** A test's own configuration on a fresh database of this backend. */
    const newConfig = async (env: Record<string, string> = {}) =>
      testConfig({ ...(await backend.newDatabase()), ...env });

    describe("consumer", () => {
      test("a payment in wire form 'data' grants the course once and is ACKed", async () => {
        const config = await newConfig();
        const worker = await start(config);
        await publishPayment(redis, config.eventStream, {
          trace_id: "evt_data_1",
          tenant_id: "test_tenant",
          user_id: "test_user",
          course_id: "course_001",
          language: "de",
        });
        await waitUntilDrained(redis, config);
        const rows = await worker.database.client.execute(
          "SELECT * FROM course_enrollments WHERE actor_id LIKE 'test_tenant%'",
        );
        expect(rows.rows).toHaveLength(1);
        expect(rows.rows[0]).toMatchObject({
          tenant_id: "test_tenant",
          user_id: "test_user",
          actor_id: "test_tenant:test_user",
          course_id: "course_001",
          language: "de",
          status: "active",
          trace_id: "evt_data_1",
        });
        const processed = await worker.database.client.execute(
          "SELECT * FROM processed_events WHERE subscriber_name = 'course_payment_subscriber'",
        );
        expect(processed.rows).toHaveLength(1);
        expect(processed.rows[0]).toMatchObject({
          trace_id: "evt_data_1",
          event_type: "paycore.payment_succeeded",
          outcome: "applied",
        });
        expect(String(processed.rows[0]?.payload_hash)).toMatch(/^[0-9a-f]{64}$/);
        expect(Number(processed.rows[0]?.processed_at)).toBeGreaterThan(1_600_000_000_000);
        expect(worker.consumer?.counts.applied).toBe(1);
      });

      test("the flat wire form from redis-cli grants a course", async () => {
        const config = await newConfig();
        const worker = await start(config);
        const entryId = await publishFields(redis, config.eventStream, [...README_FLAT_ENTRY]);
        await waitUntilDrained(redis, config);
        const rows = await worker.database.client.execute("SELECT * FROM course_enrollments");
        expect(rows.rows).toHaveLength(1);
        expect(rows.rows[0]).toMatchObject({
          actor_id: "t1:u1",
          course_id: "c1",
          trace_id: "evt_1",
        });
        const processed = await worker.database.client.execute(
          "SELECT stream_entry_id FROM processed_events",
        );
        expect(processed.rows[0]?.stream_entry_id).toBe(entryId);
      });

      test("the same trace_id three times gives 1 enrollment, 1 processed row, 0 pending", async () => {
        const config = await newConfig();
        const worker = await start(config);
        for (let i = 0; i < 3; i++) {
          await publishPayment(redis, config.eventStream, { trace_id: "evt_replayed" });
          await waitUntilDrained(redis, config); // separate batches: a replay across batches
        }
        expect(await countRows(worker.database, ENROLLMENTS)).toBe(1);
        expect(await countRows(worker.database, PROCESSED)).toBe(1);
        expect((await streamState(redis, config)).pending).toBe(0);
        expect(worker.consumer?.counts).toMatchObject({ applied: 1, duplicate: 2 });
      });

      test("the same trace_id twice inside one batch is applied once", async () => {
        const config = await newConfig();
        // Published before the worker starts, so one read takes all three.
        await publishPayment(redis, config.eventStream, { trace_id: "evt_twice" });
        await publishPayment(redis, config.eventStream, { trace_id: "evt_twice" });
        await publishPayment(redis, config.eventStream, { trace_id: "evt_other", user_id: "u2" });
        const worker = await start(config);
        await waitUntilDrained(redis, config);
        expect(await countRows(worker.database, ENROLLMENTS)).toBe(2);
        expect(await countRows(worker.database, PROCESSED)).toBe(2);
        expect(worker.consumer?.counts).toMatchObject({ applied: 2, duplicate: 1 });
      });

      test("two payments for one course leave one enrollment", async () => {
        const config = await newConfig();
        const worker = await start(config);
        await publishPayment(redis, config.eventStream, { trace_id: "evt_pay_1" });
        await publishPayment(redis, config.eventStream, { trace_id: "evt_pay_2" });
        await waitUntilDrained(redis, config);
        expect(await countRows(worker.database, ENROLLMENTS)).toBe(1);
        expect(await countRows(worker.database, PROCESSED)).toBe(2);
        const row = await worker.database.client.execute("SELECT trace_id FROM course_enrollments");
        expect(row.rows[0]?.trace_id).toBe("evt_pay_1");
      });

      test("a crash after commit and before ACK: the restarted consumer skips the entry and ACKs it", async () => {
        const config = await newConfig();
        await publishPayment(redis, config.eventStream, { trace_id: "evt_crash" });
        // The "crashed" run: read as the worker's consumer, commit, never ACK.
        const database = await openStore(config, silentLogger());
        await redis.xgroup("CREATE", config.eventStream, config.consumerGroup, "0", "MKSTREAM");
        const reader = new StreamReader(redis, redis, {
          stream: config.eventStream,
          group: config.consumerGroup,
          consumer: config.consumerName,
          maxEventBytes: config.maxEventBytes,
        });
        const entries = await reader.readNew(10, 10);
        expect(entries).toHaveLength(1);
        const dispatcher = new Dispatcher(buildRegistry(silentLogger()), database, silentLogger());
        const results = await dispatcher.dispatch(
          entries.map((entry) => ({
            id: entry.id,
            fields: entry.fields ?? [],
            decoded: decodeEntry(entry.fields ?? [], { maxEventBytes: 65536 }),
          })),
        );
        expect(results[0]?.outcomes).toEqual([
          { subscriber: "course_payment_subscriber", outcome: "applied" },
        ]);
        database.close();
        expect((await streamState(redis, config)).pending).toBe(1);

        // The restart under the same consumer name finds its own pending entry first.
        const worker = await start(config);
        await waitUntilDrained(redis, config);
        expect(await countRows(worker.database, ENROLLMENTS)).toBe(1);
        expect(await countRows(worker.database, PROCESSED)).toBe(1);
        expect(worker.consumer?.counts).toMatchObject({ applied: 0, duplicate: 1 });
      });

      test("bad events go to the dead-letter stream with their reason and the next good event is applied", async () => {
        const config = await newConfig();
        const worker = await start(config);
        const badJson = await publishFields(redis, config.eventStream, ["data", "{not json"]);
        const missingTenant = await publishFields(redis, config.eventStream, [
          "data",
          JSON.stringify({
            event_type: "paycore.payment_succeeded",
            trace_id: "evt_bad",
            user_id: "u1",
            metadata: { course_id: "c1" },
          }),
        ]);
        const badId = await publishFields(redis, config.eventStream, [
          "event_type",
          "paycore.payment_succeeded",
          "trace_id",
          "evt bad",
          "tenant_id",
          "t1",
          "user_id",
          "u1",
          "metadata",
          '{"course_id":"c1"}',
        ]);
        await publishPayment(redis, config.eventStream, { trace_id: "evt_good_after_bad" });
        await waitUntilDrained(redis, config);

        const letters = await readDeadLetters(redis, config);
        expect(letters.map((letter) => [letter.original_id, letter.reason])).toEqual([
          [badJson, "invalid_json"],
          [missingTenant, "invalid_event"],
          [badId, "invalid_event"],
        ]);
        expect(letters[1]?.detail).toContain("tenant_id");
        expect(letters[2]?.detail).toContain("trace_id");
        expect(JSON.parse(letters[0]?.original ?? "null")).toEqual(["data", "{not json"]);
        expect(letters[0]).toMatchObject({ attempts: "1" });
        expect(Date.parse(letters[0]?.failed_at ?? "")).not.toBeNaN();
        expect(await countRows(worker.database, ENROLLMENTS)).toBe(1);
        expect(worker.consumer?.counts).toMatchObject({ invalid: 3, applied: 1 });
      });

      test("an event type with no subscriber is ACKed and counted as ignored", async () => {
        const config = await newConfig();
        const worker = await start(config);
        await publishFields(redis, config.eventStream, [
          "data",
          JSON.stringify({
            event_type: "paycore.refund_issued",
            trace_id: "evt_refund",
            tenant_id: "t1",
            user_id: "u1",
            metadata: { amount: 10 },
          }),
        ]);
        await waitUntilDrained(redis, config);
        expect(worker.consumer?.counts.ignored).toBe(1);
        expect((await streamState(redis, config)).deadLetters).toBe(0);
        expect(await countRows(worker.database, PROCESSED)).toBe(0);
      });

      test("events published before the first start are not missed (group starts at 0)", async () => {
        const config = await newConfig();
        await publishPayment(redis, config.eventStream, { trace_id: "evt_early" });
        const worker = await start(config);
        await waitUntilDrained(redis, config);
        expect(await countRows(worker.database, ENROLLMENTS)).toBe(1);
      });

      test("the same trace_id with a different payload is a conflict: dead-lettered, not applied", async () => {
        const config = await newConfig();
        const worker = await start(config);
        await publishPayment(redis, config.eventStream, { trace_id: "evt_same", course_id: "c1" });
        await waitUntilDrained(redis, config);
        await publishPayment(redis, config.eventStream, { trace_id: "evt_same", course_id: "c2" });
        await waitUntilDrained(redis, config);
        const rows = await worker.database.client.execute(
          "SELECT course_id FROM course_enrollments",
        );
        expect(rows.rows.map((row) => row.course_id)).toEqual(["c1"]);
        const letters = await readDeadLetters(redis, config);
        expect(letters).toHaveLength(1);
        expect(letters[0]).toMatchObject({
          reason: "conflict",
          subscriber: "course_payment_subscriber",
        });
      });

      test("stop finishes the batch in hand and leaves nothing pending", async () => {
        const config = await newConfig({ BATCH_SIZE: "50" });
        for (let i = 0; i < 200; i++) {
          await publishPayment(redis, config.eventStream, {
            trace_id: `evt_stop_${i}`,
            user_id: `u${i}`,
          });
        }
        const worker = await startTestWorker(config);
        await waitFor(
          "some events to be applied",
          async () => (worker.consumer?.counts.applied ?? 0) > 0,
        );
        await worker.stop();
        const database = await openTestDatabase(config);
        const applied = await countRows(database, PROCESSED);
        database.close();
        const state = await streamState(redis, config);
        expect(state.pending).toBe(0);
        expect(applied).toBe(worker.consumer?.counts.applied ?? -1);
      });

      test("three worker processes in one group on one database apply every payment exactly once", async () => {
        const config = await newConfig({ BATCH_SIZE: "20" });
        const database = await openStore(config, silentLogger()); // migrated before they start
        // Processes, not workers in this process: the local driver waits for the write lock
        // synchronously, so two workers in one process on one file would block each other.
        const workers = ["w1", "w2", "w3"].map((name) =>
          spawnWorker(
            { ...config, consumerName: name },
            { BATCH_SIZE: "20", DATABASE_AUTH_TOKEN: config.databaseAuthToken ?? "" },
          ),
        );
        // All three consuming before the first entry, or one may drain everything alone.
        await waitFor(
          "the three workers to join the group",
          async () => {
            for (const { child, output } of workers) {
              if (child.exitCode !== null) throw new Error(`a worker exited: ${output()}`);
            }
            const rows = (await redis
              .xinfo("CONSUMERS", config.eventStream, config.consumerGroup)
              .catch(() => [])) as unknown[];
            return rows.length === 3;
          },
          30_000,
        );
        const pipeline = redis.pipeline();
        for (let i = 0; i < 300; i++) {
          // Every tenth payment is published twice: a replay another worker may be handed.
          const copies = i % 10 === 0 ? 2 : 1;
          for (let copy = 0; copy < copies; copy++) {
            pipeline.xadd(
              config.eventStream,
              "*",
              ...encodeDataForm(paymentEnvelope({ trace_id: `evt_many_${i}`, user_id: `u${i}` })),
            );
          }
        }
        await pipeline.exec();
        try {
          await waitFor(
            "300 payments applied and nothing pending",
            async () =>
              (await countRows(database, PROCESSED)) === 300 &&
              (await streamState(redis, config)).pending === 0,
            30_000,
          );
          for (const { child } of workers) child.kill("SIGTERM");
          const codes = await Promise.all(workers.map(({ child }) => child.exited));
          expect(codes).toEqual([0, 0, 0]);
          expect(await countRows(database, ENROLLMENTS)).toBe(300);
          expect(await countRows(database, PROCESSED)).toBe(300);
          expect(await streamState(redis, config)).toMatchObject({
            pending: 0,
            lag: 0,
            deadLetters: 0,
          });
          const consumers = (await redis.xinfo(
            "CONSUMERS",
            config.eventStream,
            config.consumerGroup,
          )) as unknown[];
          expect(consumers.length).toBeLessThanOrEqual(3);
        } finally {
          database.close();
        }
      }, 60_000);
    });

    describe("poison events", () => {
      test("an event failing on its own is retried, then dead-lettered with max_deliveries; others flow", async () => {
        const config = await newConfig({ MAX_DELIVERIES: "3" });
        const database = await openStore(config, silentLogger());
        await redis.xgroup("CREATE", config.eventStream, config.consumerGroup, "0", "MKSTREAM");
        let poisonAttempts = 0;
        const registry = new SubscriberRegistry().register({
          name: "picky_subscriber",
          eventTypes: ["paycore.payment_succeeded"],
          async handle(events) {
            for (const { event } of events) {
              if (event.trace_id !== "evt_poison") continue;
              if (events.length === 1) poisonAttempts++; // counts the attempts on it alone
              throw new Error("the course service is confused");
            }
          },
        });
        const consumer = new EventConsumer({
          reader: new StreamReader(testRedis(), redis, {
            stream: config.eventStream,
            group: config.consumerGroup,
            consumer: "c1",
            maxEventBytes: config.maxEventBytes,
          }),
          deadLetters: new DeadLetterWriter(redis, deadLetterStreamName(config.eventStream)),
          dispatcher: new Dispatcher(registry, database, silentLogger()),
          logger: silentLogger(),
          options: { ...config, rejectSimulated: false },
          recreateGroup: async () => {},
        });
        await publishPayment(redis, config.eventStream, { trace_id: "evt_poison" });
        await publishPayment(redis, config.eventStream, { trace_id: "evt_fine", user_id: "u2" });
        consumer.start();
        try {
          await waitUntilDrained(redis, config);
        } finally {
          await consumer.stop();
          database.close();
        }
        expect(poisonAttempts).toBe(3);
        expect(consumer.counts.applied).toBe(1);
        const letters = await readDeadLetters(redis, config);
        expect(letters).toHaveLength(1);
        expect(letters[0]).toMatchObject({
          reason: "max_deliveries",
          attempts: "3",
          subscriber: "picky_subscriber",
          trace_id: "evt_poison",
        });
        expect(letters[0]?.detail).toContain("the course service is confused");
      });
    });
  },
);

describe("settling a batch", () => {
  test("a dead letter Redis refuses (WRONGTYPE) holds back only its own entry: the committed one is ACKed, later ones flow", async () => {
    const config = testConfig();
    // The dead-letter key holds a string: XADD to it fails with WRONGTYPE, whatever the retries.
    await redis.set(deadLetterStreamName(config.eventStream), "not a stream");
    const worker = await start(config);
    await publishPayment(redis, config.eventStream, { trace_id: "evt_ok_beside_bad" });
    const badId = await publishFields(redis, config.eventStream, ["data", "{broken"]);
    const pendingIds = async () =>
      (
        (await redis.xpending(config.eventStream, config.consumerGroup, "-", "+", 10)) as [string][]
      ).map(([id]) => id);
    await waitFor("the committed entry to be ACKed", async () => {
      const ids = await pendingIds();
      return ids.length === 1 && ids[0] === badId;
    });
    // The loop moves on: a payment published now is applied while the dead letter waits.
    await publishPayment(redis, config.eventStream, { trace_id: "evt_after_bad", user_id: "u9" });
    await waitFor(
      "the later payment to be applied",
      async () => (await countRows(worker.database, ENROLLMENTS)) === 2,
    );
    expect(await pendingIds()).toEqual([badId]);
    // Once the dead letter can be written, it is, once, and its entry is ACKed.
    await redis.del(deadLetterStreamName(config.eventStream));
    await waitUntilDrained(redis, config);
    expect(await countRows(worker.database, ENROLLMENTS)).toBe(2);
    expect(await readDeadLetters(redis, config)).toHaveLength(1);
  });
});
