import { afterAll, describe, expect, test } from "bun:test";
import { decodeEntry } from "../../src/contract/decode.ts";
import { encodeDataForm } from "../../src/contract/wire-format.ts";
import type { Database } from "../../src/db/database.ts";
import { courseEnrollments } from "../../src/db/schema.ts";
import { type BatchEntry, Dispatcher } from "../../src/dispatch/dispatcher.ts";
import { PermanentError } from "../../src/dispatch/permanent-error.ts";
import { SubscriberRegistry } from "../../src/dispatch/registry.ts";
import type { Subscriber } from "../../src/dispatch/subscriber.ts";
import { silentLogger } from "../../src/observe/logger.ts";
import { openStore } from "../../src/worker.ts";
import { paymentEnvelope, testConfig } from "../support/worker-harness.ts";

const databases: Database[] = [];
afterAll(() => {
  for (const database of databases) database.close();
});

async function freshDatabase(): Promise<Database> {
  const database = await openStore(testConfig(), silentLogger());
  databases.push(database);
  return database;
}

function entry(id: string, traceId: string, userId = "u1"): BatchEntry {
  const fields = encodeDataForm(paymentEnvelope({ trace_id: traceId, user_id: userId }));
  return { id, fields, decoded: decodeEntry(fields, { maxEventBytes: 65536 }) };
}

/** Grants like the real subscriber, but throws for the trace_ids it is told to. */
function flakySubscriber(failFor: Map<string, Error>, calls: number[]): Subscriber {
  return {
    name: "flaky_subscriber",
    eventTypes: ["paycore.payment_succeeded"],
    async handle(events, tx, context) {
      calls.push(events.length);
      for (const { event } of events) {
        const error = failFor.get(event.trace_id);
        if (error) throw error;
      }
      await tx.insert(courseEnrollments).values(
        events.map(({ event }) => ({
          tenantId: event.tenant_id,
          userId: event.user_id,
          actorId: `${event.tenant_id}:${event.user_id}`,
          courseId: "c1",
          traceId: event.trace_id,
          grantedAt: context.now,
        })),
      );
    },
  };
}

async function count(database: Database, table: string): Promise<number> {
  const result = await database.client.execute(`SELECT count(*) AS n FROM ${table}`);
  return Number(result.rows[0]?.n);
}

describe("Dispatcher", () => {
  test("a failing batch is re-run one event at a time; only the event at fault fails", async () => {
    const database = await freshDatabase();
    const calls: number[] = [];
    const failFor = new Map([["evt_b", new Error("boom")]]);
    const registry = new SubscriberRegistry().register(flakySubscriber(failFor, calls));
    const dispatcher = new Dispatcher(registry, database, silentLogger());
    const results = await dispatcher.dispatch([
      entry("1-0", "evt_a", "u1"),
      entry("2-0", "evt_b", "u2"),
      entry("3-0", "evt_c", "u3"),
    ]);
    expect(calls).toEqual([3, 1, 1, 1]);
    expect(results.map((r) => r.disposition.kind)).toEqual(["ack", "retry", "ack"]);
    expect(results[1]?.outcomes).toEqual([{ subscriber: "flaky_subscriber", outcome: "failed" }]);
    // The failed event's claim was rolled back with its savepoint: a retry can claim it.
    expect(await count(database, "processed_events")).toBe(2);
    expect(await count(database, "course_enrollments")).toBe(2);
  });

  test("a PermanentError dead-letters that event alone with reason permanent_error", async () => {
    const database = await freshDatabase();
    const failFor = new Map([["evt_bad", new PermanentError("course does not exist")]]);
    const registry = new SubscriberRegistry().register(flakySubscriber(failFor, []));
    const dispatcher = new Dispatcher(registry, database, silentLogger());
    const results = await dispatcher.dispatch([
      entry("1-0", "evt_ok"),
      entry("2-0", "evt_bad", "u2"),
    ]);
    expect(results[0]?.disposition).toEqual({ kind: "ack" });
    expect(results[1]?.disposition).toEqual({
      kind: "dead_letter",
      reason: "permanent_error",
      subscriber: "flaky_subscriber",
      detail: "course does not exist",
    });
  });

  test("a database failure aborts the whole batch and commits nothing", async () => {
    const database = await freshDatabase();
    const registry = new SubscriberRegistry().register(flakySubscriber(new Map(), []));
    const dispatcher = new Dispatcher(registry, database, silentLogger());
    await database.client.execute("DROP TABLE processed_events");
    await expect(dispatcher.dispatch([entry("1-0", "evt_a")])).rejects.toThrow();
    expect(await count(database, "course_enrollments")).toBe(0);
  });

  test("several subscribers of one type each get the event, each with its own guard row", async () => {
    const database = await freshDatabase();
    const seen: string[] = [];
    const recorder = (name: string): Subscriber => ({
      name,
      eventTypes: ["paycore.payment_succeeded"],
      async handle(events) {
        for (const { event } of events) seen.push(`${name}:${event.trace_id}`);
      },
    });
    const registry = new SubscriberRegistry().register(recorder("one")).register(recorder("two"));
    const dispatcher = new Dispatcher(registry, database, silentLogger());
    const first = await dispatcher.dispatch([entry("1-0", "evt_a")]);
    const again = await dispatcher.dispatch([entry("2-0", "evt_a")]);
    expect(seen).toEqual(["one:evt_a", "two:evt_a"]);
    expect(first[0]?.outcomes.map((o) => o.outcome)).toEqual(["applied", "applied"]);
    expect(again[0]?.outcomes.map((o) => o.outcome)).toEqual(["duplicate", "duplicate"]);
    expect(await count(database, "processed_events")).toBe(2);
  });

  test("afterCommit callbacks of a rolled-back savepoint never run", async () => {
    const database = await freshDatabase();
    const announced: string[] = [];
    const subscriber: Subscriber = {
      name: "announcer",
      eventTypes: ["paycore.payment_succeeded"],
      async handle(events, _tx, context) {
        for (const { event } of events) context.afterCommit(() => announced.push(event.trace_id));
        if (events.some(({ event }) => event.trace_id === "evt_bad")) throw new Error("boom");
      },
    };
    const dispatcher = new Dispatcher(
      new SubscriberRegistry().register(subscriber),
      database,
      silentLogger(),
    );
    await dispatcher.dispatch([entry("1-0", "evt_ok"), entry("2-0", "evt_bad", "u2")]);
    expect(announced).toEqual(["evt_ok"]);
  });
});
